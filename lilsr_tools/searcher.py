"""Text in, hits out: ``Searcher(index, encoder=...)`` for notebooks and scripts.

    >>> from lilsr_tools import Searcher
    >>> searcher = Searcher("out/scifact-native", encoder="out/idf-table")        # a Li-LSR / idf table
    >>> searcher.search("vitamin D and bone density", k=3)
    [Hit(docid='...', score=...), ...]
    >>> searcher.batch_search(["first query", "second query"], k=10)             # one list of hits per text

The index is any index folder (the engine comes from its manifest; a vector store is searched exactly) and
the encoder a table folder, a query-encoder kind (``table``, ``contextual``, ``idf``, ``binary``, with what
it needs) or an encoder object (``models.query_encoders.make_query_encoder``). BM25 indexes search the
text itself and take no encoder. This is the same path as ``lilsr search``: same engines, same encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

from .errors import BadArgument, BadArgumentType, LilsrError


class Hit(NamedTuple):
    docid: str
    score: float


class Searcher:
    """Search an index with raw query texts.

    - ``index``: an index folder (``lilsr index ...``) or a vector store (exact search).
    - ``encoder``: a Li-LSR table folder, one of ``table``/``contextual``/``idf``/``binary`` (then
      ``model``, ``table``, ``vectors`` as ``lilsr encode queries`` takes them), or an object with
      ``encode(text) -> {token: weight}``. Not needed for BM25.
    - ``engine``: override the engine named by the index manifest (``seismic-rs`` on a vector store, say).
    - ``batch_size``: queries per batch of the contextual encoder in ``batch_search`` (``search`` encodes its
      one text alone).
    - ``threads``: search threads of ``batch_search``; ``params``: engine search parameters
      (``query_cut=10``, ``heap_factor=0.9`` for the native index).
    """

    def __init__(self, index: str | Path, encoder=None, *, engine: str | None = None, model: str | None = None,
                 table: str | Path | None = None, vectors: str | Path | None = None, dup: str = "sum",
                 max_length: int = 128, batch_size: int = 32, threads: int = 1, **params):
        from .engines import engine_for_index, get_engine
        from .engines.checks import check_count

        batch_size, threads = check_count("batch_size", batch_size), check_count("threads", threads)
        self.index = Path(index)
        self.engine_name = engine or engine_for_index(self.index)
        engine_cls = get_engine(self.engine_name)
        self.text_engine = engine_cls.query_input == "text"
        self.encoder = None if self.text_engine else _query_encoder(encoder, model, table, vectors, dup, max_length,
                                                                    batch_size)
        if self.encoder is None and not self.text_engine:
            raise LilsrError(f"{self.index}: the {self.engine_name} engine searches query vectors; pass encoder= "
                             "(a table folder, or table/contextual/idf/binary with what it needs)")
        self.batch_size = batch_size
        self.threads = threads
        self.params = params
        self.engine = engine_cls.load(self.index)
        self._check_vocabulary()

    def _check_vocabulary(self) -> None:
        """The encoder's vocabulary must be the index's (as ``lilsr search`` checks): a table of another
        model, same size but other tokens, would match the wrong postings without any error."""
        from .engines.checks import engine_vocab_digest
        from .vectors.store import vocab_digest

        vocab = getattr(self.encoder, "vocab", None)
        if self.text_engine or vocab is None:
            return
        ours, theirs = vocab_digest(list(vocab)), engine_vocab_digest(self.engine)
        if theirs and ours != theirs:
            raise BadArgument(f"the encoder's vocabulary (digest {ours}) is not the one {self.index} was built "
                              f"over (digest {theirs}); use the table or model the index was made from")

    def encode(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Query vectors of ``texts`` (the contextual encoder in batches of ``batch_size``)."""
        from .models.query_encoders import encode_queries

        from .engines.checks import check_query_vectors

        qids = [str(i) for i in range(len(texts))]
        vectors = encode_queries(self.encoder, qids, list(texts), batch_size=self.batch_size).vectors
        if len(vectors) != len(qids):
            raise BadArgumentType(f"encoder {self._encoder_name()} returned {len(vectors)} vectors for "
                                  f"{len(qids)} texts")
        check_query_vectors(qids, vectors, f"encoder {self._encoder_name()}")
        return vectors

    def search(self, text: str, k: int = 10) -> list[Hit]:
        """The top ``k`` documents for one query text, best first."""
        from .engines.checks import check_count, check_query_vectors

        if not isinstance(text, str):
            raise BadArgumentType(f"search takes one query string, got {type(text).__name__}; use batch_search "
                                  "for many")
        k = check_count("k", k)
        query = text if self.text_engine else self.encoder.encode(text)
        if not self.text_engine:
            check_query_vectors(["0"], [query], f"encoder {self._encoder_name()}")
        return self._hits(self.engine.batch_search(["0"], [query], k=k, threads=1, **self.params))[0]

    def batch_search(self, texts: Sequence[str], k: int = 10, threads: int | None = None) -> list[list[Hit]]:
        """The top ``k`` documents for each text, in the order of ``texts``."""
        from .engines.checks import check_count

        if isinstance(texts, str):
            raise BadArgumentType("batch_search takes a list of query strings; use search for one")
        k = check_count("k", k)
        threads = check_count("threads", threads if threads is not None else self.threads)
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise BadArgumentType(f"batch_search: texts[{i}] is a {type(text).__name__}, not a query string")
        if not texts:
            return []
        qids = [str(i) for i in range(len(texts))]
        queries = texts if self.text_engine else self.encode(texts)
        results = self.engine.batch_search(qids, queries, k=k, threads=threads, **self.params)
        return self._hits(results)

    @staticmethod
    def _hits(results) -> list[list[Hit]]:
        return [[Hit(docid, float(score)) for docid, score in zip(ids, scores)]
                for ids, scores in zip(results.doc_ids, results.scores)]

    def _encoder_name(self) -> str:
        return getattr(self.encoder, "name", type(self.encoder).__name__)

    def __repr__(self) -> str:
        encoder = "text" if self.text_engine else getattr(self.encoder, "name", type(self.encoder).__name__)
        return f"Searcher({str(self.index)!r}, engine={self.engine_name!r}, encoder={encoder!r})"


def _query_encoder(encoder, model, table, vectors, dup, max_length, batch_size):
    from .models.query_encoders import QUERY_ENCODERS, make_query_encoder
    from .vectors.store import load_vectors

    if encoder is None:
        if table is None:
            return None
        encoder = "table"
    if not isinstance(encoder, (str, Path)):
        if not callable(getattr(encoder, "encode", None)):
            raise LilsrError(f"encoder {encoder!r} has no encode(text) method")
        return encoder
    if str(encoder) not in QUERY_ENCODERS:  # a table folder
        path = Path(encoder)
        if not path.is_dir():
            raise LilsrError(f"encoder {str(encoder)!r} is neither a table folder nor one of "
                             f"{', '.join(QUERY_ENCODERS)}")
        encoder, table = "table", path
    store = load_vectors(vectors) if vectors is not None else None
    return make_query_encoder(str(encoder), model=model, table=table, vectors=store, dup=dup, max_length=max_length,
                              batch_size=batch_size)
