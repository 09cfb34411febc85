"""Build a native index folder from a vector store (the library side of ``lilsr index native``)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...locks import locks_output
from ...atomic import atomic_dir, check_can_write, fault_point
from ...errors import LilsrError
from ...threads import use_numba_threads
from ...progress import bar as progress_bar
from ...manifest import write_manifest
from ...vectors.store import SparseVectors, load_vectors, vocab_digest
from ..param_specs import NATIVE
from ..params import check_known_params
from . import build_kernels as kernels
from .layout import (ARRAYS, FORMAT_VERSION, KIND, VALUE_BITS, component_dtype, forward8_dtype, forward_dtype,
                     pack_forward, quantize_rows8)

F16_MAX = 65504.0


@dataclass
class BuildParams:
    """Seismic's build parameters (same names and defaults), plus the fixed-size blocking alternative."""

    n_postings: int = 3500          # global budget: n_postings * vocabulary size postings in all
    max_fraction: float = 1.5       # per-list cap: max_fraction * n_postings postings
    blocks: str = "clustering"      # "clustering" (Seismic's random k-means) or "fixed:N"
    centroid_fraction: float = 0.1  # clustering: centroids = fraction of the list's postings
    min_cluster_size: int = 2       # clustering: smaller clusters are dissolved
    doc_cut: int = 15               # clustering: docs join a centroid by their top doc_cut components
    summary_energy: float = 0.4     # summaries keep the largest components up to this share of L1 mass
    seed: int = 42
    doc_top_k: int | None = None    # keep each document's doc_top_k largest weights (None: all), everywhere
    doc_mass: float | None = None   # then keep each document's fewest largest weights holding this L1 share
    value_bits: int = 16            # forward-index weights: 16 (float16) or 8 (8-bit, scaled per document)

    def fixed_block_size(self) -> int:
        """0 for clustering, N for "fixed:N"."""
        if self.blocks == "clustering":
            return 0
        kind, _, size = self.blocks.partition(":")
        if kind == "fixed" and size.isdigit() and int(size) > 0:
            return int(size)
        raise LilsrError(f"--blocks must be 'clustering' or 'fixed:N' with N > 0, not {self.blocks!r}")

    def check(self) -> None:
        self.fixed_block_size()
        if self.n_postings < 1 or self.max_fraction <= 0:
            raise LilsrError("--n-postings must be at least 1 and --max-fraction above 0")
        if not 0 < self.centroid_fraction <= 1:
            raise LilsrError(f"--centroid-fraction must lie in (0, 1], not {self.centroid_fraction}")
        if self.min_cluster_size < 0 or self.doc_cut < 1:
            raise LilsrError("--min-cluster-size must be >= 0 and --doc-cut >= 1")
        if not 0 < self.summary_energy <= 1:
            raise LilsrError(f"--summary-energy must lie in (0, 1], not {self.summary_energy}")
        if self.doc_top_k is not None:
            from ...vectors.compress import check_top_k

            check_top_k(self.doc_top_k, "--doc-top-k")
        if self.doc_mass is not None:
            from ...vectors.compress import check_share

            check_share(self.doc_mass, "--doc-mass")
        if self.value_bits not in VALUE_BITS:
            raise LilsrError(f"--value-bits must be one of {', '.join(map(str, VALUE_BITS))} (float16 or 8-bit "
                             f"per-document codes), not {self.value_bits!r}")


def _prune(vectors: SparseVectors, params: BuildParams):
    """Keep the n_postings * vocab largest entries overall, at most max_fraction * n_postings per list."""
    values = vectors.values
    nnz = vectors.nnz
    budget = params.n_postings * len(vectors.vocab)
    threshold, n_ties = np.float32(-1.0), 0
    if budget < nnz:
        threshold = np.partition(np.asarray(values), nnz - budget)[nnz - budget]
        n_ties = budget - int(np.count_nonzero(values > threshold))
    cap = int(params.n_postings * params.max_fraction)
    return kernels.select_postings(vectors.indptr, vectors.indices, values, len(vectors.vocab), threshold, n_ties, cap)


def _compile_kernels(vectors: SparseVectors, bp: BuildParams) -> None:
    """Run every build kernel once on the first documents (slices keep the arrays' numba types), so that
    compilation - or loading numba's cache - is not counted in the build time."""
    n = min(len(vectors), 4)
    indptr = vectors.indptr[:n + 1]
    indices, values = vectors.indices[:int(indptr[-1])], vectors.values[:int(indptr[-1])]
    vocab_size = len(vectors.vocab)
    list_ptr, list_docs, _ = kernels.select_postings(indptr, indices, values, vocab_size, np.float32(-1.0), 0, 10)
    top = kernels.top_components(indptr, indices, values, bp.doc_cut)
    last = int(np.searchsorted(list_ptr, list_ptr[-1]))
    kernels.build_lists(0, last, list_ptr, list_docs, indptr, indices, values, vocab_size, *top,
                        bp.fixed_block_size(), bp.centroid_fraction, bp.min_cluster_size, bp.summary_energy, bp.seed)


