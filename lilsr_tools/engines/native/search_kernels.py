"""numba kernels of native search: Seismic's query processing over the native index arrays.

Take the query's ``query_cut`` heaviest terms; score every block summary of their posting lists against
the *full* query; visit blocks, skipping one when the heap holds k results and its summary score is below
``heap_factor`` times the k-th score; score the docs of a visited block exactly from the forward index
against a dense copy of the query, each doc once per query (a seen-stamp array instead of Seismic's hash
set). Blocks are visited in Seismic's order (list by list in decreasing term weight, the first list's
blocks by decreasing summary score) or in one global order by decreasing summary score over all the
lists, which raises the k-th score sooner and stops at the first block below the threshold. Ties in the
heap go to the lower doc id, so results do not depend on the thread count.

A forward index with 8-bit values (``fwd_scale`` not empty) holds component ids in ``fwd`` and codes in
``fwd_code``; a document scores ``minimum * sum(q) + step * sum(q * code)`` over its entries (one branch per
document, the same way for every document of an index, so the CPU predicts it).

The ``path`` argument (``lowlevel.simd_path()``) picks AVX2 or scalar dot products by its type, so each is
a separate compiled (and cached) kernel; ``search_single`` reports which one scored documents.

A ``stats`` array (``STATS``: counters and stage cycle counts, ``benchmarks/native_kernel.py``) is filled
when given; for ``None`` numba prunes every ``stats is not None`` branch, so the search pays nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .lowlevel import F16_SCALE, cycle_counter, dot8_avx2, dot_avx2, f16_raw, is_simd, prefetch

PREFETCH_AHEAD = 2  # documents; measured on the 1M synthetic set: 2 beats 1 and equals 3

# the profile's fields (one int64 each): work counted, then time-stamp-counter ticks per stage
STATS = ("lists", "summaries", "summary_entries", "blocks_visited", "postings", "docs_scored", "row_entries",
         "heap_updates", "ticks_summaries", "ticks_order", "ticks_docs", "ticks_heap", "ticks_sort", "ticks_total")
(LISTS, SUMMARIES, SUMMARY_ENTRIES, BLOCKS_VISITED, POSTINGS, DOCS_SCORED, ROW_ENTRIES, HEAP_UPDATES,
 TICKS_SUMMARIES, TICKS_ORDER, TICKS_DOCS, TICKS_HEAP, TICKS_SORT, TICKS_TOTAL) = range(len(STATS))


@njit(cache=True, nogil=True, inline="always")
def _clock(stats):
    """The time-stamp counter when profiling, else 0 (and no instruction)."""
    if stats is not None:
        return cycle_counter()
    return 0


@njit(cache=True, nogil=True, inline="always")
def _timed_update(stats, heap_s, heap_d, n, k, score, doc):
    """When profiling: will this offer change the k-heap? (counted; only those are timed: a rejected offer
    is one comparison, and two clock reads around each would cost more than it.) Else False."""
    if stats is not None:
        if n < k or _worse(heap_s[0], heap_d[0], score, doc):
            stats[HEAP_UPDATES] += 1
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _count(stats, field, amount):
    """Add ``amount`` to a profile field when profiling (else compiled out)."""
    if stats is not None:
        stats[field] += amount


@njit(cache=True, nogil=True, inline="always")
def _worse(score_a, doc_a, score_b, doc_b):
    """Is (score_a, doc_a) ranked below (score_b, doc_b)? Lower score, or equal score and higher doc id."""
    return score_a < score_b or (score_a == score_b and doc_a > doc_b)


@njit(cache=True, nogil=True)
def _sift_down(heap_s, heap_d, n, i):
    """Restore the min-heap (root = worst result) below position ``i``."""
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        child = left
        right = left + 1
        if right < n and _worse(heap_s[right], heap_d[right], heap_s[left], heap_d[left]):
            child = right
        if _worse(heap_s[child], heap_d[child], heap_s[i], heap_d[i]):
            heap_s[i], heap_s[child] = heap_s[child], heap_s[i]
            heap_d[i], heap_d[child] = heap_d[child], heap_d[i]
            i = child
        else:
            return


@njit(cache=True, nogil=True)
def _push(heap_s, heap_d, n, k, score, doc):
    """Offer a result to the k-heap; returns the new size."""
    if n < k:
        i = n
        heap_s[i] = score
        heap_d[i] = doc
        while i > 0:  # sift up
            parent = (i - 1) // 2
            if _worse(heap_s[i], heap_d[i], heap_s[parent], heap_d[parent]):
                heap_s[i], heap_s[parent] = heap_s[parent], heap_s[i]
                heap_d[i], heap_d[parent] = heap_d[parent], heap_d[i]
                i = parent
            else:
                break
        return n + 1
    if _worse(heap_s[0], heap_d[0], score, doc):
        heap_s[0] = score
        heap_d[0] = doc
        _sift_down(heap_s, heap_d, n, 0)
    return n


@njit(cache=True, nogil=True)
def _lower_bound(sorted_ids, lo, hi, value):
    """First position in ``sorted_ids[lo:hi]`` not below ``value`` (``hi`` when none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_ids[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, inline="always")
def _score_summaries(q_comp, q_val, sum_comp, c0, c1, off, off0, block, block0, sum_code, e0, n_entries,
                     acc_code, acc_weight):
    """Accumulate, per block of one list, sum_u w_u * code_ub and sum_u w_u over the query components u
    present in the list's summaries (query components ascending: the search window only shrinks); returns
    how many summary entries it read."""
    lo = c0
    read = 0
    for i in range(q_comp.size):
        at = _lower_bound(sum_comp, lo, c1, q_comp[i])
        if at == c1:
            break
        lo = at
        if sum_comp[at] != q_comp[i]:
            continue
        lo = at + 1
        w = q_val[i]
        r = at - c0
        start = np.int64(off[off0 + r])
        end = np.int64(off[off0 + r + 1]) if at + 1 < c1 else n_entries
        for e in range(start, end):
            b = block[block0 + e]
            acc_code[b] += w * np.float32(sum_code[e0 + e])
            acc_weight[b] += w
        read += end - start
    return read


def _dot(q_dense, fwd, lo, hi, path):
    """Dot product of the dense query with one forward-index row: eight lanes with AVX2 (16-bit
    components, ``path`` SIMD), else four scalar accumulators; either way a fixed summation order. (Chosen
    by type at compile time, below.)"""
    raise NotImplementedError("compiled code only")


def _row_is_simd(fwd, path) -> bool:
    """At compile time: does a row of this forward index score with AVX2 on this path? (16-bit components
    only: float16 words are uint32, 8-bit component ids uint16.)"""
    return is_simd(path) and fwd.dtype in (types.uint32, types.uint16)


@overload(_dot, inline="always")
def _dot_overload(q_dense, fwd, lo, hi, path):
    if _row_is_simd(fwd, path):
        return lambda q_dense, fwd, lo, hi, path: dot_avx2(q_dense, fwd, lo, hi)
    return lambda q_dense, fwd, lo, hi, path: _dot_scalar(q_dense, fwd, lo, hi)


def _simd_rows(fwd, path):
    """Whether this compiled kernel scores rows with AVX2 (a constant of the compiled code: what the engine
    reports as ``simd``)."""
    raise NotImplementedError("compiled code only")


@overload(_simd_rows, inline="always")
def _simd_rows_overload(fwd, path):
    if _row_is_simd(fwd, path):
        return lambda fwd, path: True
    return lambda fwd, path: False


@njit(cache=True, nogil=True, inline="always")
def _dot_scalar(q_dense, fwd, lo, hi):
    """Words: component | float16 bits << half. Four accumulators, combined in a fixed order: the adds no
    longer wait on each other, and the result does not depend on compiler flags."""
    half = np.uint64(fwd.itemsize * 4)  # unsigned throughout: numba turns uint64-with-int64 into float
    low = (np.uint64(1) << half) - np.uint64(1)
    s0 = s1 = s2 = s3 = np.float32(0.0)
    j = lo
    while j + 4 <= hi:
        w0, w1, w2, w3 = fwd[j], fwd[j + 1], fwd[j + 2], fwd[j + 3]
        s0 += q_dense[w0 & low] * f16_raw(w0 >> half)
        s1 += q_dense[w1 & low] * f16_raw(w1 >> half)
        s2 += q_dense[w2 & low] * f16_raw(w2 >> half)
        s3 += q_dense[w3 & low] * f16_raw(w3 >> half)
        j += 4
    while j < hi:
        w0 = fwd[j]
        s0 += q_dense[w0 & low] * f16_raw(w0 >> half)
        j += 1
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)  # no IR inlining: numba's inliner loses loop variables here; LLVM inlines it
def _dot8(q_dense, comps, codes, lo, hi, minimum, step):
    """Dot product of the dense query with one 8-bit forward-index row: weight = minimum + step * code, so
    the row scores minimum * sum(q) + step * sum(q * code); two accumulators of each, fixed order."""
    s0 = s1 = c0 = c1 = np.float32(0.0)
    j = lo
    while j + 2 <= hi:
        q0 = q_dense[comps[j]]
        q1 = q_dense[comps[j + 1]]
        s0 += q0
        s1 += q1
        c0 += q0 * np.float32(codes[j])
        c1 += q1 * np.float32(codes[j + 1])
        j += 2
    if j < hi:
        q0 = q_dense[comps[j]]
        s0 += q0
        c0 += q0 * np.float32(codes[j])
    return minimum * (s0 + s1) + step * (c0 + c1)


