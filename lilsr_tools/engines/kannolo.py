"""kANNolo (the Seismic authors' graph indexes, the ``kannolo`` package) behind the engine protocol: a sparse
HNSW graph under the dot product.

Build parameters (kANNolo's names): ``m`` (neighbours per node), ``ef_construction`` (candidate list while
building), ``variant`` (how the documents' weights are stored: ``plain``, kANNolo's blocked encoder of
half-precision floats; ``u16``/``u8``, fixed point; ``packing8``, kANNolo's packed 8-bit encoder) and
``graph_type`` (``standard``; ``permuted`` reorders nodes for locality; ``compressed`` also compresses the
graph; all give the same results). Search: ``ef_search`` (candidate list; kANNolo uses at least k) and
``early_exit_threshold`` (off by default).

Fixed-point variants clip large weights silently (measured on 0.15.1: ``u8`` keeps 6 fractional bits and
saturates at 3.98, ``u16`` 13 bits and saturates at 8.0); a store with larger weights is refused for them.
A query vector stays float. Results holding no positive score (kANNolo pads with filler ids) are dropped.

The index folder holds kANNolo's own file, the vocabulary and the document ids (kANNolo numbers documents
0..n-1 in store order). Timing: with one thread, ``retrieval_ns`` is the call clock around each ``search``
call (one query, including its conversion to kANNolo's arrays and of the results back); with more, one
``batch_search`` call whose wall time x threads / queries is given to every query. kANNolo exposes no
internal time (``engine_ns`` is None).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..locks import locks_output
from ..atomic import atomic_dir, check_can_write
from ..errors import LilsrError
from ..manifest import write_manifest
from ..vectors.store import vocab_digest
from .base import (F16_MAX, SearchResults, check_finite_scores, check_known_params, folder_bytes, queries_to_ids,
                   source_vectors)
from .call_clock import time_calls
from .checks import checked_search
from .file_checks import checked_index_manifest, file_records
from .packages import call_rust, call_rust_quiet, check_query_vocab, import_package, package_version
from .param_specs import KANNOLO

KIND = "lilsr.kannolo-index"
INDEX_FILE = "index.kannolo"
INDEX_FILES = [INDEX_FILE, "vocab.json", "ids.json"]
# variant -> (kANNolo class, largest weight it stores without clipping, or None)
VARIANTS = {"plain": ("SparsePlainHNSW", F16_MAX), "u16": ("SparseFixedU16HNSW", 7.9998),
            "u8": ("SparseFixedU8HNSW", 3.984), "packing8": ("SparseDotPacking8HNSW", 3.984)}
GRAPH_TYPES = KANNOLO.param("build", "graph_type").choices
BUILD_DEFAULTS = KANNOLO.defaults("build")  # param_specs.KANNOLO
SEARCH_DEFAULTS = KANNOLO.defaults("search")
TIMING_ONE = ("call clock (call_clock.time_calls): per query, the query's conversion to kANNolo's arrays, one "
              "kannolo search call and the results back; kANNolo exposes no internal time")
TIMING_BATCH = "one kannolo batch_search call: its wall time x threads / queries for every query"


def import_kannolo(threads: int | None = None):
    return import_package("kannolo", "kannolo", "kannolo", threads)


def build_params(params: dict) -> dict:
    p = KANNOLO.parse("build", params)
    if p["graph_type"] == "compressed" and p["m"] > 128:
        raise LilsrError("kannolo build: graph_type compressed needs m <= 128")
    return p


def search_params(params: dict, k: int) -> dict:
    return KANNOLO.parse("search", params, k)


def _index_class(kannolo, variant: str):
    return getattr(kannolo, VARIANTS[variant][0])


class KannoloEngine:
    """A kANNolo sparse HNSW index folder."""

    name = "kannolo"
    query_input = "vector"
    param_spec = KANNOLO
    tuning_grid = KANNOLO.tuning_grid()
    tuning_bounds = KANNOLO.tuning_bounds()
    # studies at scale leave it out above this many documents unless asked for (docs/kannolo.md)
    scale_limit = (50_000, "kANNolo's HNSW build is the slowest here: 15 ms a document at 100k on 250-term "
                           "splade-tiny documents, 1.4 ms on the Big sweep model's BP-reordered 100k store (2 "
                           "cores; docs/kannolo.md); name it with --engines to run it")

    def __init__(self, path: Path, manifest: dict, vocab: list[str], ids: list[str], index, threads: int | None):
        self.path = path
        self.manifest = manifest
        self.vocab = vocab
        self.ids = ids
        self.index = index
        self.threads = threads
        self._token_ids = {token: i for i, token in enumerate(vocab)}

    # --------------------------------------------------------------------------------- build and load
    @classmethod
    @locks_output()
    def build(cls, source, out, *, overwrite: bool = False, threads: int | None = None, **params) -> Path:
        """Write a ``lilsr.kannolo-index`` folder from a vector store (``params``: m, ef_construction,
        variant, graph_type). ``threads`` sizes kANNolo's Rayon pool (first import only)."""
        p = build_params(params)
        out = check_can_write(out, overwrite)
        kannolo = import_kannolo(threads)
        started = time.perf_counter()
        vectors = source_vectors(source, "kannolo")
        where = vectors.path or "vectors"
        indptr = np.asarray(vectors.indptr, np.int64)
        indices = np.asarray(vectors.indices, np.int32)
        values = np.asarray(vectors.values, np.float32)
        if len(vectors) == 0:
            raise LilsrError(f"{where}: no documents to index")
        # kANNolo aborts the process (not an exception) on components out of order within a document
        rising = np.diff(indices) > 0
        starts = indptr[1:-1]
        rising[starts[(starts > 0) & (starts < indptr[-1])] - 1] = True  # across documents they may fall
        if not rising.all():
            raise LilsrError(f"{where}: components are not strictly ascending within a document; "
                             "re-save the store (lilsr vectors) before indexing with kannolo")
        limit = VARIANTS[p["variant"]][1]
        top = float(values.max()) if values.size else 0.0
        if limit is not None and top > limit:
            raise LilsrError(f"{where}: largest weight {top:.4g} is above what kannolo variant {p['variant']} "
                             f"stores ({limit:g}; larger weights are clipped or become infinite); "
                             + ("use variant plain or u16" if p["variant"] != "plain" else
                                "scale the store's weights down"))
        index_cls = _index_class(kannolo, p["variant"])
        with atomic_dir(out, overwrite=overwrite) as tmp:
            index = call_rust_quiet("kannolo build", index_cls.build_from_arrays, indices, values, indptr, m=p["m"],
                              ef_construction=p["ef_construction"], graph_type=p["graph_type"])
            build_seconds = time.perf_counter() - started
            call_rust_quiet("kannolo save", index.save, str(tmp / INDEX_FILE))
            if not (tmp / INDEX_FILE).is_file():
                raise LilsrError(f"kannolo did not write {INDEX_FILE}")
            space = index.space_usage_bytes() if hasattr(index, "space_usage_bytes") else None
            del index
            (tmp / "vocab.json").write_text(json.dumps(list(vectors.vocab), ensure_ascii=False), "utf-8")
            (tmp / "ids.json").write_text(json.dumps(list(vectors.ids), ensure_ascii=False), "utf-8")
            lengths = np.diff(indptr)
            # kANNolo sizes its space by the largest component a document uses, and a query component past
            # it aborts the process: searches drop those (no document has them, so they add nothing)
            counts = {"docs": len(vectors), "nnz": int(indptr[-1]), "empty_docs": int((lengths == 0).sum()),
                      "max_weight": top, "dimension": int(indices.max()) + 1 if indices.size else 0}
            write_manifest(tmp, KIND, params=p, counts=counts, vocab_digest=vocab_digest(vectors.vocab),
                           source=str(vectors.path) if vectors.path else None, model=vectors.manifest.get("model"),
                           engine_version={"kannolo": package_version("kannolo")}, threads=threads,
                           build_seconds=round(build_seconds, 3), space_usage_bytes=space,
                           index_bytes=folder_bytes(tmp), checked_files=file_records(tmp, INDEX_FILES),
                           hash_files=INDEX_FILES)
        return Path(out)

    @classmethod
    def load(cls, path, threads: int | None = None, **options) -> "KannoloEngine":
        check_known_params(options, (), "kannolo load")
        path = Path(path)
        manifest = checked_index_manifest(  # kANNolo aborts (or answers garbage) on a damaged file
            path, KIND, "build one with 'lilsr index kannolo' or pick the engine that made it (--engine)",
            INDEX_FILES)
        p = manifest.get("params", {})
        if p.get("variant") not in VARIANTS or p.get("graph_type") not in GRAPH_TYPES:
            raise LilsrError(f"{path}: manifest names an unknown kannolo variant or graph type; rebuild the index")
        kannolo = import_kannolo(threads)
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        ids = json.loads((path / "ids.json").read_text(encoding="utf-8"))
        index = call_rust(f"loading the kannolo index {path / INDEX_FILE}", _index_class(kannolo, p["variant"]).load,
                          str(path / INDEX_FILE), graph_type=p["graph_type"])
        return cls(path, manifest, vocab, ids, index, threads)

    # ---------------------------------------------------------------------------------------- search
    def prepare(self, queries: Sequence[dict], check: bool = True):
        """Per query: (int32 components ascending, float32 weights); plus the unknown-token count."""
        mapped, unknown = queries_to_ids(queries, self._token_ids)
        if check:
            check_query_vocab(unknown, sum(len(q) for q in queries), self.path)
        prepared = []
        dimension = self.manifest.get("counts", {}).get("dimension")
        for ids, weights in mapped:
            if dimension is not None:
                inside = ids < dimension
                ids, weights = ids[inside], weights[inside]
            order = np.argsort(ids, kind="stable")
            prepared.append((np.ascontiguousarray(ids[order], np.int32), np.ascontiguousarray(weights[order])))
        return prepared, unknown

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        # qids, queries, k and threads: checked by @checked_search
        p = search_params(params, k)
        ef, early = p["ef_search"], p["early_exit_threshold"]
        if threads <= 1:
            return self._search_one_by_one(list(qids), queries, k, p)
        prepared, unknown = self.prepare(queries)
        n = len(qids)
        times = np.zeros(n, np.int64)
        rows: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.float32), np.zeros(0, np.int64))] * n
        live = [i for i, (components, _) in enumerate(prepared) if components.size]
        if live:
            comps = np.concatenate([prepared[i][0] for i in live])
            weights = np.concatenate([prepared[i][1] for i in live])
            offsets = np.zeros(len(live) + 1, np.int64)
            offsets[1:] = np.cumsum([prepared[i][0].size for i in live])
            start = time.perf_counter_ns()
            scores, found = call_rust("kannolo batch_search", self.index.batch_search, comps, weights, offsets, k,
                                      ef_search=ef, early_exit_threshold=early, num_threads=threads)
            wall = time.perf_counter_ns() - start
            scores, found = scores.reshape(len(live), k), found.reshape(len(live), k)
            for row, i in enumerate(live):
                keep = (found[row] >= 0) & (scores[row] > 0)
                rows[i] = (scores[row][keep], found[row][keep])
            times[live] = wall * threads // len(live)
            timing = TIMING_BATCH
        else:
            timing = "no query had a known token"
        ids = self.ids
        doc_ids = [[ids[d] for d in found.tolist()] for _, found in rows]
        score_rows = [np.asarray(scores, np.float32) for scores, _ in rows]
        check_finite_scores(self.name, qids, score_rows)
        info = {"engine": self.name, "k": k, "threads": threads, **p, "build_params": self.manifest.get("params"),
                "timing": timing}
        return SearchResults(list(qids), doc_ids, score_rows, times, unknown, info)

    def _search_one_by_one(self, qids: list[str], queries: Sequence[dict], k: int, p: dict) -> SearchResults:
        """One kannolo search call per query, on the shared call clock (``call_clock.time_calls``)."""
        token_ids = self._token_ids  # a batch for another model is refused before anything is timed
        check_query_vocab(sum(token not in token_ids for query in queries for token in query),
                          sum(len(q) for q in queries), self.path)
        search, ef, early = self.index.search, p["ef_search"], p["early_exit_threshold"]

        def prepare(query):
            [prepared], missing = self.prepare([query], check=False)
            return prepared, missing

        def search_one(prepared):
            components, weights = prepared
            if not components.size:
                return np.zeros(0, np.int64), np.zeros(0, np.float32), None
            scores, found = call_rust("kannolo search", search, components, weights, k, ef_search=ef,
                                      early_exit_threshold=early)
            keep = (found >= 0) & (scores > 0)
            return found[keep], scores[keep], None

        info = {"engine": self.name, "k": k, "threads": 1, **p, "build_params": self.manifest.get("params"),
                "timing": TIMING_ONE}
        results = time_calls(qids, queries, prepare, search_one, lambda found: [self.ids[d] for d in found.tolist()],
                             info)
        check_finite_scores(self.name, qids, results.scores)
        return results

    def index_stats(self) -> dict:
        return {**self.manifest.get("counts", {}), "params": self.manifest.get("params"),
                "build_seconds": self.manifest.get("build_seconds"),
                "space_usage_bytes": self.manifest.get("space_usage_bytes"), "index_bytes": folder_bytes(self.path)}
