"""How a benchmark times things, so that every script's figures mean the same.

Engine searches go through the engine's own ``batch_search``: each query is then timed on the package's call
clock (``lilsr_tools.engines.call_clock.time_calls``: query conversion, the search, external ids), never on a
clock of the benchmark's. ``time_searches`` repeats a search over a query set and reduces each query's times
over the repeats; ``latency_ms`` summarizes them. Anything else (encoding, loads, a foreign wrapper's batch)
is timed by ``wall_seconds``: untimed warm-up calls, then the wall time of each repeat (``median_seconds``:
their median; ``alternating_seconds``: two things timed in turns).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lilsr_tools.engines.search import timed_passes
from lilsr_tools.evaluation.latency import summarize_ns


@dataclass
class Timed:
    results: object  # the first timed pass's SearchResults
    call_ns: np.ndarray  # per query: its call-clock times reduced over the repeats
    engine_ns: np.ndarray | None  # the same for the engine's own clock, where every pass reports one


def time_searches(search: Callable, repeats: int, *, warmup: int = 1, per_query=np.median) -> Timed:
    """``search()`` (an engine's ``batch_search`` over the query set) through the package's one warm-up and
    repeat loop (``lilsr_tools.engines.search.timed_passes``): ``warmup`` untimed passes, then ``repeats``
    timed ones; per query, ``per_query`` (median, or min: other jobs only ever add time) of its times."""
    runs, call, own = timed_passes(search, warmup=warmup, repeat=repeats, per_query=per_query)
    return Timed(runs[0], call, own)


def call_ns(runs, per_query=np.median) -> np.ndarray:
    """Each query's call-clock time over several passes (``SearchResults``), reduced by ``per_query``."""
    return per_query(np.stack([r.retrieval_ns for r in runs]), axis=0)


def latency_ms(ns: np.ndarray, median: str = "median_ms") -> dict:
    """Median (under the name ``median``), mean and p99 over queries, in milliseconds: the package's
    ``summarize_ns`` under the names the benchmark CSVs have always used."""
    summary = summarize_ns(ns)
    return {median: summary["p50_ms"], "mean_ms": summary["mean_ms"], "p99_ms": summary["p99_ms"]}


def wall_seconds(fn: Callable, repeats: int, warmup: int = 1) -> tuple[list[float], object]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones, and the last result."""
    for _ in range(warmup):
        fn()
    walls, last = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        last = fn()
        walls.append(time.perf_counter() - start)
    return walls, last


def median_seconds(fn: Callable, repeats: int, warmup: int = 1) -> float:
    """The median of ``wall_seconds``."""
    return float(np.median(wall_seconds(fn, repeats, warmup)[0]))


def alternating_seconds(first: Callable, second: Callable, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of ``first`` and ``second`` called alternately, ``repeats`` times each, after one untimed call
    of each: drift in the machine's load hits both alike (garbage collected before each call)."""
    first(), second()
    times = ([], [])
    for _ in range(repeats):
        for fn, out in ((first, times[0]), (second, times[1])):
            gc.collect()
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times