def _list_ranges(list_ptr: np.ndarray, n_chunks: int) -> list[tuple[int, int]]:
    """Contiguous ranges of lists holding about the same number of postings."""
    total = int(list_ptr[-1])
    cuts = np.searchsorted(list_ptr, np.linspace(0, total, n_chunks + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [len(list_ptr) - 1]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _write_npy(path: Path, dtype, chunks, total: int | None = None) -> None:
    """Write a 1-d .npy from consecutive pieces without joining them in memory first."""
    dtype = np.dtype(dtype)
    total = sum(len(c) for c in chunks) if total is None else total
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (total,)})
        for chunk in chunks:
            np.ascontiguousarray(chunk, dtype=dtype).tofile(handle)


def _offsets(counts_chunks) -> np.ndarray:
    counts = np.concatenate([np.asarray(c, np.int64) for c in counts_chunks]) if counts_chunks else np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _write_forward(tmp: Path, vectors: SparseVectors, value_bits: int = 16, step: int = 1 << 24) -> None:
    values = vectors.values
    nnz = vectors.nnz
    vocab_size = len(vectors.vocab)
    indptr = np.ascontiguousarray(vectors.indptr, dtype=np.int64)
    np.save(tmp / "fwd_ptr.npy", indptr)
    if value_bits == 8:  # component ids alone, codes beside them: 3 bytes an entry instead of 4
        codes, scale = quantize_rows8(indptr, np.ascontiguousarray(values, dtype=np.float32))
        _write_npy(tmp / "fwd.npy", forward8_dtype(vocab_size),
                   (vectors.indices[i:i + step] for i in range(0, nnz, step)), total=nnz)
        np.save(tmp / "fwd_code.npy", codes)
        np.save(tmp / "fwd_scale.npy", scale)
        return
    peak = float(np.max(values)) if nnz else 0.0
    if peak > F16_MAX:
        raise LilsrError(f"{vectors.path or 'vectors'}: weight {peak:g} exceeds the float16 range of the forward "
                         f"index ({F16_MAX:g}); rescale the vectors or build with --value-bits 8")
    _write_npy(tmp / "fwd.npy", forward_dtype(vocab_size),
               (pack_forward(vectors.indices[i:i + step], values[i:i + step], vocab_size) for i in range(0, nnz, step)),
               total=nnz)
    np.save(tmp / "fwd_code.npy", np.zeros(0, np.uint8))
    np.save(tmp / "fwd_scale.npy", np.zeros(0, np.float32))


