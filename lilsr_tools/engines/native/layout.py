"""The native index on disk: plain ``.npy`` arrays plus ``manifest.json``, memory-mapped on load.

Arrays (``C`` is uint16 when the vocabulary has at most 65,536 tokens, else uint32; ``W`` is uint32 or
uint64 accordingly)::

    fwd_ptr              int64   [docs + 1]   forward index: doc d is fwd[fwd_ptr[d]:fwd_ptr[d+1]]
    fwd                  W       [nnz]        one word per entry: the component id in the low half, the
                                              float16 weight's bits above it (components sorted within a doc);
                                              with 8-bit values (``value_bits`` 8) only the component id
                                              (uint16, or int32 past 65,536 tokens: never a word's dtype)
    list_block_ptr       int64   [vocab + 1]  the blocks of term t: list_block_ptr[t]:list_block_ptr[t+1]
    block_ptr            int64   [blocks + 1] the postings of block b: postings[block_ptr[b]:block_ptr[b+1]]
    postings             int32   [postings]   doc ids (a block's docs in increasing id order)
    block_min            float32 [blocks]     summary dequantisation: value = block_min + block_quant * code
    block_quant          float32 [blocks]
    list_comp_ptr        int64   [vocab + 1]  summary components of term t's list: sum_comp[...]
    list_entry_ptr       int64   [vocab + 1]  summary entries of term t's list: sum_code[...]
    list_small_comp_ptr  int64   [vocab + 1]  the same two counted over small lists only (a list is small when
    list_small_entry_ptr int64   [vocab + 1]  it has <= 256 blocks and <= 65,535 entries)
    sum_comp             C       [comps]      each list's summary components, sorted
    sum_code             uint8   [entries]    quantised summary values, component-major within a list
    small_off            uint16  [small comps]    where each component's entries start, relative to its list
    small_block          uint8   [small entries]  the block (within its list) of each entry
    large_off            uint32  [large comps]    the same for the other lists
    large_block          uint16  [large entries]
    fwd_code             uint8   [nnz or 0]   8-bit values: weight = fwd_scale[2d] + fwd_scale[2d + 1] * code
    fwd_scale            float32 [2 docs or 0] 8-bit values: per document its minimum weight and step
                                              (both empty with float16 values; a format-1 index has neither file)

Summaries are stored component-major per posting list (as Seismic does), so scoring a list's summaries
touches only the query's components. Loading checks shapes against the manifest (a truncated file is
refused) and walks every pointer and id once in compiled code (numba does not bounds-check, so a corrupt
array must never reach the search kernel); ``verify=True`` also re-checks each file's sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from ...errors import LilsrError
from ...manifest import read_manifest, verify_hashes
from ...vectors.store import vocab_digest

KIND = "lilsr.native-index"
FORMAT_VERSION = 2  # 2 added the 8-bit forward index (fwd_code, fwd_scale); 1 reads as float16 values
READABLE_FORMATS = (1, 2)
VALUE_BITS = (16, 8)  # forward-index weights: float16, or 8-bit codes scaled per document
OPTIONAL_IN_FORMAT_1 = ("fwd_code", "fwd_scale")

# name -> dtype ("C": chosen per index, recorded in the manifest)
ARRAYS = {
    "fwd_ptr": "int64", "fwd": "W",
    "list_block_ptr": "int64", "block_ptr": "int64", "postings": "int32", "block_min": "float32",
    "block_quant": "float32", "list_comp_ptr": "int64", "list_entry_ptr": "int64", "list_small_comp_ptr": "int64",
    "list_small_entry_ptr": "int64", "sum_comp": "C", "sum_code": "uint8", "small_off": "uint16",
    "small_block": "uint8", "large_off": "uint32", "large_block": "uint16",
    "fwd_code": "uint8", "fwd_scale": "float32",
}


@dataclass
class IndexArrays:
    fwd_ptr: np.ndarray
    fwd: np.ndarray  # (component, float16 bits) words: one stream per document, half the cache misses
    list_block_ptr: np.ndarray
    block_ptr: np.ndarray
    postings: np.ndarray
    block_min: np.ndarray
    block_quant: np.ndarray
    list_comp_ptr: np.ndarray
    list_entry_ptr: np.ndarray
    list_small_comp_ptr: np.ndarray
    list_small_entry_ptr: np.ndarray
    sum_comp: np.ndarray
    sum_code: np.ndarray
    small_off: np.ndarray
    small_block: np.ndarray
    large_off: np.ndarray
    large_block: np.ndarray
    fwd_code: np.ndarray   # 8-bit values only (else empty)
    fwd_scale: np.ndarray  # 8-bit values only (else empty): per doc (minimum, step)

    @property
    def n_docs(self) -> int:
        return len(self.fwd_ptr) - 1

    @property
    def vocab_size(self) -> int:
        return len(self.list_block_ptr) - 1

    def kernel_args(self) -> tuple:
        """The arrays in the order the search kernels take them."""
        return tuple(getattr(self, name) for name in ARRAYS)


def component_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def forward_dtype(vocab_size: int) -> np.dtype:
    """A forward-index word: component id and float16 bits, twice the component's width."""
    return np.dtype(np.uint32 if vocab_size <= 1 << 16 else np.uint64)


