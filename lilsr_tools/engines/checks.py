"""Checks made once, above the engines, before any search: the same rule for every engine.

- ``check_batch``: called by ``run_search`` for every engine; query weights finite and non-negative, and
- ``check_query_vocabulary``: query vectors name tokens by string, so queries encoded over another
  vocabulary (another model's table, same size, other tokens) would match the wrong postings or none, and
  every engine would answer without complaint. The vocabulary digest travels from the table or encoder into
  the encoded queries (``manifest.json``) and into the ``QueryBatch``; a batch whose digest differs from
  the index's is refused here.
- ``checked_search``: the same rules for callers of an engine's ``batch_search`` from Python (``Searcher``,
  the PyTerrier retriever, notebooks): ``k`` and ``threads`` positive integers, query ids strings, queries
  ``{token: weight}`` mappings with finite non-negative weights (or strings for text engines), raised as
  ``ValueError``/``TypeError`` (``errors.BadArgument``/``BadArgumentType``, still one line in the CLI).
- ``verify_index``: ``--verify``: every sha256 the manifest records, plus Lucene's CheckIndex for Lucene
  indexes (the cheap checks - structure, Lucene's file checksums - run on every load, in the engines'
  loaders).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping
from pathlib import Path

from ..errors import BadArgument, BadArgumentType, LilsrError
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
    check_query_vectors(batch.qids, batch.vectors, getattr(batch, "source", None) or "queries")


def check_count(name: str, value) -> int:
    """A count argument (``k``, ``threads``): an integer (not a bool, float or string) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadArgumentType(f"{name} must be an integer, not {type(value).__name__} {value!r}")
    if value < 1:
        raise BadArgument(f"{name} must be at least 1, got {value}")
    return int(value)


def check_query_vectors(qids, vectors, source: str = "queries") -> None:
    """Each query a ``{token: weight}`` mapping with string tokens and finite, non-negative real weights
    (engines would drop or mis-score the others silently); ``source`` names the queries in messages."""
    for qid, vector in zip(qids, vectors):
        if not isinstance(vector, Mapping):
            raise BadArgumentType(f"{source}: query {qid!r} is a {type(vector).__name__}, not a {{token: weight}} "
                                  "mapping; an encoder's encode(text) must return a dict")
        for token, weight in vector.items():
            if not isinstance(token, str):
                raise BadArgumentType(f"{source}: query {qid!r} has the token {token!r} ({type(token).__name__}); "
                                      "tokens are strings of the index vocabulary")
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
                raise BadArgumentType(f"{source}: query {qid!r} gives token {token!r} the weight {weight!r} "
                                      f"({type(weight).__name__}); weights are numbers")
            if not 0 <= weight < math.inf:
                raise BadArgument(f"{source}: query {qid!r} gives token {token!r} the weight {weight!r}; query "
                                  "weights must be finite and non-negative")


def check_search_args(engine, qids, queries, k, threads) -> None:
    """What an engine's ``batch_search`` takes: see ``checked_search``."""
    check_count("k", k)
    check_count("threads", threads)
    if isinstance(qids, (str, bytes)) or isinstance(queries, (str, bytes, Mapping)):
        raise BadArgumentType("batch_search takes a list of query ids and a list of queries (one of each per "
                              "query), not a single one")
    qids, queries = list(qids), list(queries)
    if len(qids) != len(queries):
        raise BadArgument(f"{len(qids)} query ids for {len(queries)} queries")
    for qid in qids:
        if not isinstance(qid, str):
            raise BadArgumentType(f"query id {qid!r} is a {type(qid).__name__}; query ids are strings "
                                  "(str(qid) if they are numbers)")
    source = f"{getattr(engine, 'name', 'engine')} batch_search"
    if getattr(engine, "query_input", "vector") == "text":
        for qid, query in zip(qids, queries):
            if not isinstance(query, str):
                raise BadArgumentType(f"{source}: query {qid!r} is a {type(query).__name__}; this engine searches "
                                      "query text")
    else:
        check_query_vectors(qids, queries, source)


def checked_search(method):
    """Decorate an engine's ``batch_search(self, qids, queries, k=1000, threads=1, **params)`` with
    ``check_search_args``: Python callers get the CLI's checks, as ``ValueError``/``TypeError``; and refuse
    results holding a non-finite score, whatever the engine."""
    @functools.wraps(method)
    def batch_search(self, qids, queries, k=1000, threads=1, **params):
        check_search_args(self, qids, queries, k, threads)
        results = method(self, qids, queries, k=k, threads=threads, **params)
        # every engine, one place: a huge (finite) query weight can overflow a float32 score to inf
        from .base import check_finite_scores

        check_finite_scores(getattr(self, "name", type(self).__name__), results.qids, results.scores)
        return results
    return batch_search


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
