"""The compiled exact engine against the scipy path it replaced: same runs, and how much faster.

    .venv/bin/python benchmarks/exact_floor.py out/scifact-splade-tiny out/q-contextual
    .venv/bin/python benchmarks/exact_floor.py out/scifact-100k out/q-contextual --k 10,1000 --repeat 5

STORE is a vector store, QUERIES encoded queries over its vocabulary ('lilsr encode queries'). Both scorers
search every query one call at a time on the call clock (our query in, external ids and scores out), after a
warm-up pass, in alternating passes (so a busy machine slows both alike), each query's time the median of
--repeat passes. The scipy path is the old ``ExactEngine``: the store's transpose, ``by_term[ids].T @ w``,
then a partial sort with ties by document index. Prints p50/mean per k and whether the runs are identical
(ids and float32 scores).
"""

from __future__ import annotations

import argparse
import json
import os

from common import portable, run  # noqa: F401 - sets sys.path and the offline environment
from harness import at_least, benchmark_parser, load_queries
from result_files import ResultWriter
from timing import wall_seconds

import numpy as np  # noqa: E402

from lilsr_tools.engines.base import queries_to_ids, top_k  # noqa: E402
from lilsr_tools.engines.call_clock import ids_mapper, time_calls  # noqa: E402
from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.vectors.store import load_vectors  # noqa: E402


class ScipyExact:
    """The scipy exact search the compiled engine replaced (kept here as the reference), timed on the same
    call clock as the engines."""

    def __init__(self, vectors):
        self.ids = vectors.ids
        self.n = len(vectors)
        self.token_ids = {t: i for i, t in enumerate(vectors.vocab)}
        self.by_term = vectors.csr.T.tocsr()

    def batch_search(self, qids, queries, k):
        def prepare(query):
            [(ids, weights)], unknown = queries_to_ids([query], self.token_ids)
            return (ids, weights), unknown

        def search(prepared):
            ids, weights = prepared
            scores = (np.asarray(self.by_term[ids].T @ weights, np.float32).reshape(-1) if ids.size
                      else np.zeros(self.n, np.float32))
            best = top_k(scores, k)
            return best, scores[best], None

        return time_calls(qids, queries, prepare, search, ids_mapper(self.ids), {"engine": "scipy exact", "k": k})


def k_values(text: str) -> list[int]:
    """--k: comma-separated result depths, each at least 1."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every k must be at least 1, got {text!r}")
    return values


def main() -> None:
    parser = benchmark_parser(__doc__, full_doc=True)
    parser.add_argument("store")
    parser.add_argument("queries")
    parser.add_argument("--k", type=k_values, default=[10, 1000], help="comma-separated (default 10,1000)")
    parser.add_argument("--repeat", type=at_least(1), default=5)
    args = parser.parse_args()
    writer = ResultWriter(args)
    vectors = load_vectors(args.store, mmap=False)
    qids, queries = load_queries(args.queries)
    [load_compiled], compiled = wall_seconds(lambda: ExactEngine(vectors), 1, warmup=0)
    [load_scipy], scipy = wall_seconds(lambda: ScipyExact(vectors), 1, warmup=0)
    report = {"store": os.path.basename(os.path.normpath(args.store)), "docs": len(vectors), "queries": len(qids),
              "load_s": {"compiled": round(load_compiled, 2), "scipy": round(load_scipy, 2)},
              "load_average": os.getloadavg(), "k": {}}
    for k in args.k:
        scorers = {"compiled": compiled, "scipy": scipy}
        for scorer in scorers.values():  # warm-up (compiles or loads the numba cache)
            scorer.batch_search(qids, queries, k=k)
        passes = {name: [] for name in scorers}
        for _ in range(args.repeat):  # alternating passes: a busy machine slows both alike
            results = {name: scorer.batch_search(qids, queries, k=k) for name, scorer in scorers.items()}
            for name, result in results.items():
                passes[name].append(result.retrieval_ns)
        ours, ref = results["compiled"], results["scipy"]
        identical = all(found == ids and np.array_equal(scores, want)
                        for found, scores, ids, want in zip(ours.doc_ids, ours.scores, ref.doc_ids, ref.scores))
        row = {"identical_runs": identical}
        for name, timings in passes.items():
            per_query = np.median(np.stack(timings), axis=0) / 1e6
            row[name] = {"p50_ms": round(float(np.median(per_query)), 4), "mean_ms": round(float(per_query.mean()), 4)}
        row["p50_ratio_compiled_over_scipy"] = round(row["compiled"]["p50_ms"] / row["scipy"]["p50_ms"], 3)
        report["k"][k] = row
    out = writer.json("exact_floor.json", report)
    print(json.dumps(report, indent=1))
    print(f"wrote {portable(out)}")


if __name__ == "__main__":
    run(main)
