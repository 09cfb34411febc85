"""The Python side of ``java_bridge/`` (class ``lilsr.LuceneBridge``): one call per batch of queries.

A batch crosses into Java once as three arguments (terms joined by newlines, float32 weights and int32
offsets as little-endian bytes) and comes back once as one byte array: per query the Lucene doc numbers,
float32 scores, and the wall time measured inside Java around query construction and the Lucene search.
Doc numbers become external ids through an array read once when the index is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from . import jvm


class BridgeUnavailable(LilsrError):
    """The Java bridge is not built (or is stale); callers fall back to Anserini's SimpleImpactSearcher."""


@dataclass
class BatchHits:
    """Hits of a batch, in query order: Lucene doc numbers, float32 Lucene scores, Java-side nanoseconds."""

    docs: list[np.ndarray]
    scores: list[np.ndarray]
    nanos: np.ndarray


def unpack(blob: bytes, max_doc: int | None = None, where="the index") -> BatchHits:
    """Decode ``LuceneBridge.pack``: n, offsets[n+1], docs[total] int32, scores[total] float32, nanos[n] int64.
    With ``max_doc``, a doc number outside [0, max_doc) (a damaged index) is refused."""
    n = int(np.frombuffer(blob, dtype="<i4", count=1)[0])
    offsets = np.frombuffer(blob, dtype="<i4", count=n + 1, offset=4).astype(np.int64)
    total = int(offsets[-1])
    at = 4 + 4 * (n + 1)
    docs = np.frombuffer(blob, dtype="<i4", count=total, offset=at)
    if max_doc is not None and total and (docs.min() < 0 or docs.max() >= max_doc):
        raise LilsrError(f"{where}: Lucene returned document number {int(docs.max())} of {max_doc}; the index is "
                         "damaged, rebuild it")
    scores = np.frombuffer(blob, dtype="<f4", count=total, offset=at + 4 * total)
    nanos = np.frombuffer(blob, dtype="<i8", count=n, offset=at + 8 * total).astype(np.int64)
    return BatchHits([docs[offsets[i]:offsets[i + 1]] for i in range(n)],
                     [scores[offsets[i]:offsets[i + 1]] for i in range(n)], nanos)


class JavaBridge:
    """An open Lucene index behind ``lilsr.LuceneBridge``: ``impact`` (ImpactSimilarity) or ``bm25``."""

    def __init__(self, lucene_dir: str | Path, mode: str = "impact", k1: float = 0.9, b: float = 0.4,
                 stemmer: str = "porter", heap: str | None = None):
        state = jvm.start_jvm(heap)
        if not state["bridge"]:
            raise BridgeUnavailable(state["bridge_status"])
        cls = jvm.autoclass(jvm.BRIDGE_CLASS)
        try:
            if mode == "impact":
                self._java = cls.openImpact(str(Path(lucene_dir).resolve()))  # the JVM keeps the cwd it started in
            elif mode == "bm25":
                self._java = cls.openBm25(str(Path(lucene_dir).resolve()), float(k1), float(b), stemmer)
            else:
                raise ValueError(mode)
        except Exception as exc:  # a JavaException: unreadable index, wrong Lucene version, ...
            raise LilsrError(f"{lucene_dir}: Lucene could not open the index ({exc})") from None
        self.mode = mode
        self.lucene_dir = lucene_dir
        joined = self._java.joinedIds()
        self.ids = np.array(joined.split("\n") if self._java.maxDoc() else [], dtype=object)

    def search_vectors(self, terms: Sequence[str], weights: np.ndarray, offsets: np.ndarray, k: int,
                       threads: int = 1, ties_by_id: bool = True) -> BatchHits:
        """Weighted-term queries: query i is ``terms[offsets[i]:offsets[i+1]]`` with those ``weights``."""
        try:
            blob = self._java.searchVectors("\n".join(terms), np.asarray(weights, "<f4").tobytes(),
                                            np.asarray(offsets, "<i4").tobytes(), int(k), int(threads),
                                            bool(ties_by_id))
        except Exception as exc:  # a JavaException from a damaged index: one line, not a Java stack trace
            raise self._failed(exc) from None
        return unpack(blob.tostring(), len(self.ids), self.lucene_dir)

    def search_texts(self, texts: Sequence[str], k: int, threads: int = 1, adjust_ties: bool = True) -> BatchHits:
        """Raw query texts, analyzed and searched by Anserini's BM25 path (see ``LuceneBridge.searchTexts``)."""
        # newlines separate queries on the wire; for the analyzer they are whitespace like any other
        flat = [" ".join(text.split()) for text in texts]
        try:
            blob = self._java.searchTexts("\n".join(flat), len(flat), int(k), int(threads), bool(adjust_ties))
        except Exception as exc:
            raise self._failed(exc) from None
        return unpack(blob.tostring(), len(self.ids), self.lucene_dir)

    def _failed(self, exc: Exception) -> Exception:
        if type(exc).__name__ != "JavaException":  # a bug on our side keeps its traceback
            return exc
        message = " ".join(str(exc).split()).removeprefix("JVM exception occurred: ")[:300]
        return LilsrError(f"{self.lucene_dir}: Lucene failed while searching ({message}); check the index with "
                          "'lilsr search --verify' or rebuild it")

    def close(self) -> None:
        self._java.close()
