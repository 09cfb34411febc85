"""numba kernels of the native index build: static pruning, blocking, block summaries.

They follow Seismic (Bruch et al., SIGIR 2024; the Rust crate's ``InvertedIndex::build``) step by step:
global-threshold pruning with a per-list cap, one-shot "random k-means" blocking on each posting list with
documents assigned by dot product on their top ``doc_cut`` components, and energy-preserving block
summaries quantised to 8 bits (rounded up, where Seismic rounds to nearest: a kept component's dequantised
value is never below the block's maximum of it, so pruning by summary never gets a tighter bound than the
data allows). Where Seismic leaves an order open, these kernels fix one (ties by lower
doc id, a seeded splitmix64 per list), so a build is the same with any number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

U64 = np.uint64


# ---------------------------------------------------------------------------------------------- helpers

@njit(cache=True, nogil=True)
def _grow(array, needed):
    """``array`` if it holds ``needed`` items, else a copy with room for at least twice as many."""
    if needed <= array.size:
        return array
    bigger = np.empty(max(needed, 2 * array.size), array.dtype)
    bigger[: array.size] = array
    return bigger


@njit(cache=True, nogil=True)
def _splitmix64(state):
    """One step of splitmix64: (new state, random 64-bit value)."""
    state = state + U64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return state, z ^ (z >> U64(31))


# ---------------------------------------------------------------------------------------------- pruning

@njit(cache=True, nogil=True)
def select_postings(indptr, indices, values, vocab_size, threshold, n_ties, cap):
    """Term-major posting lists of the entries kept by the global budget (weight > ``threshold``, plus the
    first ``n_ties`` entries equal to it in document order), each sorted by weight (descending; ties by doc
    id) and cut to ``cap`` postings. Returns (list_ptr int64[vocab + 1], docs int32, weights float32)."""
    n_docs = indptr.size - 1
    counts = np.zeros(vocab_size, np.int64)
    ties = n_ties
    for d in range(n_docs):
        for j in range(indptr[d], indptr[d + 1]):
            v = values[j]
            if v > threshold:
                counts[indices[j]] += 1
            elif v == threshold and ties > 0:
                counts[indices[j]] += 1
                ties -= 1
    ptr = np.zeros(vocab_size + 1, np.int64)
    for t in range(vocab_size):
        ptr[t + 1] = ptr[t] + counts[t]
    docs = np.empty(ptr[vocab_size], np.int32)
    weights = np.empty(ptr[vocab_size], np.float32)
    fill = ptr[:-1].copy()
    ties = n_ties
    for d in range(n_docs):
        for j in range(indptr[d], indptr[d + 1]):
            v = values[j]
            keep = v > threshold
            if not keep and v == threshold and ties > 0:
                keep = True
                ties -= 1
            if keep:
                t = indices[j]
                docs[fill[t]] = d
                weights[fill[t]] = v
                fill[t] += 1
    # sort each list by weight and keep its top ``cap``, compacting in place (the cut never moves right)
    out_ptr = np.zeros(vocab_size + 1, np.int64)
    for t in range(vocab_size):
        lo, hi = ptr[t], ptr[t + 1]
        n = hi - lo
        start = out_ptr[t]
        if n > 1:
            order = np.argsort(-weights[lo:hi], kind="mergesort")  # stable: equal weights keep doc order
            kept = min(n, cap)
            sorted_docs = docs[lo:hi][order[:kept]]
            sorted_weights = weights[lo:hi][order[:kept]]
            docs[start:start + kept] = sorted_docs
            weights[start:start + kept] = sorted_weights
        else:
            kept = min(n, cap)
            for i in range(kept):
                docs[start + i] = docs[lo + i]
                weights[start + i] = weights[lo + i]
        out_ptr[t + 1] = start + kept
    total = out_ptr[vocab_size]
    return out_ptr, docs[:total], weights[:total]


# ---------------------------------------------------------------------------------------- doc top comps

@njit(cache=True, nogil=True)
def top_components(indptr, indices, values, doc_cut):
    """Each document's ``doc_cut`` largest components (ties: the lower component id), for clustering.
    One pass over the store (a fraction of a second per million docs): not worth a parallel compile."""
    n_docs = indptr.size - 1
    top_comp = np.zeros((n_docs, doc_cut), np.int32)
    top_val = np.zeros((n_docs, doc_cut), np.float32)
    top_n = np.zeros(n_docs, np.int32)
    for d in range(n_docs):
        m = 0
        for j in range(indptr[d], indptr[d + 1]):
            v = values[j]
            if m == doc_cut and v <= top_val[d, m - 1]:
                continue
            i = m if m < doc_cut else doc_cut - 1
            while i > 0 and top_val[d, i - 1] < v:  # insertion after equal values keeps the lower id first
                if i < doc_cut:
                    top_val[d, i] = top_val[d, i - 1]
                    top_comp[d, i] = top_comp[d, i - 1]
                i -= 1
            top_val[d, i] = v
            top_comp[d, i] = indices[j]
            if m < doc_cut:
                m += 1
        top_n[d] = m
    return top_comp, top_val, top_n


# -------------------------------------------------------------------------------------------- blocking


@njit(cache=True, nogil=True)
def _assign(docs, top_comp, top_val, top_n, cstart, cend, ent_centroid, ent_value, n_centroids, removed, only,
            assign, score, touched, in_touched):
    """Assign each doc (positions where ``only`` is True) to the centroid of largest dot product between the
    doc's top components and the centroid's vector; centroids flagged in ``removed`` are skipped. Like
    Seismic's ``max_by``, ties go to the later centroid, and a doc sharing nothing goes to the last
    eligible centroid (the first centroid when none is eligible)."""
    fallback = 0
    for j in range(n_centroids - 1, -1, -1):
        if not removed[j]:
            fallback = j
            break
    for i in range(docs.size):
        if not only[i]:
            continue
        d = docs[i]
        n_touched = 0
        for r in range(top_n[d]):
            c = top_comp[d, r]
            v = top_val[d, r]
            for e in range(cstart[c], cend[c]):
                j = ent_centroid[e]
                if removed[j]:
                    continue
                if not in_touched[j]:
                    in_touched[j] = True
                    touched[n_touched] = j
                    n_touched += 1
                score[j] += v * ent_value[e]
        best = -1
        best_score = np.float32(-1.0)
        for x in range(n_touched):
            j = touched[x]
            s = score[j]
            if s > best_score or (s == best_score and j > best):
                best = j
                best_score = s
            score[j] = 0.0
            in_touched[j] = False
        assign[i] = best if best >= 0 else fallback


@njit(cache=True, nogil=True)
def cluster_blocks(docs, indptr, indices, values, top_comp, top_val, top_n, cstart, cend, centroid_fraction,
                   min_cluster_size, rng_state, n_docs_total):
    """Seismic's one-shot random k-means on one posting list: ``max(1, fraction * len)`` random postings
    become centroids, every doc joins its best centroid, clusters of at most ``min_cluster_size`` docs are
    dissolved and their docs re-assigned. Returns (docs reordered by cluster, cluster sizes); clusters come
    in centroid doc id order and docs by id inside a cluster. ``cstart``/``cend`` are int64 scratch of
    vocabulary size, all zero (and left so)."""
    n = docs.size
    n_centroids = max(1, int(np.float32(centroid_fraction) * np.float32(n)))
    n_centroids = min(n_centroids, n)
    positions = np.arange(n)
    for j in range(n_centroids):  # partial Fisher-Yates: a seeded sample without replacement
        rng_state, r = _splitmix64(rng_state)
        pick = j + int(r % U64(n - j))
        positions[j], positions[pick] = positions[pick], positions[j]
    centroid_doc = np.empty(n_centroids, np.int64)
    n_entries = 0
    for j in range(n_centroids):
        d = docs[positions[j]]
        centroid_doc[j] = d
        n_entries += indptr[d + 1] - indptr[d]
        for x in range(indptr[d], indptr[d + 1]):
            cend[indices[x]] += 1
    # the centroids' vectors inverted (component -> centroids) as CSR: cend holds counts now; give each
    # component a start (stored + 1 so that 0 means "not yet placed"), fill, then shift the starts back
    running = 0
    placed = np.empty(n_entries, np.int32)
    n_placed = 0
    for j in range(n_centroids):
        d = centroid_doc[j]
        for x in range(indptr[d], indptr[d + 1]):
            c = indices[x]
            if cstart[c] == 0:
                cstart[c] = running + 1
                running += cend[c]
                cend[c] = running - cend[c]
                placed[n_placed] = c
                n_placed += 1
    ent_centroid = np.empty(n_entries, np.int32)
    ent_value = np.empty(n_entries, np.float32)
    for j in range(n_centroids):
        d = centroid_doc[j]
        for x in range(indptr[d], indptr[d + 1]):
            c = indices[x]
            ent_centroid[cend[c]] = j
            ent_value[cend[c]] = values[x]
            cend[c] += 1
    for i in range(n_placed):
        cstart[placed[i]] -= 1
    assign = np.empty(n, np.int64)
    score = np.zeros(n_centroids, np.float32)
    touched = np.empty(n_centroids, np.int64)
    in_touched = np.zeros(n_centroids, np.bool_)
    removed = np.zeros(n_centroids, np.bool_)
    everyone = np.ones(n, np.bool_)
    _assign(docs, top_comp, top_val, top_n, cstart, cend, ent_centroid, ent_value, n_centroids, removed, everyone,
            assign, score, touched, in_touched)
    sizes = np.zeros(n_centroids, np.int64)
    for i in range(n):
        sizes[assign[i]] += 1
    any_removed = False
    for j in range(n_centroids):
        if 0 < sizes[j] <= min_cluster_size:
            removed[j] = True
            any_removed = True
    if any_removed:
        again = np.zeros(n, np.bool_)
        for i in range(n):
            again[i] = removed[assign[i]]
        _assign(docs, top_comp, top_val, top_n, cstart, cend, ent_centroid, ent_value, n_centroids, removed, again,
                assign, score, touched, in_touched)
    for i in range(n_placed):  # leave the scratch all zero for the next list
        cstart[placed[i]] = 0
        cend[placed[i]] = 0
    keys = np.empty(n, np.int64)
    for i in range(n):
        keys[i] = centroid_doc[assign[i]] * n_docs_total + docs[i]
    order = np.argsort(keys)
    out = np.empty(n, np.int32)
    cluster_sizes = np.empty(n, np.int32)
    n_clusters = 0
    for i in range(n):
        out[i] = docs[order[i]]
        if i == 0 or assign[order[i]] != assign[order[i - 1]]:
            cluster_sizes[n_clusters] = 0
            n_clusters += 1
        cluster_sizes[n_clusters - 1] += 1
    return out, cluster_sizes[:n_clusters]


@njit(cache=True, nogil=True)
def fixed_blocks(docs, block_size):
    """Blocks of ``block_size`` consecutive postings of the weight-sorted list, docs by id inside a block."""
    n = docs.size
    n_blocks = (n + block_size - 1) // block_size
    out = docs.copy()
    sizes = np.empty(n_blocks, np.int32)
    for b in range(n_blocks):
        lo = b * block_size
        hi = min(n, lo + block_size)
        out[lo:hi] = np.sort(out[lo:hi])
        sizes[b] = hi - lo
    return out, sizes


# ------------------------------------------------------------------------------------------- summaries

N_BUCKETS = 4096  # float32 bits >> 19 of a positive value: exponent and 4 mantissa bits, order-preserving


@njit(cache=True, nogil=True)
def energy_prefix(comps, vals, m, fraction, bucket_sum):
    """Reorder ``comps``/``vals[:m]`` (values > 0) so that their first K entries are the K largest values,
    K being the fewest whose sum reaches ``fraction`` of the total: Seismic's take-while-inclusive over the
    values sorted in decreasing order. Linear time: a histogram over the float bits finds the bucket where
    the running sum crosses the target, and only that bucket is sorted. ``bucket_sum`` is float64 scratch
    of N_BUCKETS, all zero (and left so)."""
    if m <= 1 or fraction >= 1.0:
        return m
    bits = vals.view(np.uint32)
    total = 0.0
    lowest, highest = N_BUCKETS, -1
    for i in range(m):
        b = bits[i] >> 19
        bucket_sum[b] += vals[i]
        total += vals[i]
        lowest = min(lowest, b)
        highest = max(highest, b)
    need = np.float64(fraction) * total
    above = 0.0
    star = lowest
    for b in range(highest, lowest - 1, -1):
        if above + bucket_sum[b] >= need:
            star = b
            break
        above += bucket_sum[b]
    for b in range(lowest, highest + 1):
        bucket_sum[b] = 0.0
    kept = 0  # values above the crossing bucket go first, then the crossing bucket's values
    for i in range(m):
        if (bits[i] >> 19) > star:
            vals[i], vals[kept] = vals[kept], vals[i]
            comps[i], comps[kept] = comps[kept], comps[i]
            kept += 1
    end = kept
    for i in range(kept, m):
        if (bits[i] >> 19) == star:
            vals[i], vals[end] = vals[end], vals[i]
            comps[i], comps[end] = comps[end], comps[i]
            end += 1
    if end - kept > 32:
        order = np.argsort(-vals[kept:end], kind="mergesort")
        sorted_vals = vals[kept:end][order]
        sorted_comps = comps[kept:end][order]
        vals[kept:end] = sorted_vals
        comps[kept:end] = sorted_comps
    else:
        for i in range(kept + 1, end):  # insertion sort, descending
            v, c = vals[i], comps[i]
            j = i
            while j > kept and vals[j - 1] < v:
                vals[j] = vals[j - 1]
                comps[j] = comps[j - 1]
                j -= 1
            vals[j] = v
            comps[j] = c
    rest = need - above
    for i in range(kept, end):
        rest -= vals[i]
        if rest <= 0.0:
            return i + 1
    return end


SMALL_MAX_BLOCKS = 256      # a "small" list numbers its blocks in one byte ...
SMALL_MAX_ENTRIES = 65535   # ... and its summary entries with 16-bit offsets
MAX_BLOCKS = 65535


@njit(cache=True, nogil=True)
def build_lists(first, last, list_ptr, list_docs, indptr, indices, values, vocab_size, top_comp, top_val, top_n,
                fixed_block_size, centroid_fraction, min_cluster_size, summary_energy, seed):
    """Blocks and summaries of posting lists ``first`` .. ``last - 1``, in list order:

    - postings in block order, blocks per list, block sizes, block_min, block_quant;
    - per list: summary components, summary entries, whether the list is small;
    - sum_comp (int32), sum_code, then offsets (relative to the list's first entry) and block numbers
      split by list size: small_off uint16 / small_block uint8, large_off uint32 / large_block uint16.

    Returns them as a tuple; a list with more than MAX_BLOCKS blocks makes it return an empty tuple
    marker (-1 in the blocks-per-list slot of that list)."""
    n_docs_total = indptr.size - 1
    n_lists = last - first
    p0 = list_ptr[first]
    out_docs = np.empty(list_ptr[last] - p0, np.int32)
    blocks_per_list = np.zeros(n_lists, np.int64)
    comps_per_list = np.zeros(n_lists, np.int64)
    entries_per_list = np.zeros(n_lists, np.int64)
    small_list = np.zeros(n_lists, np.bool_)
    block_sizes = np.empty(out_docs.size, np.int32)
    block_min = np.empty(out_docs.size, np.float32)
    block_quant = np.empty(out_docs.size, np.float32)
    sum_comp = np.empty(1024, np.int32)
    sum_code = np.empty(4096, np.uint8)
    small_off = np.empty(1024, np.uint16)
    small_block = np.empty(4096, np.uint8)
    large_off = np.empty(1024, np.uint32)
    large_block = np.empty(4096, np.uint16)
    n_blocks_out = n_comps_out = n_entries_out = 0
    n_small_comps = n_small_entries = n_large_comps = n_large_entries = 0
    # scratch
    cstart = np.zeros(vocab_size, np.int64)
    cend = np.zeros(vocab_size, np.int64)
    smax = np.zeros(vocab_size, np.float32)
    count = np.zeros(vocab_size, np.int64)
    fill = np.zeros(vocab_size, np.int64)
    touched = np.empty(vocab_size + 1, np.int32)
    tvals = np.empty(vocab_size + 1, np.float32)
    bucket_sum = np.zeros(N_BUCKETS, np.float64)
    uniq = np.empty(vocab_size, np.int32)
    ent_comp = np.empty(4096, np.int32)
    ent_block = np.empty(4096, np.int32)
    ent_code = np.empty(4096, np.uint8)
    for t in range(first, last):
        lo, hi = list_ptr[t], list_ptr[t + 1]
        if hi == lo:
            continue
        if fixed_block_size > 0:
            docs, sizes = fixed_blocks(list_docs[lo:hi], fixed_block_size)
        else:
            state = U64(seed) * U64(0x100000001B3) + U64(t)
            docs, sizes = cluster_blocks(list_docs[lo:hi], indptr, indices, values, top_comp, top_val, top_n,
                                         cstart, cend, centroid_fraction, min_cluster_size, state, n_docs_total)
        if sizes.size > MAX_BLOCKS:
            blocks_per_list[t - first] = -1
            break
        out_docs[lo - p0:hi - p0] = docs
        n_list_entries = 0
        start = 0
        for b in range(sizes.size):
            # coordinate-wise max over the block's docs (branch-free: a first touch appends the component)
            m = 0
            for i in range(start, start + sizes[b]):
                d = docs[i]
                for x in range(indptr[d], indptr[d + 1]):
                    c = indices[x]
                    v = values[x]
                    old = smax[c]
                    touched[m] = c
                    m += np.int64((old == 0.0) & (v > 0.0))
                    smax[c] = max(old, v)
            start += sizes[b]
            for i in range(m):
                tvals[i] = smax[touched[i]]
                smax[touched[i]] = 0.0
            kept = energy_prefix(touched, tvals, m, summary_energy, bucket_sum)
            lo_v, hi_v = np.float32(np.inf), np.float32(0.0)
            for i in range(kept):
                lo_v = min(lo_v, tvals[i])
                hi_v = max(hi_v, tvals[i])
            if kept == 0:
                lo_v = np.float32(0.0)
            quant = (hi_v - lo_v) / np.float32(255.0)
            while lo_v + quant * np.float32(255.0) < hi_v:  # the top code must reach the largest value
                quant = np.nextafter(quant, np.float32(np.inf))
            block_min[n_blocks_out] = lo_v
            block_quant[n_blocks_out] = quant
            block_sizes[n_blocks_out] = sizes[b]
            n_blocks_out += 1
            ent_comp = _grow(ent_comp, n_list_entries + kept)
            ent_block = _grow(ent_block, n_list_entries + kept)
            ent_code = _grow(ent_code, n_list_entries + kept)
            for i in range(kept):
                code = 0
                if quant > 0.0:  # rounded up, so that every dequantised value bounds the block's maximum
                    code = min(max(int(np.ceil((tvals[i] - lo_v) / quant)), 0), 255)
                    if code < 255 and lo_v + quant * np.float32(code) < tvals[i]:  # the division rounded down
                        code += 1
                ent_comp[n_list_entries] = touched[i]
                ent_block[n_list_entries] = b
                ent_code[n_list_entries] = code
                n_list_entries += 1
        # transpose the list's summaries to component-major order (blocks stay in order per component)
        n_uniq = 0
        for i in range(n_list_entries):
            c = ent_comp[i]
            if count[c] == 0:
                uniq[n_uniq] = c
                n_uniq += 1
            count[c] += 1
        uniq[:n_uniq] = np.sort(uniq[:n_uniq])
        small = sizes.size <= SMALL_MAX_BLOCKS and n_list_entries <= SMALL_MAX_ENTRIES
        sum_comp = _grow(sum_comp, n_comps_out + n_uniq)
        if small:
            small_off = _grow(small_off, n_small_comps + n_uniq)
            small_block = _grow(small_block, n_small_entries + n_list_entries)
        else:
            large_off = _grow(large_off, n_large_comps + n_uniq)
            large_block = _grow(large_block, n_large_entries + n_list_entries)
        position = 0
        for i in range(n_uniq):
            c = uniq[i]
            sum_comp[n_comps_out + i] = c
            if small:
                small_off[n_small_comps + i] = position
            else:
                large_off[n_large_comps + i] = position
            fill[c] = position
            position += count[c]
            count[c] = 0
        sum_code = _grow(sum_code, n_entries_out + n_list_entries)
        for i in range(n_list_entries):
            c = ent_comp[i]
            at = fill[c]
            fill[c] = at + 1
            sum_code[n_entries_out + at] = ent_code[i]
            if small:
                small_block[n_small_entries + at] = ent_block[i]
            else:
                large_block[n_large_entries + at] = ent_block[i]
        blocks_per_list[t - first] = sizes.size
        comps_per_list[t - first] = n_uniq
        entries_per_list[t - first] = n_list_entries
        small_list[t - first] = small
        n_comps_out += n_uniq
        n_entries_out += n_list_entries
        if small:
            n_small_comps += n_uniq
            n_small_entries += n_list_entries
        else:
            n_large_comps += n_uniq
            n_large_entries += n_list_entries
    return (out_docs, blocks_per_list, block_sizes[:n_blocks_out].copy(), block_min[:n_blocks_out].copy(),
            block_quant[:n_blocks_out].copy(), comps_per_list, entries_per_list, small_list,
            sum_comp[:n_comps_out].copy(), sum_code[:n_entries_out].copy(),
            small_off[:n_small_comps].copy(), small_block[:n_small_entries].copy(),
            large_off[:n_large_comps].copy(), large_block[:n_large_entries].copy())
