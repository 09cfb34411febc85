"""``NativeEngine``: the engine protocol over a native index folder."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from ...threads import use_numba_threads
from ..base import SearchResults, folder_bytes, queries_to_ids
from ..call_clock import ids_mapper, time_calls
from .build import build_native_index
from .layout import IndexArrays, load_arrays
from .lowlevel import simd_path, ticks_per_ns
from .search_kernels import batch_search, search_single
from ..checks import checked_search
from ..param_specs import NATIVE, NATIVE_K_DEFAULTS as K_DEFAULTS  # noqa: F401 - K_DEFAULTS: benchmarks, tests

# search parameters (Seismic's names) and their defaults; query_cut and heap_factor depend on k
# (param_specs.NATIVE_K_DEFAULTS, chosen by benchmarks/native_k_defaults.py; docs/native.md, "Defaults per k")
SEARCH_DEFAULTS = NATIVE.defaults("search")
BLOCK_ORDERS = NATIVE.param("search", "block_order").choices


def defaults_for_k(k: int) -> dict:
    """The default search parameters at k results per query."""
    return NATIVE.defaults("search", k)


def search_params(params: dict, k: int = 10) -> dict:
    """Validated search parameters, the defaults for ``k`` filled in."""
    return NATIVE.parse("search", params, k)


# the manifest key of an index's own search defaults per k (reports.index_defaults, 'lilsr index tune')
SEARCH_DEFAULTS_KEY = "search_defaults"


def check_index_defaults(manifest: dict, where) -> None:
    """Refuse a manifest whose ``search_defaults`` a search could not use (edited by hand, or damaged)."""
    record = manifest.get(SEARCH_DEFAULTS_KEY)
    if record is None:
        return
    fix = "re-run 'lilsr index tune ... --overwrite', or delete the key"
    entries = record.get("by_k") if isinstance(record, dict) else None
    if not isinstance(entries, list) or not entries:
        raise LilsrError(f"{where}: {SEARCH_DEFAULTS_KEY} holds no 'by_k' entries; {fix}")
    for entry in entries:
        k = entry.get("k") if isinstance(entry, dict) else None
        if not isinstance(k, int) or k < 1 or not isinstance(entry.get("params"), dict):
            raise LilsrError(f"{where}: {SEARCH_DEFAULTS_KEY} entry {entry!r} needs a k >= 1 and params; {fix}")
        try:
            search_params(entry["params"], k)
        except LilsrError as exc:
            raise LilsrError(f"{where}: {SEARCH_DEFAULTS_KEY} at k={k}: {exc}; {fix}") from None


def index_defaults(manifest: dict, k: int) -> tuple[dict, int | None]:
    """(the index's own defaults for ``k``, the tuned k they come from): the entry of the smallest tuned k at
    or above ``k``, else the largest tuned k; ({}, None) for an index never tuned."""
    entries = sorted((manifest.get(SEARCH_DEFAULTS_KEY) or {}).get("by_k", []), key=lambda e: e["k"])
    if not entries:
        return {}, None
    entry = next((e for e in entries if e["k"] >= k), entries[-1])
    return dict(entry["params"]), int(entry["k"])


class NativeEngine:
    """A Seismic-like approximate index: pruned posting lists cut into blocks with quantised summaries."""

    name = "native"
    query_input = "vector"
    param_spec = NATIVE
    tuning_grid = NATIVE.tuning_grid()
    tuning_bounds = NATIVE.tuning_bounds()

    def __init__(self, arrays: IndexArrays, manifest: dict, vocab: list[str], ids: list[str], path: Path | None):
        self.arrays = arrays
        self.manifest = manifest
        self.vocab = vocab
        self.ids = ids
        self.path = path
        self._token_ids = {token: i for i, token in enumerate(vocab)}
        blocks = np.diff(arrays.list_block_ptr)
        self._max_blocks = int(blocks.max()) if blocks.size else 0
        self._ticks_per_ns = None
        self._seen = self._q_dense = self._acc = self._heap = None
        self._stamp = 0
        self.simd = None  # whether the last search scored rows with AVX2 (the compiled kernel says)
        # static pruning kept every posting: the lists reach every match, so no query needs the forward scan
        counts = manifest.get("counts", {})
        self._lists_complete = bool(counts.get("postings", -1) == counts.get("nnz", -2))

    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, threads: int | None = None, progress: bool = True,
              **params) -> Path:
        """Write a native index folder from a vector store; ``params`` are ``BuildParams`` fields."""
        return build_native_index(source, out, overwrite=overwrite, threads=threads, progress=progress, **params)

    @classmethod
    def load(cls, path, verify: bool = False, in_memory: bool = False, **options) -> "NativeEngine":
        """Open an index folder, arrays memory-mapped (or read into memory with ``in_memory``: faster random
        reads on big indexes); ``verify`` re-checks every file's sha256."""
        if options:
            raise LilsrError(f"unknown native load option(s) {', '.join(sorted(options))}; known: verify, in_memory")
        arrays, manifest, vocab, ids = load_arrays(path, verify=verify, in_memory=in_memory)
        check_index_defaults(manifest, Path(path) / "manifest.json")
        return cls(arrays, manifest, vocab, ids, Path(path))

    def search_params(self, params: dict, k: int) -> dict:
        """Validated search parameters: those given, then this index's own defaults for ``k`` (chosen on
        tuning queries, ``lilsr index tune``), then the package's."""
        own, _ = index_defaults(self.manifest, k)
        return search_params({**own, **params}, k)

    def defaults_source(self, params: dict, k: int) -> str:
        """Where the parameters a search did not set came from (recorded in each run's info)."""
        own, tuned_k = index_defaults(self.manifest, k)
        if tuned_k is None or set(own) <= set(params):
            return "package (param_specs.NATIVE_K_DEFAULTS)"
        return f"index manifest (search_defaults chosen at k={tuned_k})"

    def _queries(self, queries: Sequence[dict]):
        mapped, unknown = queries_to_ids(queries, self._token_ids)
        q_ptr = np.zeros(len(mapped) + 1, np.int64)
        q_ptr[1:] = np.cumsum([ids.size for ids, _ in mapped])
        q_comp = np.empty(q_ptr[-1], np.int32)
        q_val = np.empty(q_ptr[-1], np.float32)
        for i, (ids, weights) in enumerate(mapped):
            order = np.argsort(ids, kind="stable")  # the kernel wants components ascending
            q_comp[q_ptr[i]:q_ptr[i + 1]] = ids[order]
            q_val[q_ptr[i]:q_ptr[i + 1]] = weights[order]
        return q_ptr, q_comp, q_val, unknown

    def search_arrays(self, q_ptr, q_comp, q_val, k: int = 1000, threads: int = 1, **params):
        """The kernel call: (doc indices [queries, k] padded with -1, scores, counts, retrieval ns). Whether
        the kernel scored rows with AVX2 is left in ``self.simd``."""
        if k < 1:
            raise LilsrError(f"k must be at least 1, got {k}")
        p = self.search_params(params, k)
        a = self.arrays
        k = min(k, max(a.n_docs, 1))
        threads = use_numba_threads(threads)
        n_queries = len(q_ptr) - 1
        n_chunks = 1 if threads == 1 else max(1, min(n_queries, 4 * threads))
        if self._ticks_per_ns is None:
            self._ticks_per_ns = ticks_per_ns()
        docs, scores, counts, ticks, self.simd = batch_search(
            q_ptr, q_comp, q_val, k, p["query_cut"], np.float32(p["heap_factor"]), p["sorted"],
            p["block_order"] == "global", p["prefetch"],
            n_chunks, max(self._max_blocks, 1), self._lists_complete, simd_path(), *a.kernel_args())
        retrieval_ns = np.rint(ticks / self._ticks_per_ns).astype(np.int64)
        return docs, scores, counts, retrieval_ns

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query. With one thread each query is one call into compiled code (``search_single``),
        timed on the call clock around query conversion, the search and the mapping to external ids, and on
        the engine clock inside the compiled code (time-stamp counter, calibrated against
        ``perf_counter_ns``). With several threads one parallel call searches all queries and each query's
        time is its own compute time on its thread (engine clock only)."""
        if len(qids) != len(queries):
            raise LilsrError(f"{len(qids)} query ids for {len(queries)} queries")
        if k < 1:
            raise LilsrError(f"k must be at least 1, got {k}")
        p = self.search_params(params, k)
        if self._ticks_per_ns is None:
            self._ticks_per_ns = ticks_per_ns()
        info = {"engine": self.name, "k": k, "threads": threads, **p, "defaults": self.defaults_source(params, k)}
        if threads > 1:
            q_ptr, q_comp, q_val, unknown = self._queries(queries)
            docs, scores, counts, retrieval_ns = self.search_arrays(q_ptr, q_comp, q_val, k=k, threads=threads, **p)
            ids = self.ids
            doc_ids = [[ids[d] for d in docs[i, :counts[i]]] for i in range(len(qids))]
            score_rows = [scores[i, :counts[i]].copy() for i in range(len(qids))]
            info["timing"] = "per query, its compute time inside the parallel compiled loop (engine clock)"
            info["simd"] = self.simd
            return SearchResults(list(qids), doc_ids, score_rows, retrieval_ns, unknown, info, engine_ns=retrieval_ns)
        return self._search_one_by_one(list(qids), queries, k, p, info)

    def _scratch(self, k: int):
        """Per-engine scratch arrays reused by every one-query call (zeroing a per-document array per query
        would cost more than the search on big indexes): seen-stamps, the dense query, heaps, summaries."""
        a = self.arrays
        k = min(k, max(a.n_docs, 1))
        if self._seen is None:
            self._seen = np.zeros(max(a.n_docs, 1), np.int32)
            self._q_dense = np.zeros(len(self.vocab), np.float32)
            blocks = max(self._max_blocks, 1)
            self._acc = (np.empty(blocks, np.float32), np.empty(blocks, np.float32), np.empty(blocks, np.float32))
        if self._heap is None or self._heap[0].size != k:
            self._heap = (np.empty(k, np.float32), np.empty(k, np.int32), np.empty(k, np.int32),
                          np.empty(k, np.float32))
        return k

    def _next_stamp(self) -> int:
        self._stamp += 1
        if self._stamp >= np.iinfo(np.int32).max:
            self._seen[:] = 0
            self._stamp = 1
        return self._stamp

    def _search_one_by_one(self, qids, queries, k, p, info) -> SearchResults:
        """One compiled call per query, on the shared call clock (``call_clock.time_calls``: query mapping
        and sorting, the search and the id mapping all inside it); the engine clock is the time-stamp
        counter inside the compiled search."""
        k = self._scratch(k)
        args = self.arrays.kernel_args()
        heap_s, heap_d, out_docs, out_scores = self._heap
        acc_code, acc_weight, summary = self._acc
        token_ids, ticks_per_ns = self._token_ids, self._ticks_per_ns
        query_cut, heap_factor, sorted_ = p["query_cut"], np.float32(p["heap_factor"]), p["sorted"]
        global_order, prefetch = p["block_order"] == "global", p["prefetch"]
        path = simd_path()
        used_simd = []

        def prepare(query):
            [(comp, val)], missing = queries_to_ids([query], token_ids)
            order = np.argsort(comp, kind="stable")  # the kernel wants components ascending
            return (comp[order], val[order]), missing

        def search(prepared):
            comp, val = prepared
            n, ticks, simd = search_single(comp, val, k, query_cut, heap_factor, sorted_, global_order, prefetch,
                                           self._lists_complete, path, *args,
                                           self._q_dense, self._seen, self._next_stamp(), heap_s, heap_d, acc_code,
                                           acc_weight, summary, out_docs, out_scores, None)
            used_simd.append(simd)
            return out_docs[:n], out_scores[:n].copy(), int(round(ticks / ticks_per_ns))

        info["timing"] = ("call clock per query (one compiled call each); engine clock: inside the compiled "
                          "search, time-stamp counter")
        results = time_calls(qids, queries, prepare, search, ids_mapper(self.ids), info)
        if used_simd:
            self.simd = results.info["simd"] = bool(used_simd[-1])
        return results

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the search kernel, so no timed query pays for it."""
        one = np.zeros(2, np.int64)
        self.search_arrays(one, np.zeros(0, np.int32), np.zeros(0, np.float32), k=1)
        self.batch_search(["warm-up"], [{}], k=1)

    def index_stats(self) -> dict:
        counts = dict(self.manifest.get("counts", {}))
        lengths = np.diff(self.arrays.block_ptr[self.arrays.list_block_ptr])
        live = lengths[lengths > 0]
        stats = {**counts, "terms": int(live.size), "mean_length": float(live.mean()) if live.size else 0.0,
                 "max_length": int(live.max()) if live.size else 0,
                 "build_seconds": self.manifest.get("build_seconds"), "params": self.manifest.get("params")}
        if self.path:
            stats["index_bytes"] = folder_bytes(self.path)
        return stats
