"""Document-side compression of a vector store: fewer entries per document or per posting list.

- ``keep_top_k(vectors, k)``: each document keeps its ``k`` largest weights;
- ``keep_mass(vectors, share)``: each document keeps its fewest largest weights that hold ``share`` of its
  L1 mass (a long flat document keeps more than a short peaked one);
- ``keep_list_share(vectors, share)``: static posting pruning, each term's posting list keeps its
  ``ceil(share x length)`` largest weights.

Ties go to the lower component id (per document) or the lower document (per list), so the result is
deterministic. Each returns a new in-memory store (save it with ``save_vectors``); what was dropped is
``source.nnz - result.nnz``, for the caller's manifest. How an index stores the *values* it keeps is the
index's business: ``convert.quantized`` (Lucene's integer impacts), ``engines.native.layout.stored_values``
(float16 or 8-bit per document).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import LilsrError
from .store import SparseVectors


def check_top_k(k, what: str = "top-k") -> int:
    """A per-document term budget: an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise LilsrError(f"{what} must be an integer >= 1 (terms kept per document), not {k!r}")
    return int(k)


def check_share(share, what: str = "share") -> float:
    """A share of a document's mass or of a posting list: a number in (0, 1]."""
    if isinstance(share, bool) or not isinstance(share, (int, float, np.floating)) or not 0 < share <= 1:
        raise LilsrError(f"{what} must lie in (0, 1], not {share!r}")
    return float(share)


def keep_top_k(vectors: SparseVectors, k: int) -> SparseVectors:
    k = check_top_k(k)
    mask = _top_k_mask(_i64(vectors.indptr), _f32(vectors.values), k)
    return _subset(vectors, mask)


def keep_mass(vectors: SparseVectors, share: float) -> SparseVectors:
    share = check_share(share, "mass share")
    if share == 1.0:
        return _subset(vectors, np.ones(vectors.nnz, np.bool_))
    mask = _mass_mask(_i64(vectors.indptr), _f32(vectors.values), share)
    return _subset(vectors, mask)


def keep_list_share(vectors: SparseVectors, share: float) -> SparseVectors:
    share = check_share(share, "posting share")
    mask = _list_share_mask(_i64(vectors.indptr), np.ascontiguousarray(vectors.indices, dtype=np.int32),
                            _f32(vectors.values), len(vectors.vocab), share)
    return _subset(vectors, mask)


def _i64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _subset(vectors: SparseVectors, mask: np.ndarray) -> SparseVectors:
    indptr, indices, values = _compact(_i64(vectors.indptr), np.ascontiguousarray(vectors.indices, dtype=np.int32),
                                       _f32(vectors.values), mask)
    manifest = {"model": vectors.manifest.get("model")} if vectors.manifest else {}
    return SparseVectors(indptr, indices, values, list(vectors.vocab), list(vectors.ids), manifest)


@njit(cache=True, nogil=True)
def _compact(indptr, indices, values, mask):
    n_docs = indptr.size - 1
    kept = 0
    for j in range(mask.size):
        kept += mask[j]
    new_ptr = np.zeros(n_docs + 1, np.int64)
    new_indices = np.empty(kept, np.int32)
    new_values = np.empty(kept, np.float32)
    at = 0
    for d in range(n_docs):
        for j in range(indptr[d], indptr[d + 1]):
            if mask[j]:
                new_indices[at] = indices[j]
                new_values[at] = values[j]
                at += 1
        new_ptr[d + 1] = at
    return new_ptr, new_indices, new_values


@njit(cache=True, nogil=True)
def _top_k_mask(indptr, values, k):
    mask = np.zeros(values.size, np.bool_)
    for d in range(indptr.size - 1):
        lo, hi = indptr[d], indptr[d + 1]
        if hi - lo <= k:
            mask[lo:hi] = True
            continue
        order = np.argsort(-values[lo:hi], kind="mergesort")  # stable: ties keep the lower component
        for i in range(k):
            mask[lo + order[i]] = True
    return mask


@njit(cache=True, nogil=True)
def _mass_mask(indptr, values, share):
    mask = np.zeros(values.size, np.bool_)
    for d in range(indptr.size - 1):
        lo, hi = indptr[d], indptr[d + 1]
        if hi == lo:
            continue
        order = np.argsort(-values[lo:hi], kind="mergesort")
        total = 0.0
        for i in range(hi - lo):
            total += values[lo + order[i]]
        target = share * total
        held = 0.0
        for i in range(hi - lo):
            mask[lo + order[i]] = True
            held += values[lo + order[i]]
            if held >= target:
                break
    return mask


@njit(cache=True, nogil=True)
def _list_share_mask(indptr, indices, values, vocab_size, share):
    """Group entry positions by term (document order within a term), keep each list's top share."""
    counts = np.zeros(vocab_size + 1, np.int64)
    for j in range(indices.size):
        counts[indices[j] + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    where = np.empty(indices.size, np.int64)
    for j in range(indices.size):  # documents in order, so each list is in document order
        t = indices[j]
        where[fill[t]] = j
        fill[t] += 1
    mask = np.zeros(values.size, np.bool_)
    for t in range(vocab_size):
        lo, hi = ptr[t], ptr[t + 1]
        n = hi - lo
        if n == 0:
            continue
        keep = max(1, min(n, int(math.ceil(share * n - 1e-9))))
        if keep == n:
            for i in range(lo, hi):
                mask[where[i]] = True
            continue
        weights = np.empty(n, np.float32)
        for i in range(n):
            weights[i] = values[where[lo + i]]
        order = np.argsort(-weights, kind="mergesort")  # stable: ties keep the lower document
        for i in range(keep):
            mask[where[lo + order[i]]] = True
    return mask