def forward8_dtype(vocab_size: int) -> np.dtype:
    """Component ids of an 8-bit forward index: uint16, else int32 - dtypes a float16 word never has, so
    the search kernel picks its scoring path by type."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)


def pack_forward(indices: np.ndarray, values: np.ndarray, vocab_size: int) -> np.ndarray:
    word = forward_dtype(vocab_size)
    half = word.itemsize * 4
    bits = np.asarray(values, dtype=np.float16).view(np.uint16).astype(word)
    return np.asarray(indices).astype(word) | (bits << word.type(half))


def unpack_forward(fwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(component ids, float32 weights) of forward-index words."""
    half = fwd.dtype.itemsize * 4
    comps = fwd & fwd.dtype.type((1 << half) - 1)
    weights = (fwd >> fwd.dtype.type(half)).astype(np.uint16).view(np.float16).astype(np.float32)
    return comps, weights


@njit(cache=True, nogil=True)
def quantize_rows8(indptr, values):
    """8-bit codes of each document's weights on the document's own affine scale: weight ~ minimum + step *
    code, step = (maximum - minimum) / 255, so each document's largest and smallest weights are exact and
    none becomes zero. Returns (codes uint8[nnz], scale float32[2 docs] = minimum, step per document)."""
    n_docs = indptr.size - 1
    codes = np.zeros(indptr[n_docs], np.uint8)
    scale = np.zeros(2 * n_docs, np.float32)
    for d in range(n_docs):
        lo, hi = indptr[d], indptr[d + 1]
        if hi == lo:
            continue
        low = values[lo]
        high = values[lo]
        for j in range(lo + 1, hi):
            low = min(low, values[j])
            high = max(high, values[j])
        step = np.float32((high - low) / np.float32(255.0))
        scale[2 * d] = low
        scale[2 * d + 1] = step
        if step > 0:
            for j in range(lo, hi):
                codes[j] = np.uint8(min(255.0, np.floor((values[j] - low) / step + np.float32(0.5))))
    return codes, scale


@njit(cache=True, nogil=True)
def dequantize_rows8(indptr, codes, scale):
    """The float32 weights that 8-bit codes stand for (what the search kernel scores)."""
    n_docs = indptr.size - 1
    values = np.empty(codes.size, np.float32)
    for d in range(n_docs):
        low, step = scale[2 * d], scale[2 * d + 1]
        for j in range(indptr[d], indptr[d + 1]):
            values[j] = low + step * np.float32(codes[j])
    return values


def stored_values(indptr: np.ndarray, values: np.ndarray, value_bits: int) -> np.ndarray:
    """The weights as a forward index with ``value_bits`` stores them (float16, or 8-bit per document)."""
    if value_bits == 16:
        return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)
    if value_bits == 8:
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        codes, scale = quantize_rows8(indptr, np.ascontiguousarray(values, dtype=np.float32))
        return dequantize_rows8(indptr, codes, scale)
    raise LilsrError(f"value bits must be one of {', '.join(map(str, VALUE_BITS))}, not {value_bits!r}")


def value_bits_of(manifest: dict) -> int:
    return int((manifest.get("params") or {}).get("value_bits", 16))


def expected_shapes(counts: dict, value_bits: int = 16) -> dict[str, int]:
    docs, vocab, blocks = counts["docs"], counts["vocab_size"], counts["blocks"]
    comps, entries = counts["list_comps"], counts["summary_entries"]
    small_comps, small_entries = counts["small_comps"], counts["small_entries"]
    eight = value_bits == 8
    return {"fwd_ptr": docs + 1, "fwd": counts["nnz"], "fwd_code": counts["nnz"] if eight else 0,
            "fwd_scale": 2 * docs if eight else 0,
            "list_block_ptr": vocab + 1, "block_ptr": blocks + 1, "postings": counts["postings"],
            "block_min": blocks, "block_quant": blocks, "list_comp_ptr": vocab + 1, "list_entry_ptr": vocab + 1,
            "list_small_comp_ptr": vocab + 1, "list_small_entry_ptr": vocab + 1, "sum_comp": comps,
            "sum_code": entries, "small_off": small_comps, "small_block": small_entries,
            "large_off": comps - small_comps, "large_block": entries - small_entries}


