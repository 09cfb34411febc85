"""Converters between the vector store and other formats.

- Anserini ``JsonVectorCollection``: ``{"id", "contents", "vector": {token: int}}``. Anserini truncates
  float weights to integers, so we quantize on purpose, ``round(w * scale)``, drop zeros and record the
  scale in ``manifest.json``.
- Seismic JSONL: ``{"id", "content", "vector": {token: float}}``.
- scipy: ``SparseVectors.csr`` and ``SparseVectors.from_scipy``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_dir
from ..data.collection import check_id
from ..data.jsonl import read_jsonl, require_field
from ..errors import LilsrError
from ..manifest import read_manifest, write_manifest
from ..progress import enabled as progress_enabled
from .store import SparseVectors

JSON_VECTORS_KIND = "lilsr.json-vector-collection"
DEFAULT_SCALE = 100.0


# Anserini's JsonVectorCollection turns {"token": n} into the token written n times, and Lucene stores n as the
# term frequency (the impact). So an impact must fit a 32-bit integer, and a document's impacts together must
# stay a text the child JVM can build and invert: at most MAX_DOC_IMPACT token repetitions (16.8M; SPLADE
# documents at scale 100 use about 10^4-10^5). Beyond, Java fails with an OutOfMemoryError or wraps around.
MAX_IMPACT = 2**31 - 1
MAX_DOC_IMPACT = 2**24


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Integer impacts ``round(w * scale)`` (round half to even, never truncation); refuses impacts that do
    not fit a 32-bit integer (``impacts`` names the document and token)."""
    check_scale(scale)
    scaled = np.rint(np.asarray(values, dtype=np.float64) * scale)
    if scaled.size and not (np.abs(scaled).max() <= MAX_IMPACT):
        raise LilsrError(f"a weight times scale {scale:g} overflows a 32-bit integer impact; lower the scale")
    return scaled.astype(np.int32)


def check_scale(scale) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(scale, (bool, str)) or not (np.isfinite(value) and value > 0):
        raise LilsrError(f"quantization scale must be a finite number above 0, got {scale!r}")
    return value


def impacts(vectors: SparseVectors, scale: float) -> np.ndarray:
    """``quantize`` for a store, refusing (and naming the document and token) an impact that overflows a
    32-bit integer or a document whose impacts add up to more than Anserini can index (``MAX_DOC_IMPACT``)."""
    check_scale(scale)
    values = np.asarray(vectors.values)
    source = vectors.path or "vectors"
    if values.size and values.max() * np.float64(scale) > MAX_IMPACT:
        j = int(np.flatnonzero(values * np.float64(scale) > MAX_IMPACT)[0])
        raise LilsrError(f"{source}: document {_doc_of(vectors, j)!r}, token {vectors.vocab[int(vectors.indices[j])]!r}: "
                         f"weight {float(values[j]):g} x scale {scale:g} overflows a 32-bit integer impact; lower "
                         "--scale or fix the vectors")
    quantized_values = quantize(values, scale)
    lengths = np.diff(np.asarray(vectors.indptr))
    rows = np.flatnonzero(lengths)
    if rows.size:
        per_doc = np.add.reduceat(quantized_values, np.asarray(vectors.indptr)[rows], dtype=np.int64)
        if per_doc.max() > MAX_DOC_IMPACT:
            k = int(np.argmax(per_doc > MAX_DOC_IMPACT))
            row = int(rows[k])
            lo, hi = int(vectors.indptr[row]), int(vectors.indptr[row + 1])
            top = lo + int(np.argmax(quantized_values[lo:hi]))
            raise LilsrError(f"{source}: document {vectors.ids[row]!r} sums to {int(per_doc[k]):,} impact "
                             f"units at scale {scale:g} (largest: token {vectors.vocab[int(vectors.indices[top])]!r}, "
                             f"{int(quantized_values[top]):,}); Anserini writes each token impact times and indexes at "
                             f"most {MAX_DOC_IMPACT:,} per document: lower --scale")
    return quantized_values


def _doc_of(vectors: SparseVectors, position: int) -> str:
    return vectors.ids[int(np.searchsorted(vectors.indptr, position, side="right") - 1)]


def impact_chunks(vectors: SparseVectors, scale: float, docs_per_chunk: int = 8192):
    """``impacts`` a batch of documents at a time (bounded memory at any store size), with the same checks:
    yields (first document, last document + 1, first entry, integer impacts of the batch's entries)."""
    indptr = np.asarray(vectors.indptr)
    for first in range(0, len(vectors), docs_per_chunk):
        last = min(len(vectors), first + docs_per_chunk)
        lo, hi = int(indptr[first]), int(indptr[last])
        part = SparseVectors(indptr[first:last + 1] - lo, vectors.indices[lo:hi], vectors.values[lo:hi],
                             vectors.vocab, vectors.ids[first:last], path=vectors.path)
        yield first, last, lo, impacts(part, scale)


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