def _score_row(q_dense, fwd, fwd_code, fwd_scale, d, lo, hi, path):
    """Document d's score: ``_dot`` over float16 words, ``_dot8`` over 8-bit codes. The forward index's
    dtype tells them apart (words are uint32/uint64, 8-bit component ids uint16/int32: see
    ``layout.forward8_dtype``), so each index compiles only its own path. (Chosen by type, below.)"""
    raise NotImplementedError("compiled code only")


@overload(_score_row, inline="always")
def _score_row_overload(q_dense, fwd, fwd_code, fwd_scale, d, lo, hi, path):
    if _row_is_simd(fwd, path) and fwd.dtype == types.uint16:
        return lambda q_dense, fwd, fwd_code, fwd_scale, d, lo, hi, path: dot8_avx2(
            q_dense, fwd, fwd_code, lo, hi, fwd_scale[2 * d], fwd_scale[2 * d + 1])
    if fwd.dtype in (types.uint16, types.int32):
        return lambda q_dense, fwd, fwd_code, fwd_scale, d, lo, hi, path: _dot8(
            q_dense, fwd, fwd_code, lo, hi, fwd_scale[2 * d], fwd_scale[2 * d + 1])
    return lambda q_dense, fwd, fwd_code, fwd_scale, d, lo, hi, path: _dot(q_dense, fwd, lo, hi, path)


