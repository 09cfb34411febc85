"""Converters between the vector store and other formats.

- Anserini ``JsonVectorCollection``: ``{"id", "contents", "vector": {token: int}}``. Anserini truncates
  float weights to integers, so we quantize on purpose, ``round(w * scale)``, drop zeros and record the
  scale in ``manifest.json``.
- Seismic JSONL: ``{"id", "content", "vector": {token: float}}``.
- scipy: ``SparseVectors.csr`` and ``SparseVectors.from_scipy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_dir
from ..data.jsonl import read_jsonl, require_field
from ..errors import LilsrError
from ..manifest import read_manifest, write_manifest
from .store import SparseVectors

JSON_VECTORS_KIND = "lilsr.json-vector-collection"
DEFAULT_SCALE = 100.0


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Integer impacts ``round(w * scale)`` (round half to even, never truncation)."""
    if not scale > 0:
        raise LilsrError(f"quantization scale must be positive, got {scale}")
    return np.rint(np.asarray(values, dtype=np.float64) * scale).astype(np.int32)


def quantized(vectors: SparseVectors, scale: float) -> SparseVectors:
    """The vectors as Lucene will see them: integer impacts divided back by the scale, zeros dropped."""
    impacts = quantize(vectors.values, scale)
    import scipy.sparse as sp

    matrix = sp.csr_matrix((impacts.astype(np.float32) / np.float32(scale), vectors.indices, vectors.indptr),
                           shape=vectors.shape)
    return SparseVectors.from_scipy(matrix, vectors.vocab, vectors.ids)


def _rows(vectors: SparseVectors, impacts: np.ndarray | None = None) -> Iterator[tuple[str, dict]]:
    values = vectors.values if impacts is None else impacts
    vocab = vectors.vocab
    for i, doc_id in enumerate(vectors.ids):
        lo, hi = int(vectors.indptr[i]), int(vectors.indptr[i + 1])
        if impacts is None:
            row = {vocab[t]: float(v) for t, v in zip(vectors.indices[lo:hi], values[lo:hi])}
        else:
            row = {vocab[t]: int(v) for t, v in zip(vectors.indices[lo:hi], values[lo:hi]) if v > 0}
        yield doc_id, row


def write_json_vector_collection(vectors: SparseVectors, out: str | Path, scale: float = DEFAULT_SCALE,
                                 docs_per_file: int = 500_000, overwrite: bool = False) -> dict:
    """Write Anserini ``JsonVectorCollection`` files (integer weights) under ``out/docs/`` plus a manifest.

    Returns the counts (documents, postings, weights that rounded to zero and were dropped)."""
    impacts = quantize(vectors.values, scale)
    counts = {"docs": len(vectors), "postings": int((impacts > 0).sum()),
              "dropped_zero_after_rounding": int((impacts <= 0).sum()),
              "empty_docs": 0}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        # The JSONL files go in docs/: Anserini reads every .json/.jsonl file of the folder it is given,
        # and manifest.json must not be taken for a document file.
        docs = tmp / "docs"
        docs.mkdir()
        handle = None
        for n, (doc_id, row) in enumerate(tqdm(_rows(vectors, impacts), total=len(vectors),
                                               desc="JsonVectorCollection", unit="doc", leave=False)):
            if n % docs_per_file == 0:
                if handle:
                    handle.close()
                handle = open(docs / f"docs{n // docs_per_file:05d}.jsonl", "w", encoding="utf-8")
            counts["empty_docs"] += not row
            handle.write(json.dumps({"id": doc_id, "contents": "", "vector": row}, ensure_ascii=False))
            handle.write("\n")
        if handle:
            handle.close()
        write_manifest(tmp, JSON_VECTORS_KIND, params={"scale": scale}, counts=counts,
                       source=str(vectors.path) if vectors.path else None,
                       vocab=vectors.vocab)
    return counts


def read_json_vector_collection(path: str | Path, vocab: list[str] | None = None) -> tuple[SparseVectors, float]:
    """Read a JsonVectorCollection folder back into float vectors (impact / scale) and return the scale.

    Files must hold integer weights: Anserini would silently truncate floats, so a float weight here is an
    error that names the file and line.
    """
    path = Path(path)
    manifest = read_manifest(path, JSON_VECTORS_KIND)
    scale = float(manifest["params"]["scale"])
    vocab = list(vocab if vocab is not None else manifest["vocab"])
    ids, rows = [], []
    for file in sorted((path / "docs").glob("*.jsonl")):
        for number, obj in read_jsonl(file):
            ids.append(str(require_field(obj, "id", file, number)))
            vector = require_field(obj, "vector", file, number, (dict,))
            check_integer_weights(vector, file, number)
            rows.append({token: weight / scale for token, weight in vector.items()})
    vectors = SparseVectors.from_dicts(rows, vocab, ids, source=str(path))
    return vectors, scale


def check_integer_weights(vector: dict, file, number: int) -> None:
    for token, weight in vector.items():
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise LilsrError(f"{file}:{number}: token {token!r} has weight {weight!r}, not an integer; Anserini "
                             "truncates floats silently, so quantize first (lilsr vectors export --format anserini)")


def write_seismic_jsonl(vectors: SparseVectors, out: str | Path, overwrite: bool = False) -> Path:
    """Seismic's JSONL input: one ``{"id", "content", "vector"}`` object per line."""
    from ..atomic import atomic_file

    with atomic_file(out, overwrite=overwrite) as handle:
        for doc_id, row in tqdm(_rows(vectors), total=len(vectors), desc="Seismic JSONL", unit="doc", leave=False):
            handle.write(json.dumps({"id": doc_id, "content": "", "vector": row}, ensure_ascii=False))
            handle.write("\n")
    return Path(out)


def read_seismic_jsonl(path: str | Path, vocab: list[str]) -> SparseVectors:
    ids, rows = [], []
    for number, obj in read_jsonl(path):
        ids.append(str(require_field(obj, "id", path, number)))
        rows.append(require_field(obj, "vector", path, number, (dict,)))
    return SparseVectors.from_dicts(rows, vocab, ids, source=str(path))