def impact_counts(vectors: SparseVectors, scale: float) -> tuple[int, int, np.ndarray]:
    """(postings kept, weights that round to zero, posting length per token) of the vectors quantized at
    ``scale``, streamed a batch of documents at a time, with ``impacts``' checks."""
    lengths = np.zeros(len(vectors.vocab), np.int64)
    kept = dropped = 0
    for _, _, lo, integer in impact_chunks(vectors, scale):
        live = integer > 0
        kept += int(live.sum())
        dropped += int(live.size - live.sum())
        lengths += np.bincount(np.asarray(vectors.indices[lo:lo + integer.size])[live], minlength=len(vectors.vocab))
    return kept, dropped, lengths


def check_anserini_tokens(vectors: SparseVectors, scale: float, lengths: np.ndarray) -> None:
    """Refuse a token with whitespace (or an empty one) that some document keeps: Anserini indexes a
    JsonVectorCollection by repeating each token as a word of a whitespace-split text, so "new york" would
    become the two terms "new" and "york". ``lengths``: postings per token after quantization."""
    used = np.flatnonzero(np.asarray(lengths) > 0)
    bad = [int(t) for t in used if not vectors.vocab[t] or any(c.isspace() for c in vectors.vocab[t])]
    if not bad:
        return
    for _, _, lo, integer in impact_chunks(vectors, scale):
        tokens = np.asarray(vectors.indices[lo:lo + integer.size])
        hits = np.flatnonzero(np.isin(tokens, bad) & (integer > 0))
        if hits.size:
            position = lo + int(hits[0])
            token = vectors.vocab[int(vectors.indices[position])]
            raise LilsrError(f"{vectors.path or 'vectors'}: document {_doc_of(vectors, position)!r} has token "
                             f"{token!r}, which contains whitespace (or is empty) and which Anserini cannot "
                             f"index as one term ({len(bad)} such token(s) in use); rename or drop it before "
                             "exporting")


