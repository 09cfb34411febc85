"""Helpers the commands share: reading queries, building query encoders, loading engines."""

from __future__ import annotations

from pathlib import Path

from ..errors import LilsrError


def read_query_texts(source: str, split: str | None) -> tuple[list[str], list[str]]:
    """Query ids and texts from a collection (name or folder; judged in ``split``) or a queries file."""
    from ..data.collection import read_queries, resolve_collection

    path = Path(source)
    queries = read_queries(path) if path.is_file() else resolve_collection(source).queries(split)
    if not queries:
        raise LilsrError(f"{source}: no queries" + (f" judged in split '{split}'" if split else ""))
    return [q.id for q in queries], [q.text for q in queries]


def build_query_encoder(kind, model, table, vectors, dup, max_length, threads, corpus=None):
    """``corpus`` (for ``idf``): the collection whose text idf counts; default the corpus ``vectors`` encoded."""
    from ..models.query_encoders import make_query_encoder
    from ..vectors.store import load_vectors

    store = load_vectors(vectors) if vectors else None
    if kind == "idf" and store is not None and store.manifest.get("params", {}).get("corpus"):
        corpus = store.manifest["params"]["corpus"]
    return make_query_encoder(kind, model=model, table=table, vectors=store, dup=dup, max_length=max_length,
                              threads=threads, corpus=corpus, progress=True)


def load_query_batch(queries: str, split: str | None, *, encoder=None, model=None, table=None, vectors=None,
                     dup="sum", max_length=128, threads=None, need_vectors=True):
    """A ``QueryBatch`` from encoded queries (a folder from 'lilsr encode queries') or from raw queries
    (a collection or a file), encoding them with ``encoder`` when the engine searches vectors."""
    from ..engines.search import QueryBatch
    from ..manifest import MANIFEST, read_manifest
    from ..models.query_encoders import encode_queries

    path = Path(queries)
    if path.is_dir() and (path / MANIFEST).is_file() and read_manifest(path).get("kind") == "lilsr.queries":
        from ..vectors.queries import load_encoded_queries

        encoded, manifest = load_encoded_queries(path)
        return QueryBatch(encoded.qids, None, encoded.vectors, encoded.encode_ns, encoded.encoder)
    qids, texts = read_query_texts(queries, split)
    if not need_vectors:
        return QueryBatch(qids, texts)
    if encoder is None:
        raise LilsrError("raw queries need a query encoder: pass --encoder table|contextual|idf|binary")
    corpus = None if path.is_file() else queries  # idf counts the text of the collection searched
    query_encoder = build_query_encoder(encoder, model, table, vectors, dup, max_length, threads, corpus)
    encoded = encode_queries(query_encoder, qids, texts)
    return QueryBatch(qids, texts, encoded.vectors, encoded.encode_ns, query_encoder.name)
