"""The sparse vector store: CSR arrays on disk plus vocabulary, ids and a manifest.

Layout of a store folder::

    manifest.json   kind "lilsr.vectors", model, parameters, counts, versions, sha256 of each file
    indptr.npy      int64, n_docs + 1
    indices.npy     int32, vocabulary ids, sorted within each row
    values.npy      float32, > 0 and finite
    vocab.json      token strings in id order
    ids.txt         external document ids, one per line

Arrays load memory-mapped. A store is written to a hidden sibling folder and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..locks import locks_output
from ..atomic import atomic_dir, fault_point
from ..errors import LilsrError
from ..manifest import MANIFEST, read_manifest, read_vocab, verify_hashes, write_manifest

KIND = "lilsr.vectors"
_ARRAYS = {"indptr": np.int64, "indices": np.int32, "values": np.float32}


def vocab_digest(vocab: Sequence[str]) -> str:
    """A short fingerprint of a vocabulary, to tell whether two artefacts share one."""
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()[:16]


@dataclass
class SparseVectors:
    """Rows of sparse vectors over a vocabulary. Plain arrays; ``csr`` builds a scipy view on demand."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    vocab: list[str]
    ids: list[str]
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), len(self.vocab)

    @property
    def csr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.values, self.indices, self.indptr), shape=self.shape)

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, i: int) -> dict[str, float]:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return {self.vocab[t]: float(v) for t, v in zip(self.indices[lo:hi], self.values[lo:hi])}

    def stats(self) -> dict:
        lengths = self.row_lengths()
        return {
            "docs": len(self),
            "nnz": self.nnz,
            "mean_nnz": float(lengths.mean()) if len(lengths) else 0.0,
            "empty_docs": int((lengths == 0).sum()),
            "vocab_size": len(self.vocab),
            # bincount streams over memory-mapped ids in O(vocabulary) memory (np.unique would sort them all)
            "vocab_used": int(np.count_nonzero(np.bincount(self.indices, minlength=len(self.vocab))))
            if self.nnz else 0,
        }

    @classmethod
    def from_scipy(cls, matrix, vocab: Sequence[str], ids: Sequence[str]) -> "SparseVectors":
        """Canonicalise a scipy matrix (sorted indices, explicit zeros removed) into a store in memory."""
        csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        csr.eliminate_zeros()
        csr.sum_duplicates()
        csr.sort_indices()
        return cls(csr.indptr.astype(np.int64), csr.indices.astype(np.int32), csr.data.astype(np.float32),
                   list(vocab), list(ids))

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[str, float]], vocab: Sequence[str], ids: Sequence[str],
                   source: str = "input") -> "SparseVectors":
        """Build from ``{token: weight}`` rows; tokens outside ``vocab`` are an error."""
        token_id = {token: i for i, token in enumerate(vocab)}
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indices: list[int] = []
        values: list[float] = []
        for r, (doc_id, row) in enumerate(zip(ids, rows)):
            for token, weight in row.items():
                if token not in token_id:
                    raise LilsrError(f"{source}: document {doc_id!r} has token {token!r} outside the vocabulary")
                indices.append(token_id[token])
                values.append(weight)
            indptr[r + 1] = len(indices)
        matrix = sp.csr_matrix((np.asarray(values, np.float32), np.asarray(indices, np.int64), indptr),
                               shape=(len(rows), len(vocab)))
        return cls.from_scipy(matrix, vocab, ids)


# Entries per slice of the structure check: small enough that its passes over a slice hit the CPU cache.
_CHECK_CHUNK = 1 << 20
_ID_PROBLEM = re.compile(r"[^\S\n]|^$", re.MULTILINE)
_ASCII_SPACE = " \t\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split() splits on, besides newlines