def write_json_vector_collection(vectors: SparseVectors, out: str | Path, scale: float = DEFAULT_SCALE,
                                 docs_per_file: int = 100_000, overwrite: bool = False, progress: bool = True) -> dict:
    """Write Anserini ``JsonVectorCollection`` files (integer weights) under ``out/docs/`` plus a manifest.

    Returns the counts (documents, postings, weights that rounded to zero and were dropped). Rows are
    quantized a batch of documents at a time (with ``impacts``' checks) and each line is joined from
    pre-escaped token keys, so a million documents take seconds per hundred thousand, in bounded memory."""
    import operator

    postings, dropped, lengths = impact_counts(vectors, scale)
    check_anserini_tokens(vectors, scale, lengths)
    counts = {"docs": len(vectors), "postings": postings, "dropped_zero_after_rounding": dropped, "empty_docs": 0}
    keys = np.array([json.dumps(token, ensure_ascii=False) + ": " for token in vectors.vocab], dtype=object)
    ids = [json.dumps(doc_id, ensure_ascii=False) for doc_id in vectors.ids]
    indptr = np.asarray(vectors.indptr)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        # The JSONL files go in docs/: Anserini reads every .json/.jsonl file of the folder it is given,
        # and manifest.json must not be taken for a document file.
        docs = tmp / "docs"
        docs.mkdir()
        handle = None
        with tqdm(total=len(vectors), desc="JsonVectorCollection", unit="doc", leave=False,
                  disable=not progress_enabled(progress)) as bar:
            for first, last, lo, integer in impact_chunks(vectors, scale):
                tokens = keys[np.asarray(vectors.indices[lo:lo + integer.size])]
                lines = []
                for d in range(first, last):
                    a, b = int(indptr[d]) - lo, int(indptr[d + 1]) - lo
                    live = integer[a:b] > 0
                    row = ", ".join(map(operator.add, tokens[a:b][live], map(str, integer[a:b][live].tolist())))
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

    Every line is checked (``iter_json_vector_collection``); errors name the file and line."""
    path = Path(path)
    manifest, scale, vocab = collection_header(path, vocab)
    ids, rows = [], []
    for _, _, doc_id, vector in iter_json_vector_collection(path, vocab):
        ids.append(doc_id)
        rows.append({token: weight / scale for token, weight in vector.items()})
    vectors = SparseVectors.from_dicts(rows, vocab, ids, source=str(path))
    return vectors, scale


def collection_header(path: Path, vocab: list[str] | None = None) -> tuple[dict, float, list[str]]:
    """The manifest, scale and vocabulary of a JsonVectorCollection folder, checked."""
    manifest = read_manifest(path, JSON_VECTORS_KIND)
    try:
        scale = check_scale(manifest["params"]["scale"])
    except (KeyError, TypeError):
        raise LilsrError(f"{path / 'manifest.json'}: no quantization scale (params.scale); re-export the "
                         "collection") from None
    vocab = vocab if vocab is not None else manifest.get("vocab")
    if not isinstance(vocab, list) or not vocab or not all(isinstance(t, str) for t in vocab):
        raise LilsrError(f"{path / 'manifest.json'}: no vocabulary (a list of token strings); re-export the collection")
    return manifest, scale, list(vocab)


def iter_json_vector_collection(path: Path, vocab: list[str]) -> Iterator[tuple[Path, int, str, dict]]:
    """Yield ``(file, line, id, vector)`` for every document of ``path/docs/*.jsonl``, refusing, with the file
    and line: a malformed line, a missing or duplicate id (naming the first line), a weight that is not an
    integer (Anserini would truncate floats silently; strings are not numbers), a negative weight or one
    above ``MAX_IMPACT``, a token outside ``vocab``; and a folder without documents."""
    known = set(vocab)
    first: dict[str, tuple[Path, int]] = {}
    files = sorted((path / "docs").glob("*.jsonl"))
    if not files:
        raise LilsrError(f"{path / 'docs'}: no .jsonl files; write the collection with 'lilsr vectors export'")
    for file in files:
        for number, obj in read_jsonl(file):
            doc_id = check_id(require_field(obj, "id", file, number), file, number, "document")
            if doc_id in first:
                seen_file, seen_line = first[doc_id]
                raise LilsrError(f"{file}:{number}: duplicate document id {doc_id!r} (first at {seen_file}:{seen_line})")
            first[doc_id] = (file, number)
            vector = require_field(obj, "vector", file, number, (dict,))
            check_integer_weights(vector, file, number)
            for token, weight in vector.items():
                if weight < 0 or weight > MAX_IMPACT:
                    raise LilsrError(f"{file}:{number}: token {token!r} has impact {weight}; impacts lie in "
                                     f"[0, {MAX_IMPACT}]")
                if token not in known:
                    raise LilsrError(f"{file}:{number}: token {token!r} is not in the collection's vocabulary "
                                     f"({len(vocab)} tokens, in {path / 'manifest.json'})")
            yield file, number, doc_id, vector
    if not first:
        raise LilsrError(f"{path / 'docs'}: no documents in {len(files)} .jsonl file(s)")


def check_integer_weights(vector: dict, file, number: int) -> None:
    for token, weight in vector.items():
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise LilsrError(f"{file}:{number}: token {token!r} has weight {weight!r}, not an integer; Anserini "
                             "truncates floats silently, so quantize first (lilsr vectors export --format anserini)")


def write_seismic_jsonl(vectors: SparseVectors, out: str | Path, overwrite: bool = False) -> Path:
    """Seismic's JSONL input: one ``{"id", "content", "vector"}`` object per line."""
    from ..atomic import atomic_file

    with atomic_file(out, overwrite=overwrite) as handle:
        for doc_id, row in tqdm(_rows(vectors), total=len(vectors), desc="Seismic JSONL", unit="doc", leave=False,
                                disable=not progress_enabled(None)):
            handle.write(json.dumps({"id": doc_id, "content": "", "vector": row}, ensure_ascii=False))
            handle.write("\n")
    return Path(out)


def read_seismic_jsonl(path: str | Path, vocab: list[str]) -> SparseVectors:
    """Read Seismic JSONL (``{"id", "vector": {token: float}}`` per line), refusing with the file and line: a
    duplicate id, a weight that is not a number (a string "1.0" is not), not finite or negative, a token
    outside ``vocab``; and a file without documents."""
    path = Path(path)
    known = set(vocab)
    ids, rows = [], []
    first: dict[str, int] = {}
    for number, obj in read_jsonl(path):
        doc_id = check_id(require_field(obj, "id", path, number), path, number, "document")
        if doc_id in first:
            raise LilsrError(f"{path}:{number}: duplicate document id {doc_id!r} (first on line {first[doc_id]})")
        first[doc_id] = number
        vector = require_field(obj, "vector", path, number, (dict,))
        for token, weight in vector.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise LilsrError(f"{path}:{number}: token {token!r} has weight {weight!r}, not a number")
            if not math.isfinite(weight) or weight < 0:
                raise LilsrError(f"{path}:{number}: token {token!r} has weight {weight!r}; weights must be finite "
                                 "and non-negative")
            if token not in known:
                raise LilsrError(f"{path}:{number}: token {token!r} is not in the vocabulary of the model "
                                 f"({len(vocab)} tokens); import with the --model the vectors were made with")
        ids.append(doc_id)
        rows.append(vector)
    if not ids:
        raise LilsrError(f"{path}: no documents")
    return SparseVectors.from_dicts(rows, vocab, ids, source=str(path))
