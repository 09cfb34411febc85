"""Rust Seismic's kNN refinement: what its graph costs to build and what it buys at equal accuracy.

Seismic can attach to its index a graph of each document's approximate nearest neighbours (found at build
by searching the index itself; Bruch et al., CIKM 2024) and, at search, re-score the neighbours of the
results (``n_knn``). For each ``--nknn`` N (0: no graph), Seismic is built on ``--store`` in a child process
with its published recall-95 build (``scale.PUBLISHED_BUILDS``) plus ``nknn`` N: build seconds, peak RSS of
the build, index bytes on disk (the graph included). At each k, query_cut x heap_factor (with n_knn = N) is
tuned on a seeded sample of the ``--tune-split`` queries: the fastest setting reaching accuracy@k >= 0.95
against exact top-k (ties at the k-th score count), one more round past a grid edge; the choice is then
measured on the ``--split`` queries, warm, ``--repeats`` passes, call clock, one thread.

    flock .cpu.lock .venv/bin/python benchmarks/seismic_knn.py --store STORE --table TABLE --nknn 0,10 \\
        --tag big-100k --update-results

Writes seismic_knn-<tag>.{csv,json}. The store is what the 1M study searches (a grown store): what such a
collection can and cannot tell is in docs/scale.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # Rust Seismic's search pool, read once at import

import numpy as np  # noqa: E402

from child_build import build_in_child  # noqa: E402
from common import run  # noqa: E402,F401  (sets sys.path and the offline environment)
from harness import at_least, benchmark_parser, comma_separated, work_folder  # noqa: E402
from result_files import ResultWriter  # noqa: E402
from scale import PUBLISHED_BUILDS  # noqa: E402


def encoded(collection: str, split: str, table: Path, sample: int | None):
    """The ``split`` queries of ``collection`` through the Li-LSR table (a seeded sample of ``sample``)."""
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.engines.search import QueryBatch
    from lilsr_tools.models.query_encoders import encode_queries, make_query_encoder

    queries = resolve_collection(collection).queries(split)
    if sample and sample < len(queries):
        keep = np.sort(np.random.default_rng(0).choice(len(queries), sample, replace=False))
        queries = [queries[i] for i in keep]
    encoder = make_query_encoder("table", table=str(table))
    out = encode_queries(encoder, [q.id for q in queries], [q.text for q in queries])
    return QueryBatch(out.qids, None, out.vectors, out.encode_ns, encoder.name, source=f"{collection} {split}")


def main() -> None:
    parser = benchmark_parser(__doc__, work="seismic-knn", repeats=3, collection="queries' collection")
    parser.add_argument("--store", type=Path, required=True, help="a vector store (e.g. a 1M study's reordered one)")
    parser.add_argument("--table", type=Path, required=True, help="the Li-LSR table encoding the queries")
    parser.add_argument("--nknn", type=comma_separated(at_least(0)), default=[0, 10],
                        help="graph sizes to build, comma-separated (0: no graph) [0,10]")
    parser.add_argument("--k", dest="ks", type=comma_separated(at_least(1)), default=[10, 1000])
    parser.add_argument("--tune-split", default="train")
    parser.add_argument("--tune-queries", type=at_least(1), default=200, help="seeded sample of the tuning split")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=at_least(1), default=2, help="build threads (search: one)")
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    writer = ResultWriter(args)
    work = work_folder(args)

    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.search import run_search
    from lilsr_tools.engines.seismic_rs import SeismicRsEngine
    from lilsr_tools.evaluation.metrics import accuracy_at_k
    from lilsr_tools.reports.index_defaults import choose_setting

    tune = encoded(args.collection, args.tune_split, args.table, args.tune_queries)
    test = encoded(args.collection, args.split, args.table, None)
    exact = ExactEngine.load(args.store)
    truths = {(name, k): run_search(exact, batch, k=k, warmup=0, ties=True).as_run()
              for name, batch in (("tune", tune), ("test", test)) for k in args.ks}
    load_before = os.getloadavg()
    rows = []
    for nknn in args.nknn:
        params = {**PUBLISHED_BUILDS["seismic-rs"], "nknn": nknn}
        out = work / f"{args.tag}-nknn{nknn}"
        build = build_in_child("seismic-rs", args.store, out, params, args.threads)
        engine = SeismicRsEngine.load(out)
        space = engine.index_stats().get("space_usage_bytes")
        for k in args.ks:
            started = time.perf_counter()
            choice, reaches, measured = choose_setting(
                engine, tune, k, truths[("tune", k)], engine.tuning_grid, engine.tuning_bounds,
                repeat=args.repeats, fixed={"n_knn": nknn})
            tuning_s = time.perf_counter() - started
            results = run_search(engine, test, k=k, warmup=1, repeat=args.repeats, n_knn=nknn, **choice["setting"])
            ms = np.asarray(results.retrieval_ns) / 1e6
            row = {"nknn": nknn, "k": k, "setting": choice["setting"], "n_knn": nknn,
                   "tune_accuracy@k": choice["accuracy"], "reaches_target": reaches, "settings_tried": len(measured),
                   "tuning_s": tuning_s, "accuracy@k": accuracy_at_k(results.as_run(), truths[("test", k)], k),
                   "p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                   "build_s": build["seconds"], "build_peak_rss_GiB": build["peak_rss_bytes"] / 2**30,
                   "index_MB": build["index_bytes"] / 1e6, "space_usage_MB": space / 1e6 if space else None}
            rows.append(row)
            print({key: (round(v, 4) if isinstance(v, float) else v) for key, v in row.items()}, flush=True)
        del engine
    record = {"store": str(args.store), "table": str(args.table), "collection": args.collection,
              "tune": {"split": args.tune_split, "queries": len(tune.qids), "sample_seed": 0},
              "test": {"split": args.split, "queries": len(test.qids)}, "repeats": args.repeats,
              "build": {**PUBLISHED_BUILDS["seismic-rs"], "threads": args.threads}, "rows": rows,
              "machine": {"load_average_before": load_before, "load_average_after": os.getloadavg()}}
    writer.csv(f"seismic_knn-{args.tag}.csv", [{**r, "setting": str(r["setting"])} for r in rows])
    writer.json(f"seismic_knn-{args.tag}.json", record)


if __name__ == "__main__":
    main()
