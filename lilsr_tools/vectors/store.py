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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..atomic import atomic_dir
from ..errors import LilsrError
from ..manifest import read_manifest, verify_hashes, write_manifest

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


def validate(vectors: SparseVectors, source: str = "vectors") -> None:
    """Reject what no engine can use: non-finite or negative weights, bad ids, inconsistent arrays."""
    n = len(vectors.ids)
    if vectors.indptr.shape != (n + 1,) or vectors.indptr[0] != 0:
        raise LilsrError(f"{source}: indptr has {vectors.indptr.shape[0]} entries for {n} documents")
    if np.any(np.diff(vectors.indptr) < 0):
        raise LilsrError(f"{source}: indptr is not non-decreasing")
    nnz = int(vectors.indptr[-1])
    if vectors.indices.shape != (nnz,) or vectors.values.shape != (nnz,):
        raise LilsrError(f"{source}: indices/values hold {vectors.indices.shape[0]}/{vectors.values.shape[0]} "
                         f"entries, indptr says {nnz}")
    if nnz and (vectors.indices.min() < 0 or vectors.indices.max() >= len(vectors.vocab)):
        raise LilsrError(f"{source}: a component id lies outside the vocabulary of {len(vectors.vocab)} tokens")
    bad = ~np.isfinite(vectors.values)
    if bad.any():
        raise LilsrError(f"{source}: document {_doc_of(vectors, bad)!r} has a NaN or infinite weight; "
                         "fix the encoder output before storing")
    negative = vectors.values < 0
    if negative.any():
        raise LilsrError(f"{source}: document {_doc_of(vectors, negative)!r} has a negative weight; "
                         "learned sparse vectors must be non-negative")
    if len(set(vectors.ids)) != n:
        seen: set[str] = set()
        dup = next(i for i in vectors.ids if i in seen or seen.add(i))
        raise LilsrError(f"{source}: duplicate document id {dup!r}")


def _doc_of(vectors: SparseVectors, mask: np.ndarray) -> str:
    position = int(np.flatnonzero(mask)[0])
    row = int(np.searchsorted(vectors.indptr, position, side="right") - 1)
    return vectors.ids[row]


def save_vectors(path: str | Path, vectors: SparseVectors, *, model: str | None = None,
                 params: dict | None = None, overwrite: bool = False, extra_counts: dict | None = None) -> Path:
    """Validate and write a store atomically. Returns the store path."""
    validate(vectors, str(path))
    path = Path(path)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        for name, dtype in _ARRAYS.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(vectors, name), dtype=dtype))
        (tmp / "vocab.json").write_text(json.dumps(vectors.vocab, ensure_ascii=False), encoding="utf-8")
        (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in vectors.ids), encoding="utf-8")
        counts = {**vectors.stats(), **(extra_counts or {})}
        vectors.manifest = write_manifest(
            tmp, KIND, params=params, counts=counts, model=model, vocab_digest=vocab_digest(vectors.vocab),
            hash_files=[f"{name}.npy" for name in _ARRAYS] + ["vocab.json", "ids.txt"])
    vectors.path = path
    return path


def load_vectors(path: str | Path, mmap: bool = True, verify: bool = False) -> SparseVectors:
    """Load a store (arrays memory-mapped by default). ``verify`` re-checks every sha256."""
    path = Path(path)
    manifest = read_manifest(path, KIND)
    if verify:
        verify_hashes(path, manifest)
    arrays = {}
    for name, dtype in _ARRAYS.items():
        file = path / f"{name}.npy"
        try:
            arrays[name] = np.load(file, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as exc:
            raise LilsrError(f"{file}: unreadable array ({exc}); the store is damaged, re-encode it") from None
        if arrays[name].dtype != dtype:
            raise LilsrError(f"{file}: dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
    ids = (path / "ids.txt").read_text(encoding="utf-8").splitlines()
    vectors = SparseVectors(arrays["indptr"], arrays["indices"], arrays["values"], vocab, ids, manifest, path)
    counts = manifest.get("counts", {})
    if counts.get("docs") != len(ids) or counts.get("nnz") != vectors.nnz or len(vectors.indptr) != len(ids) + 1:
        raise LilsrError(f"{path}: arrays do not match the manifest counts; the store is damaged, re-encode it")
    if vectors.indices.shape[0] != vectors.nnz or vectors.values.shape[0] != vectors.nnz:
        raise LilsrError(f"{path}: arrays do not match the manifest counts; the store is damaged, re-encode it")
    return vectors


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
