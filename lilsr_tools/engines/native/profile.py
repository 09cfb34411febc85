"""Where a native search spends its time: per query, the kernel's work counters and the time-stamp-counter
ticks of each stage (``search_kernels.STATS``), from the same compiled search with profiling switched on.

Stages: *summaries* (scoring the block summaries of the query's lists), *order* (building and popping the
block heap; Seismic's list order: sorting the first list), *documents* (scoring the visited blocks' documents
from the forward index, and offers the heap turns down: one comparison each), *heap* (the offers that enter
the k-heap), *sort* (the results best first), *other* (the rest: the dense query, choosing the lists,
allocations). The stage clocks cost a few tens of cycles per block, popped block and heap update;
``benchmarks/native_kernel.py`` reports the profiled total beside the plain search's time so that overhead
is visible.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import queries_to_ids
from .engine import NativeEngine
from .lowlevel import simd_path, ticks_per_ns
from .search_kernels import STATS, search_single

STAGES = ("summaries", "order", "documents", "heap", "sort", "other")


def profile_queries(engine: NativeEngine, queries: Sequence[dict], k: int = 10, **params) -> np.ndarray:
    """The profile of each query, an int64 array [queries, len(STATS)] (one thread, one call per query)."""
    p = engine.search_params(params, k)
    k = engine._scratch(k)
    heap_s, heap_d, out_docs, out_scores = engine._heap
    acc_code, acc_weight, summary = engine._acc
    args, path = engine.arrays.kernel_args(), simd_path()
    table = np.zeros((len(queries), len(STATS)), np.int64)
    for i, query in enumerate(queries):
        [(comp, val)], _ = queries_to_ids([query], engine._token_ids)
        order = np.argsort(comp, kind="stable")
        search_single(comp[order], val[order], k, p["query_cut"], np.float32(p["heap_factor"]), p["sorted"],
                      p["block_order"] == "global", p["prefetch"], engine._lists_complete, path, *args,
                      engine._q_dense, engine._seen, engine._next_stamp(), heap_s, heap_d, acc_code, acc_weight,
                      summary, out_docs, out_scores, table[i])
    return table


def stage_ms(table: np.ndarray, ticks_per_ms: float | None = None) -> dict[str, np.ndarray]:
    """Per query, milliseconds in each of ``STAGES`` and in all (``total``)."""
    per_ms = ticks_per_ms or ticks_per_ns() * 1e6
    field = {name: table[:, i] / per_ms for i, name in enumerate(STATS)}
    documents = field["ticks_docs"] - field["ticks_heap"]  # block timers include the heap offers inside
    stages = {"summaries": field["ticks_summaries"], "order": field["ticks_order"], "documents": documents,
              "heap": field["ticks_heap"], "sort": field["ticks_sort"]}
    stages["other"] = field["ticks_total"] - sum(stages.values())
    stages["total"] = field["ticks_total"]
    return stages


def counters(table: np.ndarray) -> dict[str, np.ndarray]:
    """Per query, the work counters (the ``STATS`` fields that are not ticks)."""
    return {name: table[:, i] for i, name in enumerate(STATS) if not name.startswith("ticks_")}
