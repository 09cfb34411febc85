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


MAX_IMPACT = int(np.iinfo(np.int32).max)  # Lucene term frequencies, CIFF tf and PISA frequencies are 32-bit


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Integer impacts ``round(w * scale)`` (round half to even, never truncation).

    An impact beyond 32 bits is refused (the cast would wrap it around silently)."""
    if not scale > 0:
        raise LilsrError(f"quantization scale must be positive, got {scale}")
    scaled = np.rint(np.asarray(values, dtype=np.float64) * scale)
    if scaled.size and scaled.max() > MAX_IMPACT:
        raise LilsrError(f"weight {float(np.max(values)):g} x scale {scale:g} exceeds the 32-bit impact limit "
                         f"{MAX_IMPACT}; choose a smaller scale")
    return scaled.astype(np.int32)


def quantized(vectors: SparseVectors, scale: float) -> SparseVectors:
    """The vectors as Lucene will see them: integer impacts divided back by the scale, zeros dropped."""
    impacts = quantize(vectors.values, scale)
    import scipy.sparse as sp

    matrix = sp.csr_matrix((impacts.astype(np.float32) / np.float32(scale), vectors.indices, vectors.indptr),
                           shape=vectors.shape)
    return SparseVectors.from_scipy(matrix, vectors.vocab, vectors.ids)


def impact_matrix(vectors: SparseVectors, scale: float):
    """The integer impacts ``round(w * scale)`` as a scipy CSR matrix (a copy), zeros after rounding dropped."""
    import scipy.sparse as sp

    matrix = sp.csr_matrix((quantize(vectors.values, scale), np.array(vectors.indices), np.array(vectors.indptr)),
                           shape=vectors.shape)
    matrix.eliminate_zeros()  # in place: on the copies above, never on the store's (memory-mapped) arrays
    return matrix


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


CHUNK = 1 << 24  # entries quantized at once: memory stays bounded whatever the store's size


def impact_counts(vectors: SparseVectors, scale: float) -> tuple[int, int, np.ndarray]:
    """(postings kept, weights that round to zero, posting length per token) of the vectors quantized at
    ``scale``, streamed in chunks."""
    lengths = np.zeros(len(vectors.vocab), np.int64)
    kept = dropped = 0
    for lo in range(0, vectors.nnz, CHUNK):
        impacts = quantize(vectors.values[lo:lo + CHUNK], scale)
        live = impacts > 0
        kept += int(live.sum())
        dropped += int(live.size - live.sum())
        lengths += np.bincount(np.asarray(vectors.indices[lo:lo + CHUNK])[live], minlength=len(vectors.vocab))
    return kept, dropped, lengths


def write_json_vector_collection(vectors: SparseVectors, out: str | Path, scale: float = DEFAULT_SCALE,
                                 docs_per_file: int = 100_000, overwrite: bool = False, progress: bool = True) -> dict:
    """Write Anserini ``JsonVectorCollection`` files (integer weights) under ``out/docs/`` plus a manifest.

    Returns the counts (documents, postings, weights that rounded to zero and were dropped). Rows are
    quantized a batch of documents at a time and each line is joined from pre-escaped token keys, so a
    million documents take seconds per hundred thousand, in bounded memory."""
    import operator

    postings, dropped, _ = impact_counts(vectors, scale)
    counts = {"docs": len(vectors), "postings": postings, "dropped_zero_after_rounding": dropped, "empty_docs": 0}
    keys = np.array([json.dumps(token, ensure_ascii=False) + ": " for token in vectors.vocab], dtype=object)
    ids = [json.dumps(doc_id, ensure_ascii=False) for doc_id in vectors.ids]
    indptr = np.asarray(vectors.indptr)
    batch = 8192
    with atomic_dir(out, overwrite=overwrite) as tmp:
        # The JSONL files go in docs/: Anserini reads every .json/.jsonl file of the folder it is given,
        # and manifest.json must not be taken for a document file.
        docs = tmp / "docs"
        docs.mkdir()
        handle = None
        with tqdm(total=len(vectors), desc="JsonVectorCollection", unit="doc", leave=False,
                  disable=not progress) as bar:
            for first in range(0, len(vectors), batch):
                last = min(len(vectors), first + batch)
                lo, hi = int(indptr[first]), int(indptr[last])
                impacts = quantize(vectors.values[lo:hi], scale)
                tokens = keys[np.asarray(vectors.indices[lo:hi])]
                lines = []
                for d in range(first, last):
                    a, b = int(indptr[d]) - lo, int(indptr[d + 1]) - lo
                    live = impacts[a:b] > 0
                    row = ", ".join(map(operator.add, tokens[a:b][live], map(str, impacts[a:b][live].tolist())))
                    counts["empty_docs"] += not row
                    lines.append(f'{{"id": {ids[d]}, "contents": "", "vector": {{{row}}}}}\n')
                for offset, line in enumerate(lines):
                    n = first + offset
                    if n % docs_per_file == 0:
                        if handle:
                            handle.close()
                        handle = open(docs / f"docs{n // docs_per_file:05d}.jsonl", "w", encoding="utf-8")
                    handle.write(line)
                bar.update(last - first)
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
