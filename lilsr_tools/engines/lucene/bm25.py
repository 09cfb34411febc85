"""``BM25Engine``: the lexical baseline, Anserini's BEIR "flat" BM25, searched on raw query text.

Search follows Anserini's ``SearchCollection -bm25`` step for step: the default English analyzer (Porter
stemming, stopwords removed), ``BagOfWordsQueryGenerator``, Lucene's ``BM25Similarity(k1, b)`` (defaults
0.9 / 0.4), hits sorted by score then external docid (``BREAK_SCORE_TIES_BY_DOCID``), and the scores passed
through ``ScoreTiesAdjusterReranker`` (rounded to 4 decimals, ties nudged apart by 1e-6) so that any
evaluator's re-sort keeps Anserini's order. ``remove_query=True`` is Anserini's ``-removeQuery`` (used by its
BEIR regressions): a hit whose docid equals the query id is dropped after retrieval.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from ..base import SearchResults
from . import indexing, jvm
from .anserini_path import BATCH_TIMING, TextSearcherPath
from .anserini_path import TIMING as ANSERINI_TIMING
from .bridge import BridgeUnavailable, JavaBridge
from ..call_clock import time_calls
from ..param_specs import BM25
from ..params import check_known_params
from .impact import BRIDGE_TIMING, SEARCHERS
from ..checks import checked_search



class BM25Engine:
    name = "bm25"
    query_input = "text"
    param_spec = BM25

    def __init__(self, path: Path, manifest: dict, lucene_dir: Path, searcher, k1: float, b: float,
                 mode: str, heap: str | None, note: str = ""):
        self.path = path
        self.manifest = manifest
        self.lucene_dir = lucene_dir
        self.searcher = searcher
        self.k1, self.b = k1, b
        self.mode, self.heap, self.note = mode, heap, note

    @property
    def uses_bridge(self) -> bool:
        return isinstance(self.searcher, JavaBridge)

    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, threads: int = 1, heap: str | None = None,
              **params) -> Path:
        check_known_params(params, BM25.names("build"), "bm25 build")
        return indexing.build_bm25_index(source, out, threads=threads, overwrite=overwrite, heap=heap)

    @classmethod
    def load(cls, path, *, searcher: str = "auto", k1: float = 0.9, b: float = 0.4, heap: str | None = None,
             quiet: bool = False, **options) -> "BM25Engine":
        check_known_params(options, ("searcher", "k1", "b", "heap", "quiet"), "bm25 load")
        if searcher not in SEARCHERS:
            raise LilsrError(f"searcher must be one of {', '.join(SEARCHERS)}, not {searcher!r}")
        path = Path(path)
        lucene_dir, manifest = indexing.index_dir(path, indexing.BM25_KIND, heap)
        jvm.start_jvm(heap)
        opened, note = _open(lucene_dir, searcher, k1, b, heap, quiet)
        return cls(path, manifest, lucene_dir, opened, k1, b, searcher, heap, note)

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[str], k: int = 1000, threads: int = 1,
                     k1: float | None = None, b: float | None = None, remove_query: bool = False,
                     searcher: str | None = None, **params) -> SearchResults:
        """``k1``/``b`` or ``searcher`` (``bridge``/``anserini``/``auto``) other than the open ones reopen it.
        With the bridge and one thread each query is one call into Java (call clock; Java's clock beside
        it); with several threads one batch call."""
        check_known_params(params, BM25.names("search"), "bm25 search")
        if searcher is not None and searcher not in SEARCHERS:
            raise LilsrError(f"searcher must be one of {', '.join(SEARCHERS)}, not {searcher!r}")
        if ((k1 is not None and float(k1) != self.k1) or (b is not None and float(b) != self.b)
                or (searcher is not None and searcher != self.mode)):
            self.searcher.close()
            self.k1 = float(k1) if k1 is not None else self.k1
            self.b = float(b) if b is not None else self.b
            self.mode = searcher or self.mode
            self.searcher, self.note = _open(self.lucene_dir, self.mode, self.k1, self.b, self.heap, False)
        info = {"engine": self.name, "k": k, "threads": threads, "k1": self.k1, "b": self.b,
                "remove_query": bool(remove_query)}
        engine_ns = None
        if threads <= 1:  # one query at a time on the shared call clock (the text goes in as it is)
            if self.uses_bridge:
                ids_of = self.searcher.ids

                def search(text):
                    hits = self.searcher.search_texts([text], k, 1)
                    return hits.docs[0], hits.scores[0], int(hits.nanos[0])

                external = lambda docs: ids_of[docs].tolist()  # noqa: E731
                info.update(searcher="java-bridge", timing="call clock (call_clock.time_calls): one bridge call per "
                                                           "query and the ids back; engine clock: " + BRIDGE_TIMING)
            else:
                search = self.searcher.call_clock_search(k)
                external = list
                info.update(searcher=TextSearcherPath.name, note=self.note,
                            timing="call clock (call_clock.time_calls): " + ANSERINI_TIMING)
            results = time_calls(qids, queries, lambda text: (text, 0), search, external, info)
            doc_ids, times, engine_ns = results.doc_ids, results.retrieval_ns, results.engine_ns
            scores = [np.asarray(row, dtype=np.float64) for row in results.scores]
        elif self.uses_bridge:
            hits = self.searcher.search_texts(list(queries), k, threads)
            doc_ids = [self.searcher.ids[docs].tolist() for docs in hits.docs]
            scores = [np.asarray(s, dtype=np.float64) for s in hits.scores]
            times = engine_ns = np.asarray(hits.nanos, np.int64)
            info.update(searcher="java-bridge", timing="one batch call over Java threads; " + BRIDGE_TIMING)
        else:
            found, times = self.searcher.search(list(queries), k, threads)
            doc_ids = [ids for ids, _ in found]
            scores = [np.asarray(s, dtype=np.float64) for _, s in found]
            info.update(searcher=TextSearcherPath.name, timing=BATCH_TIMING, note=self.note)
        if remove_query:
            removed = []  # the queries whose own id came back as a document: recorded, never silent
            for i, qid in enumerate(qids):
                keep = [j for j, doc in enumerate(doc_ids[i]) if doc != qid]
                if len(keep) != len(doc_ids[i]):
                    doc_ids[i] = [doc_ids[i][j] for j in keep]
                    scores[i] = scores[i][keep]
                    removed.append(qid)
            info.update(removed_query_docs=len(removed), removed_query_doc_qids=removed)
        return SearchResults(list(qids), doc_ids, scores, np.asarray(times, dtype=np.int64), 0, info,
                             engine_ns=engine_ns)

    def index_stats(self) -> dict:
        return {**(self.manifest.get("postings") or {}), "index_bytes": self.manifest.get("index_bytes")}

    def close(self) -> None:
        self.searcher.close()


def _open(lucene_dir: Path, searcher: str, k1: float, b: float, heap: str | None, quiet: bool):
    if searcher == "anserini":
        return TextSearcherPath(lucene_dir, k1, b), ""
    try:
        return JavaBridge(lucene_dir, "bm25", k1=k1, b=b, heap=heap), ""
    except BridgeUnavailable as exc:
        if searcher == "bridge":
            raise
        note = f"{exc}; searching with Anserini's SimpleSearcher via pyjnius (per-query calls, Python-side timing)"
        if not quiet:
            print(f"lilsr: note: {note}", file=sys.stderr)
        return TextSearcherPath(lucene_dir, k1, b), note
