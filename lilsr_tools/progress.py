"""Progress bars for long steps: tqdm on stderr, with a rate, quiet when stderr is not a terminal.

One switch for every command: ``lilsr --quiet`` (or ``LILSR_PROGRESS=0``) turns bars off,
``LILSR_PROGRESS=1`` forces them on (a log file you tail, say); otherwise they show only on a terminal,
so pipes, CI logs and tests stay clean. A bar appears only after ``delay`` seconds, so quick steps print
nothing.

``SearchProgress`` wraps an engine so that one ``batch_search`` call shows a bar: with bars on, the queries
go to the engine in chunks (each query is still timed by the engine, on the same clock); with bars off it
is a plain pass-through.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Sequence

import numpy as np
from tqdm import tqdm

ENV = "LILSR_PROGRESS"


def enabled(progress: bool | None = None) -> bool:
    """Whether bars show: never with ``progress=False`` (a caller that wants silence); otherwise
    ``$LILSR_PROGRESS`` (0/1) when set, else whether stderr is a terminal."""
    if progress is False:
        return False
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return sys.stderr.isatty()


def bar(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it", progress: bool | None = None,
        delay: float = 1.0, **kwargs) -> tqdm:
    """A tqdm bar on stderr (rate in ``unit``/s), shown after ``delay`` seconds when bars are enabled."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled(progress), delay=delay,
                file=sys.stderr, dynamic_ncols=True, mininterval=0.5, smoothing=0.1, **kwargs)


class SearchProgress:
    """An engine whose ``batch_search`` shows a progress bar over the queries.

    With bars on, the queries are searched in about ``chunks`` calls of at least ``min_chunk`` queries (and
    at least 16 per thread), and the results joined in order; every other attribute is the engine's.
    """

    def __init__(self, engine, desc: str = "search", progress: bool | None = None, chunks: int = 50,
                 min_chunk: int = 32, leave: bool = True):
        self._engine = engine
        self._desc = desc
        self._leave = leave
        self._progress = progress
        self._chunks = chunks
        self._min_chunk = min_chunk
        self._phase = ""

    def set_phase(self, phase: str) -> None:
        """Label the next searches' bar (``run_search``: "warm-up", "timed"), so that a warm-up pass and a
        timed pass over the same queries are told apart."""
        self._phase = phase

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def batch_search(self, qids: Sequence[str], queries: Sequence, k: int = 1000, threads: int = 1, **params):
        n = len(qids)
        size = max(self._min_chunk, 16 * max(1, threads or 1), math.ceil(n / self._chunks))
        if not enabled(self._progress) or n <= size:
            return self._engine.batch_search(qids, queries, k=k, threads=threads, **params)
        parts = []
        phase = f", {self._phase}" if self._phase else ""
        with bar(total=n, desc=f"{self._desc} ({self._engine.name}, k={k}{phase})", unit="query",
                 progress=self._progress, leave=self._leave) as progress:
            for lo in range(0, n, size):
                parts.append(self._engine.batch_search(list(qids[lo:lo + size]), list(queries[lo:lo + size]),
                                                       k=k, threads=threads, **params))
                progress.update(len(parts[-1]))
        return join_results(parts)


def join_results(parts: list):
    """One ``SearchResults`` from consecutive ones (the first part's ``info``)."""
    from .engines.base import SearchResults

    first = parts[0]
    engine_ns = None
    if all(p.engine_ns is not None for p in parts):
        engine_ns = np.concatenate([np.asarray(p.engine_ns, dtype=np.int64) for p in parts])
    return SearchResults([q for p in parts for q in p.qids], [d for p in parts for d in p.doc_ids],
                         [s for p in parts for s in p.scores],
                         np.concatenate([np.asarray(p.retrieval_ns, dtype=np.int64) for p in parts]),
                         sum(p.unknown_tokens for p in parts), dict(first.info), engine_ns)
