"""``LuceneEngine``: learned sparse vectors in a Lucene impact index, searched with Anserini's ImpactSimilarity.

Scoring: a document's impact for a term is its quantized weight ``round(w * scale)``, stored as the term
frequency; ImpactSimilarity scores a term as ``query weight * impact``, summed over the query's terms. So:

- ``query_weights="float"`` (default; the Java bridge only): Lucene's score is ``sum(q * impact)`` up to float32
  rounding, and we report ``score / scale``: the dot product of the float query with the quantized document.
- ``query_weights="int"`` (Pyserini's way; Anserini's SimpleImpactSearcher takes integers): query weights
  are ``round(q * query_scale)`` (``query_scale`` defaults to the index scale), Lucene's score is an exact
  integer dot product, and we report ``score / (scale * query_scale)``.

The divisor is in ``SearchResults.info["score_divisor"]``. Ties are broken by Lucene doc number
(``ties="lucene"``, the default: Lucene's own top-k, the fastest, and the store order for an index built with
one thread) or by external id (``ties="docid"``: Anserini's and Pyserini's sort on a docvalues field, 2-3x
slower at k=1000, and what the Anserini path always does).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from ...manifest import read_vocab
from ...vectors.convert import DEFAULT_SCALE
from ..base import SearchResults
from . import indexing, jvm
from .anserini_path import TIMING as ANSERINI_TIMING
from .anserini_path import BATCH_TIMING, ImpactSearcherPath
from .bridge import BridgeUnavailable, JavaBridge
from ..call_clock import time_calls
from ..checks import checked_search
from ..param_specs import LUCENE
from ..params import check_known_params

BRIDGE_TIMING = "inside Java, per query, around query construction and the Lucene search call"
SEARCHERS = ("auto", "bridge", "anserini")


def pack_queries(queries: Sequence[dict[str, float]], known: set[str], query_scale: float | None = None):
    """Flatten ``{token: weight}`` queries into (terms, float32 weights, int32 offsets, unknown count).

    Tokens outside ``known`` are counted and dropped; weights that are not positive (after rounding, with
    ``query_scale``) are dropped, as no engine scores them."""
    terms: list[str] = []
    weights: list[float] = []
    offsets = [0]
    unknown = 0
    for query in queries:
        for token, weight in query.items():
            if token not in known:
                unknown += 1
                continue
            if query_scale is not None:
                weight = round(weight * query_scale)  # half to even, as the document side
            if weight > 0:
                terms.append(token)
                weights.append(weight)
        offsets.append(len(terms))
    return terms, np.asarray(weights, dtype=np.float32), np.asarray(offsets, dtype=np.int32), unknown


def integer_maps(terms: list[str], weights: np.ndarray, offsets: np.ndarray) -> list[dict[str, int]]:
    """Packed queries (``pack_queries`` with a ``query_scale``: integer weights) as the ``Map<String, Integer>``
    queries Anserini's SimpleImpactSearcher takes, one dict per query."""
    return [dict(zip(terms[lo:hi], map(int, weights[lo:hi])))
            for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def open_impact_searcher(lucene_dir: Path, searcher: str, heap: str | None, quiet: bool):
    """The Java bridge, or Anserini's SimpleImpactSearcher (asked for, or as the announced fallback)."""
    if searcher == "anserini":
        return ImpactSearcherPath(lucene_dir), ""
    try:
        return JavaBridge(lucene_dir, "impact", heap=heap), ""
    except BridgeUnavailable as exc:
        if searcher == "bridge":
            raise
        note = (f"{exc}; searching with Anserini's SimpleImpactSearcher via pyjnius (integer query weights, "
                "per-query calls, Python-side timing)")
        if not quiet:
            print(f"lilsr: note: {note}", file=sys.stderr)
        return ImpactSearcherPath(lucene_dir), note


class LuceneEngine:
    name = "lucene"
    query_input = "vector"
    param_spec = LUCENE

    def __init__(self, path: Path, manifest: dict, lucene_dir: Path, vocab: list[str], searcher, note: str = ""):
        self.path = path
        self.manifest = manifest
        self.lucene_dir = lucene_dir
        self.vocab = vocab
        self.scale = float(manifest["params"]["scale"])
        # a token holding whitespace cannot be in an Anserini pre-tokenized index (and would break the
        # newline-separated hand-over to Java): it counts as unknown
        self._known = {token for token in vocab if token and not any(c.isspace() for c in token)}
        self.searcher = searcher
        self.note = note
        self.mode, self.heap = "auto", None

    @property
    def uses_bridge(self) -> bool:
        return isinstance(self.searcher, JavaBridge)

    def packed_queries(self, queries: Sequence[dict], query_scale: float | None = None):
        """``pack_queries`` over the tokens this index can hold: (terms, weights, offsets, unknown), as the
        bridge is sent them (with ``query_scale``, the integer weights Anserini's searchers are given)."""
        return pack_queries(queries, self._known, query_scale)

    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, scale: float | None = None, threads: int = 2,
              optimize: bool = True, heap: str | None = None, **params) -> Path:
        check_known_params(params, LUCENE.names("build"), "lucene build")
        return indexing.build_impact_index(source, out, scale=scale, threads=threads, optimize=optimize,
                                           overwrite=overwrite, heap=heap)

    @classmethod
    def load(cls, path, *, searcher: str = "auto", heap: str | None = None, quiet: bool = False,
             **options) -> "LuceneEngine":
        """Open an index folder. ``searcher``: ``bridge`` (our Java class), ``anserini`` (SimpleImpactSearcher
        via pyjnius, as Pyserini does) or ``auto`` (the bridge when built, else Anserini's, saying so)."""
        check_known_params(options, ("searcher", "heap", "quiet"), "lucene load")
        if searcher not in SEARCHERS:
            raise LilsrError(f"searcher must be one of {', '.join(SEARCHERS)}, not {searcher!r}")
        path = Path(path)
        lucene_dir, manifest = indexing.index_dir(path, indexing.LUCENE_KIND, heap)
        vocab = read_vocab(path / "vocab.json", "rebuild the index")
        jvm.start_jvm(heap)
        opened, note = open_impact_searcher(lucene_dir, searcher, heap, quiet)
        engine = cls(path, manifest, lucene_dir, vocab, opened, note)
        engine.mode, engine.heap = searcher, heap
        return engine

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     query_weights: str = "float", query_scale: float | None = None, ties: str = "lucene",
                     searcher: str | None = None, **params) -> SearchResults:
        """``searcher`` (``bridge``/``anserini``/``auto``) switches the searcher for this and later calls.
        With the bridge and one thread each query is one call into Java, timed on the call clock (packing,
        the pyjnius crossing, unpacking, external ids) and on Java's clock (query construction and the
        Lucene search); with several threads one batch call, Java's per-query clock only."""
        check_known_params(params, LUCENE.names("search"), "lucene search")
        if searcher is not None and searcher != self.mode:
            if searcher not in SEARCHERS:
                raise LilsrError(f"searcher must be one of {', '.join(SEARCHERS)}, not {searcher!r}")
            self.searcher.close()
            self.searcher, self.note = open_impact_searcher(self.lucene_dir, searcher, self.heap, False)
            self.mode = searcher
        if query_weights not in ("float", "int"):
            raise LilsrError(f"query_weights must be 'float' or 'int', not {query_weights!r}")
        if ties not in ("docid", "lucene"):
            raise LilsrError(f"ties must be 'docid' (Anserini's order) or 'lucene' (doc number), not {ties!r}")
        if not self.uses_bridge:
            query_weights = "int"  # SimpleImpactSearcher takes Map<String, Integer>
            ties = "docid"  # and always sorts ties by docid
        if query_weights == "int":
            query_scale = float(query_scale if query_scale is not None else self.scale)
            if not query_scale > 0:
                raise LilsrError(f"query_scale must be positive, got {query_scale}")
        else:
            query_scale = None
        divisor = self.scale * (query_scale or 1.0)
        info = {"engine": self.name, "k": k, "threads": threads, "query_weights": query_weights,
                "query_scale": query_scale, "scale": self.scale, "score_divisor": divisor, "ties": ties}
        engine_ns = None
        if threads <= 1:  # one query at a time on the shared call clock, through the bridge or Anserini's path
            if self.uses_bridge:
                ids_of = self.searcher.ids
                ties_by_id = ties == "docid"

                def prepare(query):
                    terms, weights, offsets, missing = pack_queries([query], self._known, query_scale)
                    return (terms, weights, offsets), missing

                def search(packed):
                    hits = self.searcher.search_vectors(*packed, k, 1, ties_by_id=ties_by_id)
                    return hits.docs[0], hits.scores[0], int(hits.nanos[0])  # Java's float scores, divided below

                external = lambda docs: ids_of[docs].tolist()  # noqa: E731
                info.update(searcher="java-bridge", timing="call clock (call_clock.time_calls): per query, packing, "
                                                           "one bridge call and the ids back; engine clock: "
                                                           + BRIDGE_TIMING)
            else:  # Map<String, Integer> queries
                def prepare(query):
                    terms, weights, offsets, missing = pack_queries([query], self._known, query_scale)
                    return integer_maps(terms, weights, offsets)[0], missing

                search = self.searcher.call_clock_search(k)
                external = list
                info.update(searcher=ImpactSearcherPath.name, note=self.note,
                            timing="call clock (call_clock.time_calls): " + ANSERINI_TIMING)
            results = time_calls(qids, queries, prepare, search, external, info)
            return dataclasses.replace(results, scores=[row.astype(np.float64) / divisor for row in results.scores])
        terms, weights, offsets, unknown = pack_queries(queries, self._known, query_scale)
        if self.uses_bridge:
            hits = self.searcher.search_vectors(terms, weights, offsets, k, threads, ties_by_id=ties == "docid")
            ids_of = self.searcher.ids
            doc_ids = [ids_of[docs].tolist() for docs in hits.docs]
            raw, times = hits.scores, hits.nanos
            engine_ns = np.asarray(times, dtype=np.int64)
            info.update(searcher="java-bridge", timing="one batch call over Java threads; " + BRIDGE_TIMING)
        else:
            found, times = self.searcher.search(integer_maps(terms, weights, offsets), k, threads)
            doc_ids = [ids for ids, _ in found]
            raw = [scores for _, scores in found]
            info.update(searcher=ImpactSearcherPath.name, timing=BATCH_TIMING, note=self.note)
        scores = [np.asarray(r, dtype=np.float64) / divisor for r in raw]
        return SearchResults(list(qids), doc_ids, scores, np.asarray(times, dtype=np.int64), unknown, info,
                             engine_ns=engine_ns)

    def index_stats(self) -> dict:
        return {**self.manifest.get("postings", {}), "index_bytes": self.manifest.get("index_bytes"),
                "scale": self.scale}

    def close(self) -> None:
        self.searcher.close()
