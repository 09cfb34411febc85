"""Compiled exact search: term-at-a-time over the query's posting lists into a dense float32 accumulator,
then a bounded heap for the top k.

The accumulation order is the query's term order and each product is ``float32(value * weight)`` added in
float32, the same arithmetic as scipy's CSC mat-vec over the same lists, so scores agree bit for bit with the
scipy scorer. Ranking is a total order: score descending, then document index ascending (``base.top_k``
follows the same rule); only documents with a positive score are returned.

The accumulator and the list of touched documents live across calls (a per-query ``np.zeros`` of every
document would cost more than a short query): only touched entries are reset after each query.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def term_major(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_terms: int):
    """The inverted copy of a CSR store: (term_ptr int64 [n_terms + 1], doc int32, value float32), each
    term's documents ascending."""
    counts = np.bincount(np.asarray(indices), minlength=n_terms).astype(np.int64)
    term_ptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(counts, out=term_ptr[1:])
    docs = np.empty(int(term_ptr[-1]), np.int32)
    vals = np.empty(int(term_ptr[-1]), np.float32)
    _scatter(np.asarray(indptr, np.int64), np.asarray(indices, np.int32), np.asarray(values, np.float32),
             term_ptr, docs, vals)
    return term_ptr, docs, vals


@njit(cache=True, nogil=True)
def _scatter(indptr, indices, values, term_ptr, docs, vals):
    fill = term_ptr[:-1].copy()
    for d in range(indptr.size - 1):  # rows in order: each term's documents come out ascending
        for p in range(indptr[d], indptr[d + 1]):
            t = indices[p]
            docs[fill[t]] = d
            vals[fill[t]] = values[p]
            fill[t] += 1


@njit(cache=True, nogil=True, inline="always")
def _worse(s_a, d_a, s_b, d_b):
    """Whether (s_a, d_a) ranks below (s_b, d_b): lower score, or the same score and a higher index."""
    return s_a < s_b or (s_a == s_b and d_a > d_b)


@njit(cache=True, nogil=True, inline="always")
def _sift_down(heap_s, heap_d, size, i):
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(heap_s[right], heap_d[right], heap_s[left], heap_d[left]):
            child = right
        if _worse(heap_s[child], heap_d[child], heap_s[i], heap_d[i]):
            heap_s[i], heap_s[child] = heap_s[child], heap_s[i]
            heap_d[i], heap_d[child] = heap_d[child], heap_d[i]
            i = child
        else:
            return


@njit(cache=True, nogil=True)
def accumulate(q_terms, q_weights, term_ptr, docs, vals, acc, seen, touched):
    """Add every posting of the query's lists into ``acc``; returns how many documents it touched (their
    indices in ``touched[:n]``; ``seen`` marks them)."""
    n = 0
    for i in range(q_terms.size):
        t = q_terms[i]
        w = q_weights[i]
        for p in range(term_ptr[t], term_ptr[t + 1]):
            d = docs[p]
            if not seen[d]:
                seen[d] = True
                touched[n] = d
                n += 1
            acc[d] += vals[p] * w
    return n


@njit(cache=True, nogil=True)
def search_one(q_terms, q_weights, k, term_ptr, docs, vals, acc, seen, touched, heap_s, heap_d, out_docs,
               out_scores, ties):
    """One query: accumulate, keep the k best positive scores in a heap, write them best first into
    ``out_docs``/``out_scores`` and reset the scratch. Returns (how many were written, how many documents
    past them tie the k-th score): with ``ties`` those follow in ``touched[:n_ties]``, ascending index."""
    n = accumulate(q_terms, q_weights, term_ptr, docs, vals, acc, seen, touched)
    size = 0
    for j in range(n):
        d = touched[j]
        s = acc[d]
        if not s > 0:
            continue
        if size < k:  # push, then sift up
            i = size
            heap_s[i] = s
            heap_d[i] = d
            size += 1
            while i > 0:
                parent = (i - 1) // 2
                if _worse(heap_s[i], heap_d[i], heap_s[parent], heap_d[parent]):
                    heap_s[i], heap_s[parent] = heap_s[parent], heap_s[i]
                    heap_d[i], heap_d[parent] = heap_d[parent], heap_d[i]
                    i = parent
                else:
                    break
        elif _worse(heap_s[0], heap_d[0], s, d):  # better than the worst kept
            heap_s[0] = s
            heap_d[0] = d
            _sift_down(heap_s, heap_d, size, 0)
    # the heap's root is the k-th: a document of the same score and a higher index is a tie past rank k
    look_for_ties = ties and size == k
    kth_score = heap_s[0] if size > 0 else np.float32(0.0)
    kth_doc = heap_d[0] if size > 0 else -1
    n_ties = 0
    for j in range(n):  # reset the scratch (ties go to touched's front: never ahead of the read position)
        d = touched[j]
        if look_for_ties and acc[d] == kth_score and d > kth_doc:
            touched[n_ties] = d
            n_ties += 1
        acc[d] = 0.0
        seen[d] = False
    if n_ties > 1:
        touched[:n_ties].sort()
    count = size
    while size > 0:  # pop the worst into the last free slot: best first
        size -= 1
        out_scores[size] = heap_s[0]
        out_docs[size] = heap_d[0]
        heap_s[0] = heap_s[size]
        heap_d[0] = heap_d[size]
        _sift_down(heap_s, heap_d, size, 0)
    return count, n_ties


@njit(cache=True, nogil=True)
def dense_scores(q_terms, q_weights, term_ptr, docs, vals, n_docs):
    """The query's score for every document (float32), same arithmetic as ``search_one``."""
    acc = np.zeros(n_docs, np.float32)
    for i in range(q_terms.size):
        t = q_terms[i]
        w = q_weights[i]
        for p in range(term_ptr[t], term_ptr[t + 1]):
            acc[docs[p]] += vals[p] * w
    return acc
