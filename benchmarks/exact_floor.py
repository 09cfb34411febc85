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
import time

from common import add_update_results, portable, results_dir, run  # noqa: F401 - sets sys.path and the offline environment

import numpy as np  # noqa: E402

from lilsr_tools.engines.base import queries_to_ids, top_k  # noqa: E402
from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.vectors.queries import load_encoded_queries  # noqa: E402
from lilsr_tools.vectors.store import load_vectors  # noqa: E402


class ScipyExact:
    """The scipy exact search the compiled engine replaced (kept here as the reference)."""

    def __init__(self, vectors):
        self.ids = vectors.ids
        self.n = len(vectors)
        self.token_ids = {t: i for i, t in enumerate(vectors.vocab)}
        self.by_term = vectors.csr.T.tocsr()

    def search(self, queries, k):
        times, runs = np.empty(len(queries), np.int64), []
        for i, query in enumerate(queries):
            start = time.perf_counter_ns()
            [(ids, weights)], _ = queries_to_ids([query], self.token_ids)
            scores = (np.asarray(self.by_term[ids].T @ weights, np.float32).reshape(-1) if ids.size
                      else np.zeros(self.n, np.float32))
            best = top_k(scores, k)
            found = [self.ids[j] for j in best]
            times[i] = time.perf_counter_ns() - start
            runs.append((found, scores[best]))
        return times, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store")
    parser.add_argument("queries")
    parser.add_argument("--k", default="10,1000")
    parser.add_argument("--repeat", type=int, default=5)
    add_update_results(parser)
    args = parser.parse_args()
    vectors = load_vectors(args.store, mmap=False)
    batch, _ = load_encoded_queries(args.queries)
    qids, queries = batch.qids, batch.vectors
    started = time.perf_counter()
    compiled = ExactEngine(vectors)
    load_compiled = time.perf_counter() - started
    started = time.perf_counter()
    scipy = ScipyExact(vectors)
    load_scipy = time.perf_counter() - started
    report = {"store": os.path.basename(os.path.normpath(args.store)), "docs": len(vectors), "queries": len(qids),
              "load_s": {"compiled": round(load_compiled, 2), "scipy": round(load_scipy, 2)},
              "load_average": os.getloadavg(), "k": {}}
    for k in (int(x) for x in args.k.split(",")):
        compiled.batch_search(qids, queries, k=k)  # warm-up (compiles or loads the numba cache)
        scipy.search(queries, k)
        passes = {"compiled": [], "scipy": []}
        for _ in range(args.repeat):
            result = compiled.batch_search(qids, queries, k=k)
            passes["compiled"].append(result.retrieval_ns)
            times, runs = scipy.search(queries, k)
            passes["scipy"].append(times)
        identical = all(found == ids and np.array_equal(scores, ref)
                        for found, scores, (ids, ref) in zip(result.doc_ids, result.scores, runs))
        row = {"identical_runs": identical}
        for name, timings in passes.items():
            per_query = np.median(np.stack(timings), axis=0) / 1e6
            row[name] = {"p50_ms": round(float(np.median(per_query)), 4), "mean_ms": round(float(per_query.mean()), 4)}
        row["p50_ratio_compiled_over_scipy"] = round(row["compiled"]["p50_ms"] / row["scipy"]["p50_ms"], 3)
        report["k"][k] = row
    print(json.dumps(report, indent=1))
    out = results_dir(args) / "exact_floor.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {portable(out)}")


if __name__ == "__main__":
    run(main)
