"""One search, end to end: queries in, a TREC run and a latency JSON out. The CLI and reports call this."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..atomic import atomic_file
from ..data.trec import write_run
from ..errors import LilsrError
from ..evaluation.latency import summarize_ns
from ..rounding import round_floats
from .base import SearchResults
from .checks import check_batch


@dataclass
class QueryBatch:
    """What an engine searches: ids plus text (for BM25) and/or vectors (for vector engines)."""

    qids: list[str]
    texts: list[str] | None = None
    vectors: list[dict[str, float]] | None = None
    encode_ns: np.ndarray | None = None
    encoder: str = ""
    vocab_digest: str | None = None  # of the vocabulary the vectors were encoded over (checks.check_query_vocabulary)
    source: str | None = None  # where the queries came from, for messages

    def payload(self, query_input: str) -> Sequence:
        if query_input == "text":
            if self.texts is None:
                raise LilsrError("this engine searches query text: pass a collection or a queries file, "
                                 "not encoded query vectors")
            return self.texts
        if self.vectors is None:
            raise LilsrError("this engine searches query vectors: choose a query encoder (--encoder) "
                             "or pass encoded queries")
        return self.vectors


# What every latency figure of the toolkit means: warm, median of repeats, load recorded.
CALL_CLOCK = ("call: wall time around one query's search, from our query to external ids and scores: query "
              "conversion, the engine's search and id mapping included (one helper, engines.call_clock, times "
              "these stages for every engine that searches query by query)")


def run_search(engine, batch: QueryBatch, k: int = 1000, threads: int = 1, *, warmup: int = 1, repeat: int = 1,
               **params) -> SearchResults:
    """Search ``batch`` with ``engine``: ``warmup`` untimed passes over all queries (JIT compilers, caches
    and page cache warm on the same queries), then ``repeat`` timed passes; each query's time is the median
    of its repeats, on the call clock (``CALL_CLOCK``) and, where the engine exposes one, its own clock
    (``SearchResults.engine_ns``). The machine's load average before and after goes into ``info``."""
    if k < 1:
        raise LilsrError(f"k must be at least 1, got {k}")
    if warmup < 0 or repeat < 1:
        raise LilsrError(f"warmup must be >= 0 and repeat >= 1 (got {warmup}, {repeat})")
    check_batch(engine, batch)
    payload = batch.payload(engine.query_input)
    load_before = _load()
    set_phase = getattr(engine, "set_phase", None)  # a progress bar's label (progress.SearchProgress)
    runs, call, own = timed_passes(lambda: engine.batch_search(batch.qids, payload, k=k, threads=threads, **params),
                                   warmup=warmup, repeat=repeat, set_phase=set_phase)
    results = runs[0]
    if results.qids != batch.qids:
        raise LilsrError(f"engine {engine.name} returned queries out of order")
    results.retrieval_ns = call
    if own is not None:
        results.engine_ns = own
    results.info["protocol"] = {
        "warmup": warmup, "repeat": repeat, "statistic": "per query, the median of its repeats",
        "repeat_p50_ms": [round(float(np.median(r.retrieval_ns)) / 1e6, 4) for r in runs],
        "repeat_mean_ms": [round(float(np.mean(r.retrieval_ns)) / 1e6, 4) for r in runs],
        "load_average": {"before": load_before, "after": _load()}, "cpus": os.cpu_count(),
        "clock": CALL_CLOCK, "engine_clock": results.info.get("timing") if results.engine_ns is not None else None}
    return results


def timed_passes(search: Callable[[], SearchResults], *, warmup: int = 1, repeat: int = 1, per_query=np.median,
                 set_phase: Callable[[str], None] | None = None
                 ) -> tuple[list[SearchResults], np.ndarray, np.ndarray | None]:
    """``search()`` (one pass of an engine's ``batch_search`` over a query set) ``warmup`` times untimed
    (compiled code, caches, page faults), then ``repeat`` timed passes. Returns the timed passes, each
    query's call-clock time reduced over them by ``per_query`` (the median; a benchmark on a shared machine
    may take the min, since other jobs only ever add time), and the same for the engine's own clock where
    every pass reports one. The one warm-up-and-repeat loop of ``run_search`` and the benchmarks."""
    for number in range(warmup):
        if set_phase:
            set_phase("warm-up" if warmup == 1 else f"warm-up {number + 1}/{warmup}")
        search()
    runs = []
    for number in range(repeat):
        if set_phase:
            set_phase("timed" if repeat == 1 else f"timed {number + 1}/{repeat}")
        runs.append(search())
    call = per_query(np.stack([r.retrieval_ns for r in runs]), axis=0).astype(np.int64)
    own = None
    if all(r.engine_ns is not None for r in runs):
        own = per_query(np.stack([r.engine_ns for r in runs]), axis=0).astype(np.int64)
    return runs, call, own


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def latency_report(results: SearchResults, batch: QueryBatch) -> dict:
    encode = batch.encode_ns if batch.encode_ns is not None else np.zeros(len(results), dtype=np.int64)
    total = encode + results.retrieval_ns
    report = {
        "engine": results.info.get("engine"),
        "encoder": batch.encoder or None,
        "queries": len(results),
        "unknown_query_tokens": results.unknown_tokens,
        "encode": summarize_ns(encode),
        "retrieval": summarize_ns(results.retrieval_ns),
        "retrieval_engine_clock": summarize_ns(results.engine_ns) if results.engine_ns is not None else None,
        "total": summarize_ns(total),
        "protocol": results.info.get("protocol"),
        "info": {key: value for key, value in results.info.items() if key != "protocol"},
        "per_query": [{"qid": q, "encode_ms": e / 1e6, "retrieval_ms": r / 1e6}
                      for q, e, r in zip(results.qids, encode.tolist(), results.retrieval_ns.tolist())],
    }
    if results.engine_ns is not None:
        for row, ns in zip(report["per_query"], results.engine_ns.tolist()):
            row["engine_ms"] = ns / 1e6
    return report


def write_outputs(results: SearchResults, batch: QueryBatch, run_path: str | Path,
                  latency_path: str | Path | None = None, tag: str = "lilsr") -> dict:
    write_run(run_path, results.qids, results.doc_ids, results.scores, tag=tag)
    report = latency_report(results, batch)
    if latency_path:
        with atomic_file(latency_path) as handle:
            json.dump(round_floats(report), handle, indent=1)
    return report
