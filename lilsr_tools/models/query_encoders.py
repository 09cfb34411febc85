"""Query encoders behind one interface: ``encode(text) -> {token: weight}``.

- ``table``: the Li-LSR lookup table (no network at query time).
- ``idf``: the inference-free baseline, BM25 idf of each token over the corpus text (models.text_idf).
- ``vector-idf``: idf over a vector store's non-zeros (the older variant; stopwords weigh near the maximum).
- ``binary``: Splade-v3-Doc style presence (each distinct token weighs 1).
- ``contextual``: the SPLADE query encoder through the transformer.

The static ones are the same machine (a weight per token, looked up after tokenization) with different
tables. ``dup`` says how a token repeated in the query counts: ``sum`` (weight x count), ``max`` (the
weight once) or ``binary`` (1.0 once, whatever the weight, for tokens whose weight is non-zero). Each
table carries its own default: a trained table the mode it was trained with (recorded in its manifest
as ``params.query_dup``: the student sums a repeated token, as ``sum`` does, unless trained with
``--query-dup max``), ``idf`` sums (a repeated term counts each time, as in a BM25 bag-of-words query),
``binary`` counts each distinct token once. An explicit ``dup`` overrides it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..errors import LilsrError
from ..vectors.store import vocab_digest

DUP_MODES = ("sum", "max", "binary")


class QueryEncoder(Protocol):
    name: str
    vocab: list[str]

    def encode(self, text: str) -> dict[str, float]: ...


class StaticTableEncoder:
    """Tokenize, then look each token up in a weight table."""

    def __init__(self, name: str, weights: np.ndarray, vocab: list[str], tokenizer, dup: str = "sum",
                 info: dict | None = None):
        if dup not in DUP_MODES:
            raise LilsrError(f"--dup must be one of {', '.join(DUP_MODES)}, not {dup!r}")
        if len(weights) != len(vocab):
            raise LilsrError(f"{name} table has {len(weights)} weights but the tokenizer's vocabulary has "
                             f"{len(vocab)} tokens; export the table from the same model")
        self.name = name
        self.vocab = vocab
        self.dup = dup
        self.info = {"dup": dup, **(info or {})}
        weights = np.asarray(weights, dtype=np.float32).copy()
        special = [i for i in tokenizer.all_special_ids if i < len(weights)]
        weights[special] = 0.0  # special tokens never appear in a vector
        self._weights = weights.tolist()  # a list: indexing it per token beats numpy for ~10-token queries
        self._backend = getattr(tokenizer, "backend_tokenizer", None)
        self._tokenizer = tokenizer

    def token_ids(self, text: str) -> list[int]:
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, text: str) -> dict[str, float]:
        vector: dict[str, float] = {}
        weights, vocab = self._weights, self.vocab
        for token_id in self.token_ids(text):
            weight = weights[token_id]
            if weight <= 0.0:
                continue
            token = vocab[token_id]
            if self.dup == "sum":
                vector[token] = vector.get(token, 0.0) + weight
            else:
                vector[token] = weight if self.dup == "max" else 1.0
        return vector


class TopKEncoder:
    """Any query encoder, each query cut to its ``top_k`` highest-weighted tokens (the paper's sparse queries:
    a per-query cut at encoding time, timed with the encoding). Ties at the cut keep the token seen first."""

    def __init__(self, inner: QueryEncoder, top_k: int):
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise LilsrError(f"--query-top-k must be a whole number of tokens, at least 1, got {top_k!r}")
        self.inner = inner
        self.top_k = int(top_k)
        self.name = inner.name
        self.vocab = inner.vocab
        self.dup = getattr(inner, "dup", None)
        self.info = {**getattr(inner, "info", {}), "query_top_k": self.top_k}
        if hasattr(inner, "encode_many"):
            self.encode_many = self._encode_many

    def _cut(self, vector: dict[str, float]) -> dict[str, float]:
        if len(vector) <= self.top_k:
            return vector
        kept = sorted(vector.items(), key=lambda item: -item[1])[: self.top_k]  # stable: first seen wins ties
        return dict(kept)

    def encode(self, text: str) -> dict[str, float]:
        return self._cut(self.inner.encode(text))

    def _encode_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [self._cut(v) for v in self.inner.encode_many(texts)]

    @property
    def _encoder(self):  # the contextual encoder's model, for truncation counts
        return self.inner._encoder


def parse_encoder_spec(spec: str) -> tuple[str, int | None]:
    """``table``, ``contextual``, ... or ``NAME:topT`` (each query keeps its T highest-weighted tokens):
    the encoder names of compare/ablate grids."""
    name, _, cut = str(spec).partition(":")
    if not cut:
        return name, None
    if not cut.startswith("top") or not cut[3:].isdigit() or int(cut[3:]) < 1:
        raise LilsrError(f"encoder {spec!r}: a cut is written NAME:topT with T a whole number >= 1 (e.g. table:top6)")
    return name, int(cut[3:])


class ContextualEncoder:
    """SPLADE query encoding through the transformer: ``encode`` one query at a time (as an online system
    would; the latency figures), ``encode_many`` in batches of ``batch_size`` (throughput, offline runs)."""

    def __init__(self, model: str, max_length: int = 128, threads: int | None = None, loaded=None,
                 batch_size: int = 32):
        from .splade import SpladeEncoder

        if batch_size < 1:
            raise LilsrError(f"query batch size must be at least 1, got {batch_size}")
        self._encoder = SpladeEncoder(model, max_length=max_length, batch_size=batch_size, threads=threads,
                                      loaded=loaded)
        self.name = "contextual"
        self.vocab = self._encoder.vocab
        self.batch_size = batch_size

    def encode(self, text: str) -> dict[str, float]:
        return self._encoder.encode_one(text)

    def encode_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Several queries at once, in batches of similar length (rows in input order)."""
        matrix = self._encoder.encode(list(texts))
        vocab = self.vocab
        return [{vocab[i]: float(w) for i, w in zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist())}
                for lo, hi in zip(matrix.indptr[:-1].tolist(), matrix.indptr[1:].tolist())]


