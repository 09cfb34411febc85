"""Helpers the commands share: reading queries, building query encoders, loading engines."""

from __future__ import annotations

from pathlib import Path

from ..errors import LilsrError


def read_query_texts(source: str, split: str | None, topic_field: str = "title") -> tuple[list[str], list[str]]:
    """Query ids and texts from a collection (name or folder; judged in ``split``) or a queries file
    (BEIR jsonl, MS MARCO tsv, TREC topics: every query of the file)."""
    from ..data.collection import read_queries, resolve_collection

    from ..manifest import MANIFEST

    path = Path(source)
    if path.is_dir() and not (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file():
        raise LilsrError(f"{path}: an encoded-queries folder without {MANIFEST} (incomplete or not made by lilsr); "
                         "re-run 'lilsr encode queries', or pass a collection folder or a queries file")
    if path.is_file():
        queries = read_queries(path, topic_field=topic_field)
        if not queries:
            raise LilsrError(f"{path}: no queries in the file")
        return [q.id for q in queries], [q.text for q in queries]
    collection = resolve_collection(source)
    queries = collection.queries(split)
    if not queries:
        raise LilsrError(f"{collection.queries_path}: no queries" + (f" judged in split '{split}'" if split else ""))
    return [q.id for q in queries], [q.text for q in queries]


def build_query_encoder(kind, model, table, vectors, dup, max_length, threads, batch_size=32, corpus=None,
                        top_k=None):
    """``corpus`` (for ``idf``): the collection whose text idf counts; default the corpus ``vectors`` encoded."""
    from ..models.query_encoders import make_query_encoder
    from ..vectors.store import load_vectors

    store = load_vectors(vectors) if vectors else None
    if kind == "idf" and store is not None and store.manifest.get("params", {}).get("corpus"):
        corpus = store.manifest["params"]["corpus"]
    return make_query_encoder(kind, model=model, table=table, vectors=store, dup=dup, max_length=max_length,
                              threads=threads, batch_size=batch_size, corpus=corpus, progress=True, top_k=top_k)


def load_query_batch(queries: str, split: str | None, *, encoder=None, model=None, table=None, vectors=None,
                     dup="sum", max_length=128, threads=None, need_vectors=True, topic_field="title",
                     batch_size=1, top_k=None):
    """A ``QueryBatch`` from encoded queries (a folder from 'lilsr encode queries') or from raw queries
    (a collection or a queries file), encoding them with ``encoder`` when the engine searches vectors
    (``batch_size`` > 1: the contextual encoder in batches)."""
    from ..engines.search import QueryBatch
    from ..manifest import MANIFEST, read_manifest
    from ..models.query_encoders import encode_queries

    path = Path(queries)
    if path.is_dir() and (path / MANIFEST).is_file() and read_manifest(path).get("kind") == "lilsr.queries":
        from ..vectors.queries import load_encoded_queries

        encoded, manifest = load_encoded_queries(path)
        return QueryBatch(encoded.qids, None, encoded.vectors, encoded.encode_ns, encoded.encoder,
                          vocab_digest=manifest.get("vocab_digest"), source=str(path))
    qids, texts = read_query_texts(queries, split, topic_field)
    if not need_vectors:
        return QueryBatch(qids, texts)
    if encoder is None:
        raise LilsrError("raw queries need a query encoder: pass --encoder table|contextual|idf|binary")
    corpus = None if path.is_file() else queries  # idf counts the text of the collection searched
    query_encoder = build_query_encoder(encoder, model, table, vectors, dup, max_length, threads, batch_size, corpus,
                                        top_k)
    encoded = encode_queries(query_encoder, qids, texts, batch_size=batch_size)
    from ..vectors.store import vocab_digest

    return QueryBatch(qids, texts, encoded.vectors, encoded.encode_ns, query_encoder.name,
                      vocab_digest=vocab_digest(query_encoder.vocab), source=f"{queries} (--encoder {encoder}"
                      + (f", --query-top-k {top_k})" if top_k else ")"))