@njit(cache=True, nogil=True)
def _list_summaries(t, q_comp, q_val, list_block_ptr, block_min, block_quant, list_comp_ptr, list_entry_ptr,
                    list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code, small_off, small_block, large_off,
                    large_block, acc_code, acc_weight, out, at, stats):
    """Summary scores of term t's blocks against the full query, into ``out[at:at + blocks]``:
    sum_u w_u * (min_b + quant_b * code_ub) = quant_b * sum_u w_u code_ub + min_b * sum_u w_u."""
    b0 = list_block_ptr[t]
    n_blocks = list_block_ptr[t + 1] - b0
    acc_code[:n_blocks] = 0.0
    acc_weight[:n_blocks] = 0.0
    c0, c1 = list_comp_ptr[t], list_comp_ptr[t + 1]
    e0, n_entries = list_entry_ptr[t], list_entry_ptr[t + 1] - list_entry_ptr[t]
    sc0, se0 = list_small_comp_ptr[t], list_small_entry_ptr[t]
    if list_small_comp_ptr[t + 1] > sc0:
        read = _score_summaries(q_comp, q_val, sum_comp, c0, c1, small_off, sc0, small_block, se0, sum_code, e0,
                                n_entries, acc_code, acc_weight)
    else:
        read = _score_summaries(q_comp, q_val, sum_comp, c0, c1, large_off, c0 - sc0, large_block, e0 - se0,
                                sum_code, e0, n_entries, acc_code, acc_weight)
    for b in range(n_blocks):
        out[at + b] = acc_code[b] * block_quant[b0 + b] + acc_weight[b] * block_min[b0 + b]
    _count(stats, LISTS, 1)
    _count(stats, SUMMARIES, n_blocks)
    _count(stats, SUMMARY_ENTRIES, read)