@locks_output()
def build_native_index(source, out: str | Path, *, overwrite: bool = False, threads: int | None = None,
                       progress: bool = True, **params) -> Path:
    """Build a native index from a vector store (a folder or a loaded ``SparseVectors``) into ``out``."""
    out = check_can_write(out, overwrite)
    check_known_params(params, NATIVE.names("build"), "native build")
    bp = BuildParams(**params)
    bp.check()
    vectors = source if isinstance(source, SparseVectors) else load_vectors(source)
    if len(vectors) == 0:
        raise LilsrError(f"{vectors.path or 'vectors'}: no documents to index")
    source_path = vectors.path
    doc_prune_s, dropped = 0.0, {}
    # before everything: postings, summaries and forward index see the same (pruned) documents
    if bp.doc_top_k is not None or bp.doc_mass is not None:
        from ...vectors.compress import keep_mass, keep_top_k

        step = time.perf_counter()
        if bp.doc_top_k is not None:
            before = vectors.nnz
            vectors = keep_top_k(vectors, bp.doc_top_k)
            dropped["dropped_by_doc_top_k"] = before - vectors.nnz
        if bp.doc_mass is not None:
            before = vectors.nnz
            vectors = keep_mass(vectors, bp.doc_mass)
            dropped["dropped_by_doc_mass"] = before - vectors.nnz
        doc_prune_s = time.perf_counter() - step
    if len(vectors) >= 1 << 31:
        raise LilsrError("the native index holds at most 2^31 - 1 documents")
    threads = use_numba_threads(threads)
    vocab_size = len(vectors.vocab)
    comp_dtype = component_dtype(vocab_size)
    timings = {"doc_prune_s": doc_prune_s} if dropped else {}
    _compile_kernels(vectors, bp)
    fault_point("native:start")

    started = time.perf_counter()
    list_ptr, list_docs, _ = _prune(vectors, bp)
    timings["prune_s"] = time.perf_counter() - started

    step = time.perf_counter()
    fixed = bp.fixed_block_size()
    if fixed:
        top_comp = np.zeros((0, 1), np.int32)
        top_val = np.zeros((0, 1), np.float32)
        top_n = np.zeros(0, np.int32)
    else:
        top_comp, top_val, top_n = kernels.top_components(vectors.indptr, vectors.indices, vectors.values, bp.doc_cut)
    lengths = np.diff(list_ptr)
    ranges = _list_ranges(list_ptr, max(1, threads * 8) if len(list_docs) > 100_000 else 1)

    def run(bounds):
        return kernels.build_lists(bounds[0], bounds[1], list_ptr, list_docs, vectors.indptr, vectors.indices,
                                   vectors.values, vocab_size, top_comp, top_val, top_n, fixed,
                                   bp.centroid_fraction, bp.min_cluster_size, bp.summary_energy, bp.seed)

    bar = progress_bar(total=int(list_ptr[-1]), unit="posting", desc="native index: blocks and summaries",
                       progress=progress, leave=False)
    parts = [None] * len(ranges)
    with bar:
        if threads == 1 or len(ranges) == 1:
            for i, bounds in enumerate(ranges):
                parts[i] = run(bounds)
                bar.update(int(list_ptr[bounds[1]] - list_ptr[bounds[0]]))
        else:
            with ThreadPoolExecutor(threads) as pool:
                futures = {pool.submit(run, bounds): i for i, bounds in enumerate(ranges)}
                for future in futures:  # in submission order: results land by range, deterministic
                    i = futures[future]
                    parts[i] = future.result()
                    bar.update(int(list_ptr[ranges[i][1]] - list_ptr[ranges[i][0]]))
    del list_docs, top_comp, top_val, top_n
    if any((p[1] < 0).any() for p in parts):
        raise LilsrError(f"a posting list would have more than {kernels.MAX_BLOCKS} blocks; lower --n-postings or "
                         "--max-fraction, or make blocks larger (--centroid-fraction, --blocks fixed:N)")
    timings["blocks_summaries_s"] = time.perf_counter() - step
    build_seconds = time.perf_counter() - started + doc_prune_s
    fault_point("native:built")

    with atomic_dir(out, overwrite=overwrite) as tmp:
        step = time.perf_counter()
        _write_forward(tmp, vectors, bp.value_bits)
        fault_point("native:write")
        # parts: 0 postings, 1 blocks/list, 2 block sizes, 3 block_min, 4 block_quant, 5 comps/list,
        # 6 entries/list, 7 small list?, 8 sum_comp, 9 sum_code, 10 small_off, 11 small_block, 12 large_off,
        # 13 large_block
        np.save(tmp / "list_block_ptr.npy", _offsets([p[1] for p in parts]))
        np.save(tmp / "block_ptr.npy", _offsets([p[2] for p in parts]))
        _write_npy(tmp / "postings.npy", np.int32, [p[0] for p in parts])
        _write_npy(tmp / "block_min.npy", np.float32, [p[3] for p in parts])
        _write_npy(tmp / "block_quant.npy", np.float32, [p[4] for p in parts])
        np.save(tmp / "list_comp_ptr.npy", _offsets([p[5] for p in parts]))
        np.save(tmp / "list_entry_ptr.npy", _offsets([p[6] for p in parts]))
        np.save(tmp / "list_small_comp_ptr.npy", _offsets([p[5] * p[7] for p in parts]))
        np.save(tmp / "list_small_entry_ptr.npy", _offsets([p[6] * p[7] for p in parts]))
        for i, name in enumerate(("sum_comp", "sum_code", "small_off", "small_block", "large_off", "large_block")):
            dtype = comp_dtype if name == "sum_comp" else np.dtype(ARRAYS[name])
            _write_npy(tmp / f"{name}.npy", dtype, [p[8 + i] for p in parts])
        (tmp / "vocab.json").write_text(json.dumps(vectors.vocab, ensure_ascii=False), encoding="utf-8")
        (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in vectors.ids), encoding="utf-8")
        counts = {"docs": len(vectors), "vocab_size": vocab_size, "nnz": vectors.nnz,
                  "dropped_by_doc_top_k": dropped.get("dropped_by_doc_top_k", 0),
                  "dropped_by_doc_mass": dropped.get("dropped_by_doc_mass", 0),
                  "postings": int(sum(len(p[0]) for p in parts)), "blocks": int(sum(len(p[2]) for p in parts)),
                  "list_comps": int(sum(len(p[8]) for p in parts)),
                  "summary_entries": int(sum(len(p[9]) for p in parts)),
                  "small_comps": int(sum(len(p[10]) for p in parts)),
                  "small_entries": int(sum(len(p[11]) for p in parts)),
                  "lists": int(np.count_nonzero(lengths))}
        timings["write_s"] = time.perf_counter() - step
        index_bytes = sum(f.stat().st_size for f in tmp.iterdir() if f.is_file())
        write_manifest(tmp, KIND, params={**asdict(bp), "threads": threads}, counts=counts,
                       format_version=FORMAT_VERSION, component_dtype=str(comp_dtype),
                       vocab_digest=vocab_digest(vectors.vocab),
                       source=str(source_path) if source_path else None, model=vectors.manifest.get("model"),
                       build_seconds=round(build_seconds, 3), index_bytes=index_bytes, timings={k: round(v, 3) for k, v in timings.items()},
                       hash_files=[f"{name}.npy" for name in ARRAYS] + ["vocab.json", "ids.txt"])
    return Path(out)
