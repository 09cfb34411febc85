"""One search, end to end: queries in, a TREC run and a latency JSON out. The CLI and reports call this."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_file
from ..data.trec import write_run
from ..errors import LilsrError
from ..evaluation.latency import summarize_ns
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


def run_search(engine, batch: QueryBatch, k: int = 1000, threads: int = 1, **params) -> SearchResults:
    if k < 1:
        raise LilsrError(f"k must be at least 1, got {k}")
    check_batch(engine, batch)
    results = engine.batch_search(batch.qids, batch.payload(engine.query_input), k=k, threads=threads, **params)
    if results.qids != batch.qids:
        raise LilsrError(f"engine {engine.name} returned queries out of order")
    return results


def latency_report(results: SearchResults, batch: QueryBatch) -> dict:
    encode = batch.encode_ns if batch.encode_ns is not None else np.zeros(len(results), dtype=np.int64)
    total = encode + results.retrieval_ns
    return {
        "engine": results.info.get("engine"),
        "encoder": batch.encoder or None,
        "queries": len(results),
        "unknown_query_tokens": results.unknown_tokens,
        "encode": summarize_ns(encode),
        "retrieval": summarize_ns(results.retrieval_ns),
        "total": summarize_ns(total),
        "info": results.info,
        "per_query": [{"qid": q, "encode_ms": e / 1e6, "retrieval_ms": r / 1e6}
                      for q, e, r in zip(results.qids, encode.tolist(), results.retrieval_ns.tolist())],
    }


def write_outputs(results: SearchResults, batch: QueryBatch, run_path: str | Path,
                  latency_path: str | Path | None = None, tag: str = "lilsr") -> dict:
    write_run(run_path, results.qids, results.doc_ids, results.scores, tag=tag)
    report = latency_report(results, batch)
    if latency_path:
        with atomic_file(latency_path) as handle:
            json.dump(report, handle, indent=1)
    return report