def _dtype(spec: str, manifest: dict) -> np.dtype:
    if spec == "W":  # 8-bit values: the words hold only the component id
        vocab_size = manifest["counts"]["vocab_size"]
        return forward8_dtype(vocab_size) if value_bits_of(manifest) == 8 else forward_dtype(vocab_size)
    return np.dtype(manifest["component_dtype"] if spec == "C" else spec)


def load_arrays(path: str | Path, verify: bool = False, in_memory: bool = False
                ) -> tuple[IndexArrays, dict, list[str], list[str]]:
    """Open an index folder: (arrays, manifest, vocabulary, doc ids). Refuses damaged folders. Arrays are
    memory-mapped, or with ``in_memory`` read into process memory (large arrays then get transparent huge
    pages: fewer TLB misses on the random forward-index reads, as an in-RAM index like Seismic's has)."""
    path = Path(path)
    manifest = read_manifest(path, KIND)
    format_version = manifest.get("format_version")
    if format_version not in READABLE_FORMATS:
        raise LilsrError(f"{path}: native index format {format_version!r}, this lilsr reads "
                         f"{', '.join(map(str, READABLE_FORMATS))}; rebuild it with 'lilsr index native'")
    value_bits = value_bits_of(manifest)
    if value_bits not in VALUE_BITS:
        raise LilsrError(f"{path / 'manifest.json'}: value_bits {value_bits!r} is not one of "
                         f"{', '.join(map(str, VALUE_BITS))}; rebuild the index")
    if verify:
        verify_hashes(path, manifest)
    try:
        shapes = expected_shapes(manifest["counts"], value_bits)
    except KeyError as exc:
        raise LilsrError(f"{path / 'manifest.json'}: counts lack {exc}; rebuild the index") from None
    arrays = {}
    for name, spec in ARRAYS.items():
        file = path / f"{name}.npy"
        if format_version == 1 and name in OPTIONAL_IN_FORMAT_1:
            empty = np.zeros(0, np.dtype(spec))
            empty.flags.writeable = False  # the numba type of a read-only memory map: one compiled kernel
            arrays[name] = empty
            continue
        try:
            array = np.load(file, mmap_mode="r")
        except FileNotFoundError:
            raise LilsrError(f"{file} is missing; the index is incomplete, rebuild it") from None
        except (OSError, ValueError) as exc:
            raise LilsrError(f"{file}: unreadable or truncated array ({exc}); rebuild the index") from None
        dtype = _dtype(spec, manifest)
        if array.dtype != dtype or array.ndim != 1 or array.shape[0] != shapes[name]:
            raise LilsrError(f"{file}: holds {array.dtype}[{array.shape}], the manifest expects {dtype}[{shapes[name]}]; "
                             "the index is damaged, rebuild it")
        if in_memory:
            array = np.array(array)
            array.flags.writeable = False  # the same numba type as a read-only memory map: one compiled kernel
        arrays[name] = array
    index = IndexArrays(**arrays)
    problem = check_structure(index)
    if problem:
        file, what = problem
        raise LilsrError(f"{path / file}: {what}; the index is corrupt, rebuild it (or check the files with verify)")
    vocab = _read_text(path / "vocab.json", json.loads)
    ids = _read_text(path / "ids.txt", str.splitlines)
    if not isinstance(vocab, list) or len(vocab) != index.vocab_size or not all(isinstance(t, str) for t in vocab):
        raise LilsrError(f"{path / 'vocab.json'}: not a list of the {index.vocab_size} tokens the arrays index; "
                         "rebuild the index")
    recorded = manifest.get("vocab_digest")
    if recorded and recorded != vocab_digest(vocab):  # another vocabulary of the same size: tokens would mis-map
        raise LilsrError(f"{path / 'vocab.json'}: vocabulary (digest {vocab_digest(vocab)}) differs from the one the "
                         f"index was built over (digest {recorded}); rebuild the index")
    if len(ids) != index.n_docs:
        raise LilsrError(f"{path / 'ids.txt'}: {len(ids)} document ids, the arrays hold {index.n_docs}; "
                         "rebuild the index")
    return index, manifest, vocab, ids


