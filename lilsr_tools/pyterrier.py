"""Li-LSR in PyTerrier pipelines (``pyterrier`` 1.x, the ``engines`` extra; no Java needed on this path).

- ``table_encoder(table)``: the Li-LSR lookup table as a query transformer (``query`` -> ``query_toks``);
- ``contextual_encoder(model)``: the SPLADE query encoder (``query`` -> ``query_toks``), in batches;
- ``doc_encoder(model)``: the SPLADE document encoder (``text`` -> ``toks``), e.g. before
  ``pyterrier_pisa.PisaIndex(...).toks_indexer()``;
- ``retriever(index)``: any lilsr index or vector store (``query_toks``, or ``query`` for BM25 ->
  ``qid, docno, score, rank``), through the same engines as ``lilsr search``.

    >>> import pyterrier as pt
    >>> from lilsr_tools import pyterrier as lpt
    >>> pipeline = lpt.table_encoder("out/idf-table") >> lpt.retriever("out/scifact-splade-tiny", k=1000)
    >>> pt.Experiment([pipeline], topics, qrels, eval_metrics=["nDCG@10"])

``query_toks`` and ``toks`` are ``{token: weight}`` dicts over the model's WordPiece vocabulary, the form
pyterrier-pisa's ``toks_indexer()`` and ``quantized()`` take. Query encoders also add ``query_vocab_digest``,
the digest of the vocabulary they encoded over; the retriever refuses queries whose digest is not its
index's (as ``lilsr search`` does): a table of another model, same size but other tokens, would match
the wrong postings without any error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import BadArgument, LilsrError

try:
    import pyterrier as pt
except ImportError as exc:  # pragma: no cover - the engines extra installs it
    raise LilsrError(f"lilsr_tools.pyterrier needs pyterrier (make venv installs the 'engines' extra): {exc}") from None


VOCAB_COLUMN = "query_vocab_digest"  # what a query encoder stamps on its rows, checked by the retriever


class QueryEncoderTransformer(pt.Transformer):
    """A lilsr query encoder (anything with ``encode(text)``) as ``query`` -> ``query_toks``."""

    def __init__(self, encoder, batch_size: int = 1):
        from .vectors.store import vocab_digest

        self.encoder = encoder
        self.batch_size = batch_size
        vocab = getattr(encoder, "vocab", None)
        self.vocab_digest = vocab_digest(list(vocab)) if vocab is not None else None

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        if "query" not in inp.columns:
            raise LilsrError(f"{self!r} needs a 'query' column; got {', '.join(map(str, inp.columns))}")
        texts = inp["query"].astype(str).tolist()
        if self.batch_size > 1 and hasattr(self.encoder, "encode_many"):
            vectors = []
            for lo in range(0, len(texts), self.batch_size):
                vectors += self.encoder.encode_many(texts[lo:lo + self.batch_size])
        else:
            vectors = [self.encoder.encode(text) for text in texts]
        out = inp.copy()
        out["query_toks"] = vectors
        if self.vocab_digest is not None:
            out[VOCAB_COLUMN] = self.vocab_digest
        return out

    def __repr__(self) -> str:
        return f"lilsr.{getattr(self.encoder, 'name', 'query')}_encoder()"


class DocEncoderTransformer(pt.Transformer):
    """The SPLADE document encoder as ``text`` (``text_field``) -> ``toks``."""

    def __init__(self, encoder, text_field: str = "text"):
        self.encoder = encoder
        self.text_field = text_field

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        if self.text_field not in inp.columns:
            raise LilsrError(f"{self!r} needs a '{self.text_field}' column; got {', '.join(map(str, inp.columns))}")
        matrix = self.encoder.encode(inp[self.text_field].fillna("").astype(str).tolist())
        vocab = self.encoder.vocab
        out = inp.copy()
        out["toks"] = [{vocab[i]: float(w) for i, w in zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist())}
                       for lo, hi in zip(matrix.indptr[:-1].tolist(), matrix.indptr[1:].tolist())]
        return out

    def __repr__(self) -> str:
        return f"lilsr.doc_encoder({self.encoder.model_name!r})"


class Retriever(pt.Transformer):
    """A lilsr engine as a PyTerrier retriever: one row per (query, hit) with ``qid, docno, score, rank``
    and the query's own columns."""

    def __init__(self, index: str | Path, engine: str | None = None, k: int = 1000, threads: int = 1, **params):
        from .engines import engine_for_index, get_engine
        from .engines.checks import check_count

        k, threads = check_count("k", k), check_count("threads", threads)
        self.index = Path(index)
        self.engine_name = engine or engine_for_index(self.index)
        self.engine = get_engine(self.engine_name).load(self.index)
        self.k, self.threads, self.params = k, threads, params

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        column = "query" if self.engine.query_input == "text" else "query_toks"
        if column not in inp.columns or "qid" not in inp.columns:
            raise LilsrError(f"{self!r} needs 'qid' and '{column}' columns; got {', '.join(map(str, inp.columns))}"
                             + ("; put a query encoder before it (table_encoder, contextual_encoder)"
                                if column == "query_toks" else ""))
        if column == "query_toks" and VOCAB_COLUMN in inp.columns:
            self._check_vocabulary(inp[VOCAB_COLUMN])
        qids = inp["qid"].astype(str).tolist()
        results = self.engine.batch_search(qids, inp[column].tolist(), k=self.k, threads=self.threads, **self.params)
        rows = [(qid, docno, float(score), rank) for qid, ids, scores in zip(results.qids, results.doc_ids,
                                                                              results.scores)
                for rank, (docno, score) in enumerate(zip(ids, scores))]
        hits = pd.DataFrame(rows, columns=["qid", "docno", "score", "rank"])
        keep = [c for c in inp.columns if c not in ("docno", "score", "rank")]
        query_columns = inp[keep].assign(qid=inp["qid"].astype(str)).drop_duplicates("qid")
        return query_columns.merge(hits, on="qid", how="inner")[[*keep, "docno", "score", "rank"]]

    def _check_vocabulary(self, digests: pd.Series) -> None:
        from .engines.checks import engine_vocab_digest

        index_digest = engine_vocab_digest(self.engine)
        other = sorted({str(d) for d in digests.dropna()} - {index_digest}) if index_digest else []
        if other:
            raise BadArgument(f"{self!r}: the queries were encoded over another vocabulary (digest {other[0]}) than "
                              f"{self.index} (digest {index_digest}); put the table or model the index was built "
                              "from before the retriever")

    def __repr__(self) -> str:
        return f"lilsr.retriever({str(self.index)!r}, engine={self.engine_name!r}, k={self.k})"


