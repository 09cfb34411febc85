"""Checks made once, above the engines, before any search: the same rule for every engine.

- ``check_batch``: called by ``run_search`` for every engine; query weights finite and non-negative, and
- ``check_query_vocabulary``: query vectors name tokens by string, so queries encoded over another
  vocabulary (another model's table, same size, other tokens) would match the wrong postings or none, and
  every engine would answer without complaint. The vocabulary digest travels from the table or encoder into
  the encoded queries (``manifest.json``) and into the ``QueryBatch``; a batch whose digest differs from
  the index's is refused here.
- ``verify_index``: ``--verify``: every sha256 the manifest records, plus Lucene's CheckIndex for Lucene
  indexes (the cheap checks - structure, Lucene's file checksums - run on every load, in the engines'
  loaders).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

from ..errors import LilsrError
from ..manifest import read_manifest, verify_hashes


def engine_vocab_digest(engine) -> str | None:
    """The digest of the vocabulary an engine's index was built over (None for text engines)."""
    from ..vectors.store import vocab_digest

    vocab = getattr(engine, "vocab", None)
    if vocab is not None:
        return vocab_digest(list(vocab))
    for holder in (engine, getattr(engine, "vectors", None)):
        manifest = getattr(holder, "manifest", None)
        if isinstance(manifest, dict) and manifest.get("vocab_digest"):
            return manifest["vocab_digest"]
    return None


def check_batch(engine, batch) -> None:
    """What every search checks first, whatever the engine: the query vectors' vocabulary is the index's,
    and their weights are finite and non-negative (engines drop what they cannot score, silently)."""
    if getattr(engine, "query_input", "vector") != "vector" or batch.vectors is None:
        return
    check_query_vocabulary(engine, batch)
    source = getattr(batch, "source", None) or "queries"
    for qid, vector in zip(batch.qids, batch.vectors):
        for token, weight in vector.items():
            if not (isinstance(weight, numbers.Real) and not isinstance(weight, bool) and 0 <= weight < math.inf):
                raise LilsrError(f"{source}: query {qid!r} gives token {token!r} the weight {weight!r}; query weights "
                                 "must be finite and non-negative")


def check_query_vocabulary(engine, batch) -> None:
    """Refuse query vectors encoded over another vocabulary than the index's."""
    if getattr(engine, "query_input", "vector") != "vector":
        return
    digest = getattr(batch, "vocab_digest", None)
    index_digest = engine_vocab_digest(engine) if digest else None
    if digest and index_digest and digest != index_digest:
        where = getattr(engine, "path", None) or getattr(getattr(engine, "vectors", None), "path", None) or "the index"
        source = getattr(batch, "source", None) or "the queries"
        raise LilsrError(f"{source}: queries were encoded over another vocabulary (digest {digest}) than {where} "
                         f"(digest {index_digest}); encode them with the table or model the index was built from")


def verify_index(path: str | Path, heap: str | None = None) -> dict:
    """``--verify``: re-check every recorded sha256 of an index or store folder, and for Lucene indexes run
    Lucene's CheckIndex (every file's checksum and the index structure). Returns the manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_hashes(path, manifest)
    from .lucene import indexing  # no JVM is started by importing it

    if manifest.get("kind") in (indexing.LUCENE_KIND, indexing.BM25_KIND):
        indexing.check_index(path / indexing.LUCENE_DIR, heap=heap)
    return manifest