QUERY_ENCODERS = ("table", "contextual", "idf", "vector-idf", "binary")
DEFAULT_DUP = {"idf": "sum", "vector-idf": "sum", "binary": "max"}


def make_query_encoder(kind: str, *, model: str | None = None, table=None, vectors=None, dup: str | None = None,
                       max_length: int = 128, threads: int | None = None, batch_size: int = 32, corpus=None,
                       progress: bool = False, top_k: int | None = None) -> QueryEncoder:
    """Build a query encoder; ``top_k`` cuts each query to its ``top_k`` highest-weighted tokens (any kind).

    - ``table``: needs ``table`` (a folder or a ``QueryTable``); the tokenizer comes from the table folder
      or from ``model``. ``dup`` defaults to the table's recorded ``query_dup``.
    - ``contextual``: needs ``model``; ``batch_size`` is its batch in ``encode_queries(..., batch_size=...)``.
    - ``idf``: needs ``corpus`` (a collection name, BEIR folder or corpus file) and ``model`` for the
      tokenizer (default: the model recorded in ``vectors``).
    - ``vector-idf``: needs ``vectors`` (a document vector store).
    - ``binary``: needs ``model`` (or ``vectors``) for the tokenizer.
    """
    if top_k is not None:
        return TopKEncoder(make_query_encoder(kind, model=model, table=table, vectors=vectors, dup=dup,
                                              max_length=max_length, threads=threads, batch_size=batch_size,
                                              corpus=corpus, progress=progress), top_k)
    from .presets import load_tokenizer, vocabulary
    from .table import QueryTable, idf_table, load_table

    if kind not in QUERY_ENCODERS:
        raise LilsrError(f"unknown query encoder {kind!r}; choose one of {', '.join(QUERY_ENCODERS)}")
    if kind == "contextual":
        if not model:
            raise LilsrError("the contextual encoder needs --model (a checkpoint, preset or hub name)")
        return ContextualEncoder(model, max_length=max_length, threads=threads, batch_size=batch_size)
    if vectors is not None and model is None:
        model = vectors.manifest.get("model")
    if kind == "table":
        if table is None:
            raise LilsrError("the table encoder needs --table (a folder written by 'lilsr table export')")
        table = table if isinstance(table, QueryTable) else load_table(table)
        source = model or (str(table.path) if table.path and (table.path / "tokenizer_config.json").exists()
                           else table.manifest.get("source"))
        if not source:
            raise LilsrError(f"{table.path}: the table folder holds no tokenizer; pass --model")
        tokenizer = load_tokenizer(source)
        _check_same_vocab(table.vocab, vocabulary(tokenizer, len(table.vocab)), f"table {table.path}", source)
        params = table.manifest.get("params", {})
        return StaticTableEncoder("table", table.weights, table.vocab, tokenizer, dup or params.get("query_dup", "sum"),
                                  info={"table_init": params.get("init")})
    if not model:
        raise LilsrError(f"the {kind} encoder needs --model for its tokenizer")
    tokenizer = load_tokenizer(model)
    dup = dup or DEFAULT_DUP[kind]
    if kind == "idf":
        from .text_idf import text_idf

        if corpus is None:
            raise LilsrError("the idf encoder needs the corpus whose text it counts (--corpus COLLECTION)")
        counted = text_idf(corpus, tokenizer, progress=progress)
        vocab = vocabulary(tokenizer, len(counted.df))
        return StaticTableEncoder("idf", counted.weights, vocab, tokenizer, dup,
                                  info={"idf_corpus": counted.corpus, "idf_docs": counted.n_docs})
    if kind == "vector-idf":
        if vectors is None:
            raise LilsrError("the vector-idf encoder needs --vectors (the document vector store to count idf over)")
        vocab = list(vectors.vocab)
        _check_same_vocab(vocab, vocabulary(tokenizer, len(vocab)), f"vectors {vectors.path}", model)
        return StaticTableEncoder("vector-idf", idf_table(vectors), vocab, tokenizer, dup)
    vocab = vocabulary(tokenizer)
    return StaticTableEncoder("binary", np.ones(len(vocab), np.float32), vocab, tokenizer, dup)