def _read_text(file: Path, parse):
    try:
        return parse(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LilsrError(f"{file} is missing; the index is incomplete, rebuild it") from None
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise LilsrError(f"{file}: unreadable ({exc}); rebuild the index") from None


def _per_list_lookup(n: int, list_ptr, small_ptr, small_list, small_values, large_values):
    """For items 0..n-1 laid out list by list (``list_ptr``): each item's list, and its value from
    ``small_values`` (indexed by the list's small-list position ``small_ptr`` plus the item's rank in its list)
    or, in a large list, from ``large_values`` (indexed by item minus ``small_ptr``)."""
    item = np.arange(n)
    lists = np.searchsorted(list_ptr, item, side="right") - 1
    in_small = small_list[lists]
    base = small_ptr[lists]
    values = np.empty(n, np.int64)
    values[in_small] = small_values[(base + item - list_ptr[lists])[in_small]]
    values[~in_small] = large_values[(item - base)[~in_small]]
    return lists, values


def summary_entries(index: IndexArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every block summary entry decoded: (global block number, component id, dequantised value), in stored
    order. For checks and inspection; the search kernels read the arrays directly."""
    n_comps, n_entries = index.sum_comp.size, index.sum_code.size
    small_list = index.list_small_comp_ptr[1:] > index.list_small_comp_ptr[:-1]
    # per summary component: its list, and where its entries start (small and large lists keep offsets apart)
    comp_list, offset = _per_list_lookup(n_comps, index.list_comp_ptr, index.list_small_comp_ptr, small_list,
                                         index.small_off, index.large_off)
    starts = index.list_entry_ptr[comp_list] + offset
    comps = np.repeat(index.sum_comp.astype(np.int64), np.diff(np.append(starts, n_entries)))
    # per entry: its block within the list, the same way
    entry_list, local = _per_list_lookup(n_entries, index.list_entry_ptr, index.list_small_entry_ptr, small_list,
                                         index.small_block, index.large_block)
    blocks = index.list_block_ptr[entry_list] + local
    values = index.block_min[blocks] + index.block_quant[blocks] * index.sum_code.astype(np.float32)
    return blocks, comps, values


# problem code of ``_check`` -> (the file it was found in, what is wrong)
_PROBLEMS = {
    1: ("fwd_ptr.npy", "not a non-decreasing list of offsets into the forward index"),
    2: ("fwd.npy", "a forward-index component id lies outside the vocabulary"),
    3: ("fwd.npy", "a forward-index weight is negative, infinite or NaN"),
    4: ("list_block_ptr.npy", "not a non-decreasing list of offsets into the blocks"),
    5: ("block_ptr.npy", "not a non-decreasing list of offsets into the postings"),
    6: ("postings.npy", "a posting names a document that does not exist"),
    14: ("list_comp_ptr.npy", "not a non-decreasing list of offsets into the summary components"),
    15: ("list_entry_ptr.npy", "not a non-decreasing list of offsets into the summary entries"),
    16: ("list_small_comp_ptr.npy", "not a non-decreasing list of offsets into small_off"),
    17: ("list_small_entry_ptr.npy", "not a non-decreasing list of offsets into small_block"),
    7: ("list_small_comp_ptr.npy", "the small lists' counts do not match large_off and large_block"),
    8: ("sum_comp.npy", "a summary's components are not sorted ids inside the vocabulary"),
    9: ("small_off.npy", "a posting list's summary offsets do not fit its entries"),
    10: ("small_block.npy", "a summary entry names a block outside its posting list"),
    18: ("large_off.npy", "a posting list's summary offsets do not fit its entries"),
    19: ("large_block.npy", "a summary entry names a block outside its posting list"),
    11: ("block_min.npy", "a block's dequantisation constants (block_min, block_quant) are not finite"),
    12: ("fwd_code.npy", "the 8-bit forward index's codes or per-document scales do not match the documents"),
    13: ("fwd_scale.npy", "a document's 8-bit scale is negative, infinite or NaN"),
}


def check_structure(index: IndexArrays) -> tuple[str, str] | None:
    """None for a sound index, else (the file at fault, what is wrong there): every pointer runs within
    the array it points into and every id within its range, so the search kernels never read out of bounds."""
    code, where = _check(*index.kernel_args())
    if not code:
        return None
    file, what = _PROBLEMS[code]
    return file, f"{what} (at position {where})"


@njit(cache=True, nogil=True)
def _check_ptr(ptr, end):
    """-1 when ``ptr`` runs from 0 to ``end`` without decreasing, else the first bad position."""
    if ptr.size == 0 or ptr[0] != 0 or ptr[ptr.size - 1] != end:
        return 0
    for i in range(ptr.size - 1):
        if ptr[i + 1] < ptr[i]:
            return i + 1
    return -1


@njit(cache=True, nogil=True)
def _check_list(t, sum_comp, c0, n_comps, off, off0, block, block0, n_entries, n_blocks, vocab):
    for r in range(n_comps):
        c = sum_comp[c0 + r]
        if c >= vocab or (r > 0 and c <= sum_comp[c0 + r - 1]):
            return 8, c0 + r
        start = np.int64(off[off0 + r])
        end = np.int64(off[off0 + r + 1]) if r + 1 < n_comps else n_entries
        if (r == 0 and start != 0) or end < start or end > n_entries:
            return 9, t
    for e in range(n_entries):
        if block[block0 + e] >= n_blocks:
            return 10, block0 + e
    return 0, 0


@njit(cache=True, nogil=True)
def _check(fwd_ptr, fwd, list_block_ptr, block_ptr, postings, block_min, block_quant, list_comp_ptr,
           list_entry_ptr, list_small_comp_ptr, list_small_entry_ptr, sum_comp, sum_code, small_off, small_block,
           large_off, large_block, fwd_code, fwd_scale):
    vocab = list_block_ptr.size - 1
    n_docs = fwd_ptr.size - 1
    at = _check_ptr(fwd_ptr, fwd.size)
    if at >= 0:
        return 1, at
    if fwd_scale.size > 0:  # 8-bit values: fwd holds component ids only
        if fwd_scale.size != 2 * n_docs or fwd_code.size != fwd.size:
            return 12, 0
        for j in range(fwd.size):
            if fwd[j] < 0 or fwd[j] >= vocab:
                return 2, j
        for i in range(fwd_scale.size):
            if not (np.isfinite(fwd_scale[i]) and fwd_scale[i] >= 0):
                return 13, i // 2
    else:
        if fwd_code.size != 0:
            return 12, 0
        half = np.uint64(fwd.itemsize * 4)  # unsigned throughout: numba turns uint64-with-int64 into float
        low = (np.uint64(1) << half) - np.uint64(1)
        for j in range(fwd.size):
            if (fwd[j] & low) >= vocab:
                return 2, j
            if ((fwd[j] >> half) & np.uint64(0xFFFF)) >= np.uint64(0x7C00):  # sign bit set, infinity or NaN
                return 3, j
    at = _check_ptr(list_block_ptr, block_min.size)
    if at >= 0:
        return 4, at
    at = _check_ptr(block_ptr, postings.size)
    if at >= 0:
        return 5, at
    for p in range(postings.size):
        if postings[p] < 0 or postings[p] >= n_docs:
            return 6, p
    for b in range(block_min.size):
        if not (np.isfinite(block_min[b]) and np.isfinite(block_quant[b])):
            return 11, b
    for code, ptr, end in ((14, list_comp_ptr, sum_comp.size), (15, list_entry_ptr, sum_code.size),
                           (16, list_small_comp_ptr, small_off.size), (17, list_small_entry_ptr, small_block.size)):
        at = _check_ptr(ptr, end)
        if at >= 0:
            return code, at
    if sum_comp.size - small_off.size != large_off.size or sum_code.size - small_block.size != large_block.size:
        return 7, vocab
    for t in range(vocab):
        n_blocks = list_block_ptr[t + 1] - list_block_ptr[t]
        c0, n_comps = list_comp_ptr[t], list_comp_ptr[t + 1] - list_comp_ptr[t]
        e0, n_entries = list_entry_ptr[t], list_entry_ptr[t + 1] - list_entry_ptr[t]
        sc0, n_small_comps = list_small_comp_ptr[t], list_small_comp_ptr[t + 1] - list_small_comp_ptr[t]
        se0, n_small_entries = list_small_entry_ptr[t], list_small_entry_ptr[t + 1] - list_small_entry_ptr[t]
        if n_small_comps > 0:
            if n_small_comps != n_comps or n_small_entries != n_entries:
                return 9, t
            code, where = _check_list(t, sum_comp, c0, n_comps, small_off, sc0, small_block, se0, n_entries,
                                      n_blocks, vocab)
        else:
            if n_small_entries != 0:
                return 9, t
            code, where = _check_list(t, sum_comp, c0, n_comps, large_off, c0 - sc0, large_block, e0 - se0,
                                      n_entries, n_blocks, vocab)
            if code == 9 or code == 10:  # the same problems, in the large lists' files
                code += 9
        if code:
            return code, where
    return 0, 0
