"""Compiled exact search: term-at-a-time over the query's posting lists into a dense float32 accumulator,
then one sequential scan keeping the top k in a bounded heap of uint64 keys (score, then index).

The accumulation order is the query's term order and each product is ``float32(value * weight)`` added in
float32, the same arithmetic as scipy's CSC mat-vec over the same lists, so scores agree bit for bit with the
scipy scorer. Ranking is a total order: score descending, then document index ascending (``base.top_k``
follows the same rule); only documents with a positive score are returned.

The accumulator lives across calls and is zeroed by the same sequential scan that collects the scores, so a
query costs its postings plus one pass over the documents, like scipy's mat-vec with its dense result.
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


LOW32 = np.uint64(0xFFFFFFFF)
SHIFT = np.uint64(32)


@njit(cache=True, nogil=True)
def accumulate(q_terms, q_weights, term_ptr, docs, vals, acc):
    """Add every posting of the query's lists into ``acc`` (no per-posting bookkeeping: marking touched
    documents cost three times the additions at 100k documents; one sequential scan afterwards is cheaper)."""
    for i in range(q_terms.size):
        t = q_terms[i]
        w = q_weights[i]
        for p in range(term_ptr[t], term_ptr[t + 1]):
            acc[docs[p]] += vals[p] * w


@njit(cache=True, nogil=True)
def collect_keys(acc, keys):
    """Every positive score as one uint64 key, (2^32 - 1 - its float32 bits) << 32 | document index, and the
    accumulator zeroed, in one sequential pass; returns how many keys. Positive float32 bits order like
    their values, so ascending keys rank score descending, then index ascending."""
    bits = acc.view(np.uint32)
    m = 0
    for d in range(acc.size):
        if acc[d] > 0:
            keys[m] = ((LOW32 - np.uint64(bits[d])) << SHIFT) | np.uint64(d)
            m += 1
            acc[d] = 0.0
    return m


@njit(cache=True, nogil=True)
def heap_keys(acc, heap, k):
    """The k smallest keys (see ``collect_keys``) in one sequential pass that also zeroes the accumulator:
    a max-heap of keys whose root is the worst kept; returns how many (unsorted)."""
    bits = acc.view(np.uint32)
    size = 0
    for d in range(acc.size):
        if acc[d] > 0:
            key = ((LOW32 - np.uint64(bits[d])) << SHIFT) | np.uint64(d)
            acc[d] = 0.0
            if size < k:
                i = size
                size += 1
                while i > 0:  # sift up
                    parent = (i - 1) // 2
                    if heap[parent] >= key:
                        break
                    heap[i] = heap[parent]
                    i = parent
                heap[i] = key
            elif key < heap[0]:
                i = 0
                while True:  # sift down from the root
                    child = 2 * i + 1
                    if child >= size:
                        break
                    if child + 1 < size and heap[child + 1] > heap[child]:
                        child += 1
                    if heap[child] <= key:
                        break
                    heap[i] = heap[child]
                    i = child
                heap[i] = key
    return size


@njit(cache=True, nogil=True)
def search_one(q_terms, q_weights, k, term_ptr, docs, vals, acc, keys, out_docs, out_scores, tied, ties):
    """One query: accumulate, rank the positive scores by key and write the best k into
    ``out_docs``/``out_scores``: a bounded heap during the scan (faster than collecting every key and
    partitioning, at k=10 and k=1000, 5k and 100k documents). Returns (how many were written, how many
    documents past them tie the k-th score): with ``ties`` those go to ``tied[:n_ties]``, ascending index
    (the tie scan needs every key: ``ties``, the untimed ground truth, collects them and partitions)."""
    accumulate(q_terms, q_weights, term_ptr, docs, vals, acc)
    if not ties:
        m = heap_keys(acc, keys, k)
        best = np.sort(keys[:m])
    else:
        m = collect_keys(acc, keys)
        if m > k:
            best = np.partition(keys[:m], k - 1)[:k]  # a copy: keys stay whole for the tie scan
            best.sort()
        else:
            best = np.sort(keys[:m])
    count = best.size
    score_bits = out_scores.view(np.uint32)
    for i in range(count):
        out_docs[i] = np.int64(best[i] & LOW32)
        score_bits[i] = np.uint32(LOW32 - (best[i] >> SHIFT))  # the score, back from its key
    n_ties = 0
    if ties and m > k:
        last = best[count - 1]
        score_part = last >> SHIFT
        for j in range(m):
            if (keys[j] >> SHIFT) == score_part and keys[j] > last:
                tied[n_ties] = np.int64(keys[j] & LOW32)
                n_ties += 1
        if n_ties > 1:
            tied[:n_ties].sort()
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