@njit(cache=True, nogil=True, inline="always")
def _prefetch_row(fwd_ptr, fwd, fwd_code, d):
    """Ask for every cache line of doc d's forward-index row (a row spans ~15 lines; the hardware
    prefetcher alone would fetch them one miss at a time), and of its 8-bit codes when there are."""
    step = 64 // fwd.itemsize
    for off in range(fwd_ptr[d], fwd_ptr[d + 1], step):
        prefetch(fwd, off)
    if fwd_code.size > 0:
        for off in range(fwd_ptr[d], fwd_ptr[d + 1], 64):
            prefetch(fwd_code, off)


@njit(cache=True, nogil=True, inline="always")
def _score_block(block, n, k, use_prefetch, path, fwd_ptr, fwd, fwd_code, fwd_scale, block_ptr, postings, q_dense, seen,
                 stamp, heap_s, heap_d, stats):
    """Score the block's documents not seen yet for this query; returns the new heap size. With
    ``use_prefetch`` the row of the doc two places ahead is requested while the current one is scored."""
    _count(stats, BLOCKS_VISITED, 1)
    _count(stats, POSTINGS, block_ptr[block + 1] - block_ptr[block])
    p0 = block_ptr[block]
    p_end = block_ptr[block + 1]
    if use_prefetch:
        for p in range(p0, p_end):
            prefetch(fwd_ptr, postings[p])
        for p in range(p0, min(p0 + PREFETCH_AHEAD, p_end)):
            _prefetch_row(fwd_ptr, fwd, fwd_code, postings[p])
    for p in range(p0, p_end):
        if use_prefetch and p + PREFETCH_AHEAD < p_end:
            _prefetch_row(fwd_ptr, fwd, fwd_code, postings[p + PREFETCH_AHEAD])
        d = postings[p]
        if seen[d] == stamp:
            continue
        seen[d] = stamp
        s = _score_row(q_dense, fwd, fwd_code, fwd_scale, d, fwd_ptr[d], fwd_ptr[d + 1], path)
        _count(stats, DOCS_SCORED, 1)
        _count(stats, ROW_ENTRIES, fwd_ptr[d + 1] - fwd_ptr[d])
        if s > 0.0:
            if _timed_update(stats, heap_s, heap_d, n, k, s, d):  # False (compiled out) when not profiling
                started = cycle_counter()
                n = _push(heap_s, heap_d, n, k, s, d)
                _count(stats, TICKS_HEAP, cycle_counter() - started)
            else:
                n = _push(heap_s, heap_d, n, k, s, d)
    return n


@njit(cache=True, nogil=True)
def _sift_blocks(keys, order, i, m):
    """Restore the max-heap ``order[:m]`` (by ``keys``, ties: lower position first) below node ``i``."""
    while True:
        left = 2 * i + 1
        if left >= m:
            break
        child = left
        right = left + 1
        if right < m and (keys[order[right]] > keys[order[left]] or
                          (keys[order[right]] == keys[order[left]] and order[right] < order[left])):
            child = right
        a, b = order[child], order[i]
        if keys[a] > keys[b] or (keys[a] == keys[b] and a < b):
            order[i], order[child] = a, b
            i = child
        else:
            break


