"""The call clock, owned in one place: every engine's per-query time covers the same stages.

An engine supplies three pieces and ``time_calls`` times them together, per query:

- ``prepare(query)``: our ``{token: weight}`` query (or text) -> (the engine's query, unknown tokens);
- ``search(prepared)``: -> (the engine's internal hits, float32 scores best first, its own ns or None);
- ``external_ids(hits)``: -> our external document ids.

So query conversion (BMP's levels and beta pruning, native's sort) and the mapping of internal to external
ids (about 0.6 ms at k=1000) sit inside every engine's clock, by construction rather than by convention.
The engine's own clock, where ``search`` reports one, is kept beside it (``SearchResults.engine_ns``).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from .base import SearchResults

CALL_STAGES = "prepare the query, search, map internal hits to external ids and scores"


def time_calls(qids: Sequence[str], queries: Sequence, prepare: Callable, search: Callable,
               external_ids: Callable, info: dict) -> SearchResults:
    """Search every query through the engine's pieces, each query timed on the call clock around all three;
    ``info`` (the engine's name, k, settings) is returned with ``timing`` added."""
    n = len(queries)
    call_ns = np.empty(n, np.int64)
    engine_ns = np.zeros(n, np.int64)
    own_clock = True
    doc_ids: list[list[str]] = []
    scores: list[np.ndarray] = []
    unknown = 0
    clock = time.perf_counter_ns
    for i, query in enumerate(queries):
        start = clock()
        prepared, missing = prepare(query)
        hits, found_scores, own_ns = search(prepared)
        found = external_ids(hits)
        call_ns[i] = clock() - start
        unknown += missing
        if own_ns is None:
            own_clock = False
        else:
            engine_ns[i] = own_ns
        doc_ids.append(found)
        scores.append(np.asarray(found_scores, np.float32))
    info = {**info, "call_clock": CALL_STAGES}
    return SearchResults(list(qids), doc_ids, scores, call_ns, unknown, info,
                         engine_ns=engine_ns if own_clock and n else None)


def ids_mapper(ids: Sequence[str]) -> Callable:
    """``external_ids`` for engines whose hits are document indices into ``ids``."""
    return lambda hits: [ids[j] for j in hits.tolist()]  # Python ints index a list faster than numpy ints
