"""Choosing the native index's default query_cut and heap_factor per k, on queries that are not the test split.

For each k (10, 100, 1000) every (query_cut, heap_factor) of the grid searches the *dev* queries (SciFact's
train split: SciFact has no dev split, and no setting may be chosen on test); the default for that k is the
fastest setting whose accuracy@k against exact search is at least ``--target`` (0.95), its latency the
median over queries of the per-query median of ``--repeats`` passes after one warm-up pass. Then, on the
test queries, R@1000 (qrels) of exact search, of the old defaults under the old code (``--before``: a
checkout without k-aware defaults, run in a child process) and of the new defaults, plus how many results
each returns at k=1000.

    flock .cpu.lock nice -n 10 python benchmarks/native_k_defaults.py \\
        --vectors STORE --dev-queries TRAIN_QUERIES --test-queries TEST_QUERIES --before ../main

Writes benchmarks/work/results/native_k_defaults.{csv,json}. The lines to paste into
``lilsr_tools/engines/param_specs.py`` (``NATIVE_K_DEFAULTS``) are printed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common import run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser, fraction, work_folder
from result_files import ResultWriter
from timing import time_searches

import numpy as np

KS = (10, 100, 1000)
QUERY_CUTS = (5, 8, 10, 15, 20, 30, 50)
HEAP_FACTORS = (0.5, 0.7, 0.8, 0.9, 1.0)


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, work="native-k", out="native_k_defaults.csv and .json", repeats=3,
                              collection="collection whose test qrels score R@1000")
    parser.add_argument("--vectors", required=True, help="vector store")
    parser.add_argument("--dev-queries", required=True, help="encoded queries to choose on (not the test split)")
    parser.add_argument("--test-queries", required=True, help="encoded test queries, for R@1000 only")
    parser.add_argument("--before", default=None, help="a checkout with the old native code, for the 'before' row")
    parser.add_argument("--query-cuts", type=at_least(1), nargs="+", default=list(QUERY_CUTS))
    parser.add_argument("--heap-factors", type=fraction, nargs="+", default=list(HEAP_FACTORS))
    parser.add_argument("--target", type=fraction, default=0.95)
    return parser.parse_args(argv)


def median_ms(engine, qids, queries, k, params, repeats):
    """(first timed results, median over queries of each query's median call time over ``repeats``)."""
    timed = time_searches(lambda: engine.batch_search(qids, queries, k=k, **params), repeats)
    return timed.results, float(np.median(timed.call_ns) / 1e6)


def before_run(checkout: Path, index: Path, queries: Path, run: Path) -> None:
    """Search with the old code (its own defaults at k=1000) in a child process."""
    code = ("import sys; from lilsr_tools.engines.native import NativeEngine;"
            "from lilsr_tools.vectors.queries import load_encoded_queries;"
            "from lilsr_tools.data.trec import write_run;"
            "q, _ = load_encoded_queries(sys.argv[2]); e = NativeEngine.load(sys.argv[1]);"
            "r = e.batch_search(q.qids, q.vectors, k=1000);"
            "write_run(sys.argv[3], r.qids, r.doc_ids, r.scores, tag='before')")
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    subprocess.run([sys.executable, "-c", code, str(index), str(queries), str(run)], check=True, env=env,
                   cwd=checkout)


def main(argv=None) -> None:
    args = parse_args(argv)
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.data.trec import read_run
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.native import NativeEngine
    from lilsr_tools.engines.native.engine import K_DEFAULTS, defaults_for_k
    from lilsr_tools.evaluation.metrics import accuracy_at_k, evaluate
    from lilsr_tools.vectors.queries import load_encoded_queries
    from lilsr_tools.vectors.store import load_vectors

    writer = ResultWriter(args)
    work = work_folder(args)
    vectors = load_vectors(args.vectors)
    index = work / "native-index"
    if not (index / "manifest.json").is_file():
        NativeEngine.build(vectors, index, overwrite=True, progress=False)
    engine = NativeEngine.load(index, in_memory=True)
    exact = ExactEngine(vectors)
    dev, _ = load_encoded_queries(args.dev_queries)
    test, _ = load_encoded_queries(args.test_queries)
    print(f"{len(vectors):,} docs; {len(dev)} dev queries ({Path(args.dev_queries).name}), {len(test)} test queries; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)

    rows, chosen = [], {}
    for k in KS:
        truth = exact.batch_search(dev.qids, dev.vectors, k=k).as_run()
        for query_cut in args.query_cuts:
            for heap_factor in args.heap_factors:
                params = {"query_cut": query_cut, "heap_factor": heap_factor}
                results, ms = median_ms(engine, dev.qids, dev.vectors, k, params, args.repeats)
                accuracy = accuracy_at_k(results.as_run(), truth, k)
                rows.append({"k": k, **params, "accuracy_at_k": round(accuracy, 4), "median_ms": round(ms, 4),
                             "mean_results": float(np.mean([len(d) for d in results.doc_ids]))})
                print(f"k={k:<5d} qc {query_cut:3d} hf {heap_factor:.1f}: accuracy@k {accuracy:.4f}, "
                      f"{ms:.3f} ms", flush=True)
        ok = [r for r in rows if r["k"] == k and r["accuracy_at_k"] >= args.target]
        chosen[k] = min(ok, key=lambda r: r["median_ms"]) if ok else max(
            (r for r in rows if r["k"] == k), key=lambda r: r["accuracy_at_k"])

    # test split: R@1000 and result counts at k=1000, before and after
    qrels = resolve_collection(args.collection).qrels("test")
    report = {"dev_queries": Path(args.dev_queries).name, "test_queries": Path(args.test_queries).name,
              "target": args.target,
              "current_k_defaults": [[k, v] for k, v in K_DEFAULTS], "chosen": chosen, "test": {}}

    def score(name, run):
        measures = evaluate(run, qrels, ["R@1000", "nDCG@10"]).aggregates
        counts = [len(run.get(q, [])) for q in test.qids]
        report["test"][name] = {**measures, "min_results": int(min(counts)), "mean_results": float(np.mean(counts))}
        print(f"test {name:28s} R@1000 {measures['R@1000']:.4f} nDCG@10 {measures['nDCG@10']:.4f} "
              f"results per query: min {min(counts)}, mean {np.mean(counts):.1f}", flush=True)

    score("exact", exact.batch_search(test.qids, test.vectors, k=1000).as_run())
    if args.before:
        before = work / "before.trec"
        before_run(Path(args.before), index, Path(args.test_queries), before)
        score("native before (old code)", read_run(before))
    score(f"native now {defaults_for_k(1000)['query_cut']}/{defaults_for_k(1000)['heap_factor']}",
          engine.batch_search(test.qids, test.vectors, k=1000).as_run())
    best = chosen[1000]
    score(f"native chosen {best['query_cut']}/{best['heap_factor']}",
          engine.batch_search(test.qids, test.vectors, k=1000, query_cut=best["query_cut"],
                              heap_factor=best["heap_factor"]).as_run())

    writer.csv("native_k_defaults.csv", rows)
    writer.json("native_k_defaults.json", report)
    print("NATIVE_K_DEFAULTS = (" + ",\n                     ".join(
        f"({k if k != KS[-1] else None}, {{\"query_cut\": {c['query_cut']}, \"heap_factor\": {c['heap_factor']}}})"
        for k, c in chosen.items()) + ")")


if __name__ == "__main__":
    run(main)