@njit(cache=True, nogil=True)
def _pop_best(keys, order, m):
    """Pop the largest key of the max-heap ``order[:m]`` (ties: lower position); returns its position."""
    top = order[0]
    m -= 1
    order[0] = order[m]
    _sift_blocks(keys, order, 0, m)
    return top


@njit(cache=True, nogil=True)
def _heapify(keys, order, m):
    for start in range(m // 2 - 1, -1, -1):
        _sift_blocks(keys, order, start, m)


@njit(cache=True, nogil=True)
def _search_list(t, sort_blocks, n, k, heap_factor, use_prefetch, path, q_comp, q_val, fwd_ptr, fwd, fwd_code,
                 fwd_scale, list_block_ptr, block_ptr, postings, block_min, block_quant, list_comp_ptr, list_entry_ptr,
                 list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code, small_off, small_block, large_off,
                 large_block, q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary, stats):
    """Term-at-a-time over term ``t``'s blocks (``sort_blocks``: best block summary first, else list order),
    skipping a block whose summary is below ``heap_factor`` x the k-th score once the heap is full; returns
    the new heap size."""
    b0 = list_block_ptr[t]
    n_blocks = list_block_ptr[t + 1] - b0
    if n_blocks == 0:
        return n
    started = _clock(stats)
    _list_summaries(t, q_comp, q_val, list_block_ptr, block_min, block_quant, list_comp_ptr, list_entry_ptr,
                    list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code, small_off, small_block, large_off,
                    large_block, acc_code, acc_weight, summary, 0, stats)
    _count(stats, TICKS_SUMMARIES, _clock(stats) - started)
    started = _clock(stats)
    if sort_blocks:
        order = np.argsort(-summary[:n_blocks], kind="mergesort")
    else:
        order = np.arange(n_blocks)
    _count(stats, TICKS_ORDER, _clock(stats) - started)
    for x in range(n_blocks):
        b = order[x]
        if n == k and summary[b] < heap_factor * heap_s[0]:
            continue
        started = _clock(stats)
        n = _score_block(b0 + b, n, k, use_prefetch, path, fwd_ptr, fwd, fwd_code, fwd_scale, block_ptr, postings,
                         q_dense, seen, stamp, heap_s, heap_d, stats)
        _count(stats, TICKS_DOCS, _clock(stats) - started)
    return n


@njit(cache=True, nogil=True)
def search_one(q_comp, q_val, k, query_cut, heap_factor, sort_first, global_order, use_prefetch, lists_complete,
               path, fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min, block_quant,
               list_comp_ptr, list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code,
               small_off, small_block, large_off, large_block, fwd_code, fwd_scale,
               q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary, stats):
    """One query (components sorted ascending, weights > 0). Leaves the results in the heap arrays and
    returns how many there are. ``q_dense`` must be all zeros and ``seen`` free of ``stamp``.

    Block order: Seismic's (list by list in decreasing term weight; the first list's blocks by decreasing
    summary score when ``sort_first``, the others in stored order) or, with ``global_order``, the blocks of
    all ``query_cut`` lists together by decreasing summary score, which raises the k-th score sooner and
    stops at the first block below the threshold.

    Fewer than k results after that (the ``query_cut`` lists hold fewer than k documents) and the query
    goes on: the lists of its other terms, heaviest first, then (unless ``lists_complete``: static pruning
    dropped nothing) every document not seen yet, from the forward index. So a query gets k results whenever
    k documents score above zero."""
    nq = q_comp.size
    if nq == 0:
        return 0
    q_scale = F16_SCALE if fwd_scale.size == 0 else np.float32(1.0)  # float16 words need the scaled query
    for i in range(nq):
        q_dense[q_comp[i]] = q_val[i] * q_scale
    by_weight = np.argsort(-q_val, kind="mergesort")  # heaviest first; ties: lower component
    terms = by_weight[:query_cut]
    n = 0
    if global_order:
        total = 0
        for rank in range(terms.size):
            t = q_comp[terms[rank]]
            total += list_block_ptr[t + 1] - list_block_ptr[t]
        keys = np.empty(total, np.float32)
        block_of = np.empty(total, np.int64)
        started = _clock(stats)
        at = 0
        for rank in range(terms.size):
            t = q_comp[terms[rank]]
            b0 = list_block_ptr[t]
            n_blocks = list_block_ptr[t + 1] - b0
            if n_blocks == 0:
                continue
            _list_summaries(t, q_comp, q_val, list_block_ptr, block_min, block_quant, list_comp_ptr,
                            list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code, small_off,
                            small_block, large_off, large_block, acc_code, acc_weight, keys, at, stats)
            for b in range(n_blocks):
                block_of[at + b] = b0 + b
            at += n_blocks
        _count(stats, TICKS_SUMMARIES, _clock(stats) - started)
        started = _clock(stats)
        order = np.arange(total)
        _heapify(keys, order, total)
        _count(stats, TICKS_ORDER, _clock(stats) - started)
        m = total
        while m > 0:
            started = _clock(stats)
            x = _pop_best(keys, order, m)
            _count(stats, TICKS_ORDER, _clock(stats) - started)
            m -= 1
            if n == k and keys[x] < heap_factor * heap_s[0]:
                break  # every block left scores lower still
            started = _clock(stats)
            n = _score_block(block_of[x], n, k, use_prefetch, path, fwd_ptr, fwd, fwd_code, fwd_scale, block_ptr,
                             postings, q_dense, seen, stamp, heap_s, heap_d, stats)
            _count(stats, TICKS_DOCS, _clock(stats) - started)
    else:
        for rank in range(terms.size):
            sort_blocks = sort_first and rank == 0  # outside the call: numba refuses inlined control flow there
            n = _search_list(q_comp[terms[rank]], sort_blocks, n, k, heap_factor, use_prefetch, path,
                             q_comp, q_val, fwd_ptr, fwd, fwd_code, fwd_scale, list_block_ptr, block_ptr, postings,
                             block_min, block_quant, list_comp_ptr, list_entry_ptr, list_small_comp_ptr,
                             list_small_entry_ptr, sum_comp, sum_code, small_off, small_block, large_off,
                             large_block, q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary,
                             stats)
    if n < k:  # no block was skipped so far (skipping needs a full heap): widen to the other terms' lists
        for rank in range(query_cut, by_weight.size):
            n = _search_list(q_comp[by_weight[rank]], False, n, k, heap_factor, use_prefetch, path,
                             q_comp, q_val, fwd_ptr, fwd, fwd_code, fwd_scale, list_block_ptr, block_ptr, postings,
                             block_min, block_quant, list_comp_ptr, list_entry_ptr, list_small_comp_ptr,
                             list_small_entry_ptr, sum_comp, sum_code, small_off, small_block, large_off,
                             large_block, q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary,
                             stats)
    if n < k and not lists_complete:  # postings pruned away may still hold matches: scan the rest
        started = _clock(stats)
        for d in range(fwd_ptr.size - 1):
            if seen[d] == stamp:
                continue
            seen[d] = stamp
            s = _score_row(q_dense, fwd, fwd_code, fwd_scale, d, fwd_ptr[d], fwd_ptr[d + 1], path)
            _count(stats, DOCS_SCORED, 1)
            _count(stats, ROW_ENTRIES, fwd_ptr[d + 1] - fwd_ptr[d])
            if s > 0.0:
                n = _push(heap_s, heap_d, n, k, s, d)
        _count(stats, TICKS_DOCS, _clock(stats) - started)
    for i in range(nq):
        q_dense[q_comp[i]] = 0.0
    return n


@njit(cache=True, nogil=True)
def _drain_sorted(heap_s, heap_d, n, out_docs, out_scores):
    """Empty the k-heap into ``out_*[:n]`` best first (score descending, then doc id ascending): pop the
    worst into the last free slot."""
    m = n
    while m > 0:
        m -= 1
        out_docs[m] = heap_d[0]
        out_scores[m] = heap_s[0]
        heap_s[0] = heap_s[m]
        heap_d[0] = heap_d[m]
        _sift_down(heap_s, heap_d, m, 0)


@njit(cache=True, parallel=True)
def batch_search(q_ptr, q_comp, q_val, k, query_cut, heap_factor, sort_first, global_order, use_prefetch, n_chunks,
                 max_blocks, lists_complete, path,
                 fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min, block_quant,
                 list_comp_ptr, list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code,
                 small_off, small_block, large_off, large_block, fwd_code, fwd_scale):
    """All queries (CSR ``q_ptr``/``q_comp``/``q_val``) in ``n_chunks`` contiguous chunks over the threads.
    Returns doc ids [queries, k] (-1 padded), scores, result counts and the cycle-counter ticks each query
    took (search and result sorting), measured inside compiled code; and whether rows were scored with AVX2."""
    n_queries = q_ptr.size - 1
    n_docs = fwd_ptr.size - 1
    vocab = list_block_ptr.size - 1
    out_docs = np.full((n_queries, k), -1, np.int32)
    out_scores = np.zeros((n_queries, k), np.float32)
    out_n = np.zeros(n_queries, np.int64)
    ticks = np.zeros(n_queries, np.int64)
    for chunk in prange(n_chunks):
        first = chunk * n_queries // n_chunks
        last = (chunk + 1) * n_queries // n_chunks
        q_dense = np.zeros(vocab, np.float32)
        seen = np.zeros(n_docs, np.int32)
        heap_s = np.empty(k, np.float32)
        heap_d = np.empty(k, np.int32)
        acc_code = np.empty(max_blocks, np.float32)
        acc_weight = np.empty(max_blocks, np.float32)
        summary = np.empty(max_blocks, np.float32)
        for qi in range(first, last):
            start = cycle_counter()
            lo, hi = q_ptr[qi], q_ptr[qi + 1]
            n = search_one(q_comp[lo:hi], q_val[lo:hi], k, query_cut, heap_factor, sort_first, global_order,
                           use_prefetch, lists_complete, path,
                           fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min,
                           block_quant, list_comp_ptr, list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr,
                           sum_comp, sum_code, small_off, small_block, large_off, large_block, fwd_code,
                           fwd_scale, q_dense, seen, qi - first + 1, heap_s, heap_d, acc_code, acc_weight, summary,
                           None)
            _drain_sorted(heap_s, heap_d, n, out_docs[qi], out_scores[qi])
            out_n[qi] = n
            ticks[qi] = cycle_counter() - start
    return out_docs, out_scores, out_n, ticks, _simd_rows(fwd, path)


@njit(cache=True, nogil=True)
def search_single(q_comp, q_val, k, query_cut, heap_factor, sort_first, global_order, use_prefetch, lists_complete,
                  path, fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min, block_quant,
                  list_comp_ptr, list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code,
                  small_off, small_block, large_off, large_block, fwd_code, fwd_scale,
                  q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary, out_docs, out_scores, stats):
    """One query per call, on scratch arrays the caller keeps between calls (so no call pays for zeroing a
    per-document array): results best first in ``out_*[:n]``; returns (n, cycle-counter ticks, whether rows
    were scored with AVX2). ``stats``: a profile array (``STATS``) to fill, or None."""
    start = cycle_counter()
    n = search_one(q_comp, q_val, k, query_cut, heap_factor, sort_first, global_order, use_prefetch, lists_complete,
                   path, fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min, block_quant,
                   list_comp_ptr, list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code,
                   small_off, small_block, large_off, large_block, fwd_code, fwd_scale,
                   q_dense, seen, stamp, heap_s, heap_d, acc_code, acc_weight, summary, stats)
    started = _clock(stats)
    _drain_sorted(heap_s, heap_d, n, out_docs, out_scores)
    _count(stats, TICKS_SORT, _clock(stats) - started)
    ticks = cycle_counter() - start
    _count(stats, TICKS_TOTAL, ticks)
    return n, ticks, _simd_rows(fwd, path)