def validate(vectors: SparseVectors, source: str | Path = "vectors", check_ids: bool = True) -> None:
    """Refuse what no engine can use, in vectorised numpy over the whole store (run on every save and load):
    ``indptr`` starts at 0 and never decreases; ``indices`` increase strictly within each row and lie inside
    the vocabulary; ``values`` are finite and above 0; with ``check_ids``, document ids are unique, non-empty
    and free of whitespace (a load skips this when ids.txt still has the sha256 its validated save recorded).

    Slice by slice, in a few threads (numpy releases the GIL): the weights' min and max, and one comparison
    of each id with its predecessor, whose decreases must all be row starts; as rows then increase, each
    row's first and last ids bound it. Its cost at 1M documents: docs/reliability.md.

    ``source`` is the store folder (messages then name the array file) or a description of the input."""
    folder = source if isinstance(source, Path) else None
    where = (lambda name: folder / f"{name}.npy") if folder is not None else (lambda name: f"{source} ({name})")
    indptr, indices, values = vectors.indptr, vectors.indices, vectors.values
    n, vocab_size = len(vectors.ids), len(vectors.vocab)
    for name, array in (("indptr", indptr), ("indices", indices), ("values", values)):
        if array.ndim != 1:
            raise LilsrError(f"{where(name)}: a {array.ndim}-d array, expected 1-d; {_DAMAGED}")
    if indptr.shape != (n + 1,) or indptr[0] != 0:
        raise LilsrError(f"{where('indptr')}: {indptr.shape[0]} offsets for {n} documents (or not starting at 0); "
                         f"{_DAMAGED}")
    indptr = np.asarray(indptr)
    lengths = np.diff(indptr)
    if lengths.size and lengths.min() < 0:
        row = int(np.flatnonzero(lengths < 0)[0])
        raise LilsrError(f"{where('indptr')}: offsets decrease at document {vectors.ids[row]!r}; {_DAMAGED}")
    nnz = int(indptr[-1])
    if indices.shape != (nnz,) or values.shape != (nnz,):
        raise LilsrError(f"{where('indices')}: indices/values hold {indices.shape[0]}/{values.shape[0]} entries, "
                         f"indptr says {nnz}; {_DAMAGED}")
    live = lengths > 0
    firsts, lasts = indptr[:-1][live], indptr[1:][live] - 1  # of the non-empty rows, increasing
    scratch = threading.local()  # one comparison buffer per thread: no fresh pages to fault in per slice

    def slice_check(lo: int) -> int:
        """-1 when a weight in [lo, hi) is not finite and above 0, else the number of positions j in [lo, hi)
        (j >= 1) whose id is <= its predecessor's."""
        hi = min(nnz, lo + _CHECK_CHUNK)
        chunk = values[lo:hi]
        if not (chunk.min() > 0 and chunk.max() < np.inf):  # NaN fails both comparisons
            return -1
        base = max(lo - 1, 0)
        window = indices[base:hi]
        if getattr(scratch, "buffer", None) is None:
            scratch.buffer = np.empty(_CHECK_CHUNK, dtype=bool)
        return int(np.count_nonzero(np.less_equal(window[1:], window[:-1], out=scratch.buffer[:window.size - 1])))

    slices = range(0, nnz, _CHECK_CHUNK)
    if len(slices) > 8:
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            drops = np.fromiter(pool.map(slice_check, slices), dtype=np.int64, count=len(slices))
    else:
        drops = np.fromiter(map(slice_check, slices), dtype=np.int64, count=len(slices))
    if (drops < 0).any():
        lo = slices[int(np.argmax(drops < 0))]
        chunk = values[lo:lo + _CHECK_CHUNK]
        j = lo + int(np.flatnonzero(~((chunk > 0) & (chunk < np.inf)))[0])
        raise LilsrError(f"{where('values')}: document {_doc_at(vectors, j)!r} has weight {float(values[j])!r} for "
                         f"token id {int(indices[j])}; weights must be finite and above 0 ({_DAMAGED_OR_INPUT})")
    # A decrease is allowed only where a row starts, i.e. from one row's last id to the next row's first.
    # If those account for every decrease, rows increase, and each row's first and last ids bound it.
    row_firsts, row_lasts = indices[firsts], indices[lasts]
    at_start = row_firsts[1:] <= row_lasts[:-1]
    if drops.sum() != np.count_nonzero(at_start):
        allowed = np.bincount(firsts[1:][at_start] // _CHECK_CHUNK, minlength=len(slices))
        lo = slices[int(np.flatnonzero(drops != allowed)[0])]
        hi = min(nnz, lo + _CHECK_CHUNK)
        _check_range(vectors, lo, hi, where)  # an id outside the vocabulary: the more precise complaint
        base = max(lo - 1, 0)
        window = indices[base:hi]
        not_increasing = np.flatnonzero(window[1:] <= window[:-1]) + base + 1
        j = int(not_increasing[~np.isin(not_increasing, firsts)][0])
        raise LilsrError(f"{where('indices')}: token ids of document {_doc_at(vectors, j)!r} are not sorted "
                         f"and unique (id {int(indices[j])} after {int(indices[j - 1])}); {_DAMAGED}")
    if nnz and (row_firsts.min() < 0 or row_lasts.max() >= vocab_size):
        row = int(np.flatnonzero(live)[np.flatnonzero((row_firsts < 0) | (row_lasts >= vocab_size))[0]])
        _check_range(vectors, int(indptr[row]), int(indptr[row + 1]), where)
    if check_ids:
        _check_ids(vectors.ids, folder, source)


def _check_range(vectors: SparseVectors, lo: int, hi: int, where) -> None:
    ids, vocab_size = vectors.indices[lo:hi], len(vectors.vocab)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        j = lo + int(np.flatnonzero((ids < 0) | (ids >= vocab_size))[0])
        raise LilsrError(f"{where('indices')}: document {_doc_at(vectors, j)!r} has token id {int(vectors.indices[j])}, "
                         f"outside the vocabulary of {vocab_size} tokens; {_DAMAGED}")


def _check_ids(ids: list[str], folder: Path | None, source) -> None:
    text = "\n".join(ids)
    suspicious = ids and (not text.isascii() or any(c in text for c in _ASCII_SPACE) or "\n\n" in text
                          or text.startswith("\n") or text.endswith("\n") or not text)
    bad_id = _ID_PROBLEM.search(text) if suspicious else None
    if bad_id:
        line = text.count("\n", 0, bad_id.start()) + 1
        raise LilsrError(f"{_ids_file(folder, source)}:{line}: document id {ids[line - 1]!r} is empty or "
                         "contains whitespace (TREC runs separate columns by whitespace)")
    if len(set(ids)) != len(ids):
        first: dict[str, int] = {}
        for line, doc_id in enumerate(ids, start=1):
            if doc_id in first:
                raise LilsrError(f"{_ids_file(folder, source)}:{line}: duplicate document id {doc_id!r} (first on "
                                 f"line {first[doc_id]})")
            first[doc_id] = line


_DAMAGED = "the store is damaged, re-encode it (or check it with 'lilsr vectors info --verify')"
_DAMAGED_OR_INPUT = "a damaged store or a bad encoder output; re-encode it"


def _ids_file(folder: Path | None, source) -> str:
    return str(folder / "ids.txt") if folder is not None else str(source)


def _doc_at(vectors: SparseVectors, position: int) -> str:
    row = int(np.searchsorted(vectors.indptr, position, side="right") - 1)
    return vectors.ids[row] if 0 <= row < len(vectors.ids) else f"#{row}"


@locks_output("path")
def save_vectors(path: str | Path, vectors: SparseVectors, *, model: str | None = None,
                 params: dict | None = None, overwrite: bool = False, extra_counts: dict | None = None,
                 extra_arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Validate and write a store atomically. Returns the store path. ``extra_arrays``: more ``NAME.npy``
    files written (and hashed) with it, e.g. the permutation of a reordered store."""
    validate(vectors, f"{path} (being written)")
    path = Path(path)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        for name, dtype in _ARRAYS.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(vectors, name), dtype=dtype))
        for name, array in (extra_arrays or {}).items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
        fault_point("vectors:write")
        (tmp / "vocab.json").write_text(json.dumps(vectors.vocab, ensure_ascii=False), encoding="utf-8")
        (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in vectors.ids), encoding="utf-8")
        counts = {**vectors.stats(), **(extra_counts or {})}
        vectors.manifest = write_manifest(
            tmp, KIND, params=params, counts=counts, model=model, vocab_digest=vocab_digest(vectors.vocab),
            hash_files=[f"{name}.npy" for name in [*_ARRAYS, *(extra_arrays or {})]] + ["vocab.json", "ids.txt"])
    vectors.path = path
    return path


def load_vectors(path: str | Path, mmap: bool = True, verify: bool = False, check: bool = True) -> SparseVectors:
    """Load a store (arrays memory-mapped by default). Its structure is checked every time (``validate``:
    a damaged store must never reach an engine, whose compiled loops do not bounds-check); ``verify`` also
    re-checks every file's sha256 (it reads every byte: slow on big stores). ``check=False`` skips the
    structure check and the sha256 of ids.txt, only to measure what they cost (benchmarks/store_check.py)."""
    path = Path(path)
    manifest = read_manifest(path, KIND)
    if verify:
        verify_hashes(path, manifest)
    arrays = {}
    for name, dtype in _ARRAYS.items():
        file = path / f"{name}.npy"
        try:
            arrays[name] = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise LilsrError(f"{file} is missing; the store is incomplete, re-encode it") from None
        except (OSError, ValueError) as exc:
            raise LilsrError(f"{file}: unreadable array ({_one_line(exc)}); {_DAMAGED}") from None
        if arrays[name].dtype != dtype:
            raise LilsrError(f"{file}: dtype {arrays[name].dtype}, expected {np.dtype(dtype)}; {_DAMAGED}")
    vocab = _read_vocab(path / "vocab.json")
    ids, ids_bytes = _read_lines(path / "ids.txt")
    vectors = SparseVectors(arrays["indptr"], arrays["indices"], arrays["values"], vocab, ids, manifest, path)
    counts = manifest.get("counts", {})
    if counts.get("docs") != len(ids) or len(vectors.indptr) != len(ids) + 1:
        raise LilsrError(f"{path}: ids.txt holds {len(ids)} ids, indptr.npy {len(vectors.indptr) - 1} rows and the "
                         f"manifest {counts.get('docs')} documents; {_DAMAGED}")
    if len(vectors.indptr) and counts.get("nnz") != int(vectors.indptr[-1]):
        raise LilsrError(f"{path}: indptr.npy ends at {int(vectors.indptr[-1])}, the manifest says "
                         f"{counts.get('nnz')} non-zeros; {_DAMAGED}")
    if counts.get("vocab_size", len(vocab)) != len(vocab) or (
            manifest.get("vocab_digest") and manifest["vocab_digest"] != vocab_digest(vocab)):
        raise LilsrError(f"{path / 'vocab.json'}: not the vocabulary the manifest records; {_DAMAGED}")
    # ids.txt as its validated save wrote it (same sha256, ~10 ms for 1M ids) needs no per-id check (~0.1 s)
    if not check:
        return vectors
    recorded = manifest.get("sha256", {}).get("ids.txt")
    ids_sha256 = _sha256(ids_bytes)
    validate(vectors, path, check_ids=recorded != ids_sha256)
    if recorded and recorded != ids_sha256:
        raise LilsrError(f"{path / 'ids.txt'}: checksum differs from {MANIFEST}; {_DAMAGED}")
    return vectors


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:200]


def _read_vocab(file: Path) -> list[str]:
    return read_vocab(file, _DAMAGED)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_lines(file: Path) -> tuple[list[str], bytes]:
    """The lines of a UTF-8 file, and its bytes."""
    try:
        data = file.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise LilsrError(f"{file} is missing; {_DAMAGED}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LilsrError(f"{file}:{line}: not UTF-8; {_DAMAGED}") from None
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []
    return lines, data


def posting_lengths(vectors: SparseVectors) -> np.ndarray:
    """Length of each term's posting list (documents with a non-zero weight for the term)."""
    return np.bincount(np.asarray(vectors.indices), minlength=len(vectors.vocab))


def posting_stats(lengths: np.ndarray) -> dict:
    """Summary of posting-list lengths over the terms that have at least one posting."""
    live = lengths[lengths > 0]
    if live.size == 0:
        return {"terms": 0, "postings": 0}
    p50, p90, p99, p999 = np.percentile(live, [50, 90, 99, 99.9])
    return {"terms": int(live.size), "postings": int(live.sum()), "mean_length": float(live.mean()),
            "p50_length": float(p50), "p90_length": float(p90), "p99_length": float(p99),
            "p99.9_length": float(p999), "max_length": int(live.max())}