def _check_same_vocab(expected: list[str], actual: list[str], what: str, model: str) -> None:
    if vocab_digest(expected) != vocab_digest(actual):
        raise LilsrError(f"{what} uses a different vocabulary than the tokenizer of {model}; "
                         "use the model the vectors or table were made with")


@dataclass
class EncodedQueries:
    """Encoded queries in input order, with each query's encoding time in nanoseconds."""

    qids: list[str]
    vectors: list[dict[str, float]]
    encode_ns: np.ndarray
    encoder: str = ""
    batch_size: int = 1  # > 1: encoded in batches, each query timed as its batch's wall time / batch size

    def __len__(self) -> int:
        return len(self.qids)

    @property
    def empty(self) -> int:
        """Queries whose vector is empty (no token of the query has a weight): they retrieve nothing."""
        return sum(not vector for vector in self.vectors)


def encode_queries(encoder: QueryEncoder, qids: Sequence[str], texts: Sequence[str], *, batch_size: int = 1,
                   progress: bool | None = None) -> EncodedQueries:
    """Encode queries, timing each. ``batch_size`` 1 (default): one by one, each query's own time (a query
    arrives alone in an online system). Larger (contextual encoder only): batches of similar length, each
    query's time the batch's wall time divided by its size (throughput for offline runs)."""
    from ..progress import bar

    if batch_size < 1:
        raise LilsrError(f"query batch size must be at least 1, got {batch_size}")
    batched = batch_size > 1 and hasattr(encoder, "encode_many")
    vectors, times = [], np.empty(len(texts), dtype=np.int64)
    clock = time.perf_counter_ns
    name = getattr(encoder, "name", "")
    with bar(total=len(texts), desc=f"encode queries ({name})", unit="query", progress=progress) as progress_bar:
        if batched:
            for lo in range(0, len(texts), batch_size):
                chunk = list(texts[lo:lo + batch_size])
                start = clock()
                vectors.extend(encoder.encode_many(chunk))
                times[lo:lo + len(chunk)] = (clock() - start) // len(chunk)
                progress_bar.update(len(chunk))
        else:
            for i, text in enumerate(texts):
                start = clock()
                vectors.append(encoder.encode(text))
                times[i] = clock() - start
                progress_bar.update()
    return EncodedQueries(list(qids), vectors, times, name, batch_size if batched else 1)