def table_encoder(table: str | Path, model: str | None = None, dup: str = "sum") -> QueryEncoderTransformer:
    """The Li-LSR table (a folder from ``lilsr table export`` or ``lilsr train``) as a query transformer."""
    from .models.query_encoders import make_query_encoder

    return QueryEncoderTransformer(make_query_encoder("table", table=table, model=model, dup=dup))


def contextual_encoder(model: str, max_length: int = 128, batch_size: int = 32) -> QueryEncoderTransformer:
    """The model's contextual SPLADE query encoder as a query transformer (``batch_size`` queries at a time)."""
    from .models.query_encoders import ContextualEncoder

    return QueryEncoderTransformer(ContextualEncoder(model, max_length=max_length, batch_size=batch_size),
                                   batch_size=batch_size)


def doc_encoder(model: str = "splade-tiny", max_length: int = 256, batch_size: int = 32,
                text_field: str = "text") -> DocEncoderTransformer:
    """The SPLADE document encoder as a document transformer (``text`` -> ``toks``)."""
    from .models.splade import SpladeEncoder

    return DocEncoderTransformer(SpladeEncoder(model, max_length=max_length, batch_size=batch_size), text_field)


def retriever(index: str | Path, engine: str | None = None, k: int = 1000, threads: int = 1, **params) -> Retriever:
    """Any lilsr index folder or vector store (engine from its manifest, or ``engine``) as a retriever."""
    return Retriever(index, engine=engine, k=k, threads=threads, **params)


__all__ = ["Retriever", "QueryEncoderTransformer", "DocEncoderTransformer", "table_encoder", "contextual_encoder",
           "doc_encoder", "retriever"]
