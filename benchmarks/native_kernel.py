"""Where the native kernel spends its time: one query set through the compiled search with its stage
clocks and work counters on (``lilsr_tools.engines.native.profile``), one thread, one call per query.

For each k: milliseconds per query in each stage (summaries, block order, document scoring, heap, result
sorting, other) as mean and median over queries, with their share of the mean total; the work behind them
(lists, block summaries scored, summary entries read, blocks visited, postings read, documents scored,
forward-index entries read, heap updates) as means per query; and the plain search's median (engine clock,
no profiling) beside the profiled one, so the clocks' own overhead shows. Each query is run ``--repeats``
times after a warm-up pass; per query and field the run with the smallest total is kept.

    nice -n 10 .venv/bin/python benchmarks/native_kernel.py --index out/scifact-native \\
        --queries out/q-contextual -k 10 1000 --label scifact

Writes ``benchmarks/work/results/native_kernel-LABEL.json`` (``--update-results``: benchmarks/results/).
"""

from __future__ import annotations

import sys

from common import portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser
from result_files import ResultWriter

import numpy as np


def parse_args(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--index", required=True, help="a native index folder (lilsr index native)")
    parser.add_argument("--queries", required=True, help="encoded queries (lilsr encode queries)")
    parser.add_argument("-k", type=at_least(1), nargs="+", default=[10, 1000], help="results per query (default: 10 1000)")
    parser.add_argument("-p", action="append", default=[], metavar="KEY=VALUE",
                        help="search parameter (default: the engine's defaults for each k)")
    parser.add_argument("--repeats", type=at_least(1), default=3, help="profiled passes per query (default 3)")
    parser.add_argument("--in-memory", action="store_true", help="read the index into memory (default: mapped)")
    parser.add_argument("--label", default="run", help="name of the results file (native_kernel-LABEL.json)")
    return parser.parse_args(argv)


def _params(pairs: list[str]) -> dict:
    from lilsr_tools.errors import LilsrError

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LilsrError(f"-p {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def profile_k(engine, queries, k: int, params: dict, repeats: int) -> dict:
    from lilsr_tools.engines.native.lowlevel import ticks_per_ns
    from lilsr_tools.engines.native.profile import counters, profile_queries, stage_ms
    from lilsr_tools.engines.native.search_kernels import STATS

    profile_queries(engine, queries.vectors, k=k, **params)  # warm-up: compile or load, touch the index
    runs = np.stack([profile_queries(engine, queries.vectors, k=k, **params) for _ in range(repeats)])
    fastest = runs[np.argmin(runs[:, :, STATS.index("ticks_total")], axis=0), np.arange(runs.shape[1])]
    stages = stage_ms(fastest, ticks_per_ns() * 1e6)
    plain = min((engine.batch_search(queries.qids, queries.vectors, k=k, **params).engine_ns
                 for _ in range(repeats)), key=lambda ns: float(np.median(ns)))
    mean_total = float(stages["total"].mean())
    return {
        "k": k, "params": engine.search_params(params, k),
        "stages_ms": {name: {"mean": float(v.mean()), "median": float(np.median(v)),
                             "share": float(v.mean() / mean_total) if mean_total else 0.0}
                      for name, v in stages.items()},
        "work_per_query": {name: float(v.mean()) for name, v in counters(fastest).items()},
        "plain_median_ms": float(np.median(plain) / 1e6),
        "profiled_median_ms": float(np.median(stages["total"])),
    }


def print_table(result: dict, label: str) -> None:
    p = result["params"]
    print(f"\n{label}, k={result['k']} (query_cut {p['query_cut']}, heap_factor {p['heap_factor']}, "
          f"{p['block_order']} order): plain search {result['plain_median_ms']:.3f} ms median, profiled "
          f"{result['profiled_median_ms']:.3f} ms")
    print(f"{'stage':<10} {'mean ms':>9} {'median ms':>10} {'share':>6}")
    for name, row in result["stages_ms"].items():
        print(f"{name:<10} {row['mean']:>9.4f} {row['median']:>10.4f} {row['share']:>6.1%}")
    work = result["work_per_query"]
    print("per query: " + ", ".join(f"{name.replace('_', ' ')} {value:,.1f}" for name, value in work.items()))


def main(argv=None) -> None:
    args = parse_args(argv)
    writer = ResultWriter(args)
    from lilsr_tools.engines.native import NativeEngine
    from lilsr_tools.vectors.queries import load_encoded_queries

    engine = NativeEngine.load(args.index, in_memory=args.in_memory)
    queries, _ = load_encoded_queries(args.queries)
    params = _params(args.p)
    counts = engine.manifest["counts"]
    results = []
    for k in args.k:
        results.append(profile_k(engine, queries, k, params, args.repeats))
        print_table(results[-1], args.label)
    out = writer.json(f"native_kernel-{args.label}.json", {
        "index": portable(args.index), "queries": portable(args.queries), "n_queries": len(queries),
        "docs": counts["docs"], "nnz": counts["nnz"], "postings": counts["postings"], "blocks": counts["blocks"],
        "summary_entries": counts["summary_entries"], "in_memory": args.in_memory, "repeats": args.repeats,
        "simd": engine.simd, "results": results})
    print(f"\nwrote {portable(out)}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
