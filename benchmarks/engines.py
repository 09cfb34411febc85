"""Every engine of ``lilsr_tools.engines.ENGINES`` on the same vectors and queries, one thread.

- safe engines (exact, lucene, pisa with maxscore and block_max_wand): latency at k=10 and k=1000;
- approximate engines (native, seismic-rs, bmp, kannolo): a sweep of their search settings at k=10, and the
  fastest setting reaching accuracy@10 >= 0.95 and >= 0.99 against exact search;
- every engine: build seconds, index bytes and the peak RSS of the build (each build runs in a child
  process; its peak is the larger of the child's own high-water mark (VmHWM) and the summed RSS of its
  process tree, an Anserini JVM included, sampled from /proc every 0.1 s; ru_maxrss is not used: Linux
  carries the parent's RSS at fork into it);
- an engine registered by someone else (milvus, ...) runs with its defaults at k=10 and k=1000; an
  engine this script knows but that is not registered (pisa, before it lands) is skipped with a note; bm25
  searches text, not these vectors, and is skipped.

Timing (``timing.time_searches``): each setting runs the whole query set once untimed (warm-up: JIT
compilers, caches, page faults),
then ``--repeats`` times; a query's time is its median over the repeats, and each row reports the median,
mean and p99 of those over the queries, for the call clock (``retrieval_ns``) and, where an engine
exposes one, its own clock (``engine_ns``). The 1-minute load average is recorded before each engine.
Accuracy@10 is the share of the exact top-10 (float dot product, ties at the 10th score admitted) found.

Inputs: ``--collection scifact`` (default) encodes SciFact from $LILSR_DATA_DIR with splade-tiny and its
test queries with the Li-LSR table (an idf table exported from the store) into ``--work``, once; or give
a vector store and encoded queries (``--vectors STORE --queries QUERIES --name synthetic-1m``).

    flock .cpu.lock nice -n 10 python benchmarks/engines.py
    flock .cpu.lock python benchmarks/engines.py --vectors STORE --queries QUERIES --name synth-1m

Writes benchmarks/work/results/engines-<name>.csv (every row), .json (the summary per engine) and .png (latency
against accuracy@10, one curve per engine: its Pareto frontier). What a synthetic collection can and cannot
tell is said in docs/engines.md.
"""

from __future__ import annotations

import csv
import gc
import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from child_build import build_in_child
from common import REPO, portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser, load_queries, work_folder
from result_files import ResultWriter, pyplot
from timing import latency_ms, time_searches

import numpy as np

TARGETS = (0.95, 0.99)
SAFE_K = (10, 1000)
FIELDS = ["collection", "engine", "kind", "setting", "k", "accuracy_at_10", "accuracy_at_k", "median_ms", "mean_ms",
          "p99_ms", "engine_median_ms", "mean_results", "load_1m", "build_s", "index_bytes", "build_peak_rss_mib"]


def grid(**axes) -> list[dict]:
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*axes.values())]


@dataclass
class Plan:
    kind: str  # "safe", "approximate" or "default" (an engine this script has no plan for)
    build: dict = field(default_factory=dict)
    searches: list[dict] = field(default_factory=lambda: [{}])
    small: list[dict] | None = None  # the sweep of --sweep small (a smoke test)


SEISMIC_GRID = grid(query_cut=(3, 5, 8, 10, 15, 20), heap_factor=(0.5, 0.7, 0.8, 0.9, 1.0))
SEISMIC_SMALL = grid(query_cut=(5, 10, 20), heap_factor=(0.7, 0.9))
PLANS = {
    "exact": Plan("safe"),
    "lucene": Plan("safe", build={"scale": 100}),
    "pisa": Plan("safe", searches=[{"query_algorithm": "maxscore"}, {"query_algorithm": "block_max_wand"}]),
    "native": Plan("approximate", searches=SEISMIC_GRID, small=SEISMIC_SMALL),
    "seismic-rs": Plan("approximate", searches=SEISMIC_GRID, small=SEISMIC_SMALL),
    "bmp": Plan("approximate", searches=grid(alpha=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0), beta=(0.5, 0.7, 0.9, 1.0)),
                small=grid(alpha=(0.7, 1.0), beta=(0.7, 1.0))),
    "kannolo": Plan("approximate", searches=grid(ef_search=(10, 20, 40, 80, 160, 320, 640)),
                    small=grid(ef_search=(20, 80, 320))),
}


# ------------------------------------------------------------------------------------------- inputs

def lilsr(*args: str) -> None:
    """Run a ``lilsr`` command (the same the docs show) in a child process."""
    command = [sys.executable, "-c", "from lilsr_tools.cli import main; main()", *args]
    print("$ lilsr " + " ".join(args), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def collection_inputs(name: str, work: Path, encoder: str) -> tuple[Path, Path]:
    """(vector store, encoded test queries) of a collection, made once under ``work``."""
    store = work / "vectors-splade-tiny"
    if not (store / "manifest.json").is_file():
        lilsr("encode", "corpus", name, str(store), "--model", "splade-tiny", "--overwrite")
    queries = work / f"queries-test-{encoder}"
    if not (queries / "manifest.json").is_file():
        args = ["encode", "queries", name, str(queries), "--split", "test", "--encoder", encoder, "--overwrite"]
        if encoder == "table":
            table = work / "idf-table"
            if not (table / "manifest.json").is_file():
                lilsr("table", "export", "splade-tiny", str(table), "--init", "vector-idf", "--vectors", str(store),
                      "--overwrite")
            args += ["--table", str(table)]
        else:
            args += ["--model", "splade-tiny"]
        lilsr(*args)
    return store, queries


# ------------------------------------------------------------------------------------------- builds

def index_for(engine: str, plan: Plan, store: Path, work: Path, threads: int, rebuild: bool) -> tuple[Path, dict]:
    """The engine's index (built once, its build facts kept beside it)."""
    from lilsr_tools.engines.base import folder_bytes
    from lilsr_tools.reports.grid import key_of

    if engine == "exact":
        return store, {"seconds": 0.0, "index_bytes": folder_bytes(store), "peak_rss_bytes": None}
    from lilsr_tools.manifest import read_manifest

    # keyed by the store, not the query set: runs with other queries of the same collection reuse the builds
    out = work / "indexes" / f"{engine}-{key_of([read_manifest(store).get('sha256'), plan.build, threads])}"
    facts_file = out.parent / f"{out.name}.facts.json"
    if not rebuild and facts_file.is_file() and (out / "manifest.json").is_file():
        return out, json.loads(facts_file.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"building {engine} ({plan.build or 'defaults'}, {threads} threads) ...", flush=True)
    facts = build_in_child(engine, store, out, plan.build, threads)
    facts_file.write_text(json.dumps(facts))
    return out, facts


# ------------------------------------------------------------------------------------------ searches

def latency(engine, qids, queries, k: int, repeats: int, params: dict):
    """One untimed pass, then ``repeats`` timed ones, one thread: (first timed results, median, mean and p99
    over queries of each query's median call time, and the median of the engine's own clock where it has one)."""
    timed = time_searches(lambda: engine.batch_search(qids, queries, k=k, threads=1, **params), repeats)
    own = timed.engine_ns
    return timed.results, {**latency_ms(timed.call_ns),
                           "engine_median_ms": float(np.median(own) / 1e6) if own is not None else None}


def exact_truth(store, qids, queries, work: Path, k: int):
    """The exact run at ``k`` (cached): ground truth for accuracy@10 and accuracy@k."""
    from lilsr_tools.data.trec import read_run, write_run
    from lilsr_tools.engines.exact import ExactEngine

    path = work / f"exact-k{k}.trec"
    if not path.is_file():
        results = ExactEngine.load(store).batch_search(qids, queries, k=k)
        write_run(path, results.qids, results.doc_ids, results.scores, tag="exact")
    return read_run(path)


def setting_label(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items()) or "defaults"


def run_engine(name: str, plan: Plan, store: Path, qids, queries, truth, args, rows: list[dict]) -> dict:
    from lilsr_tools.engines import get_engine
    from lilsr_tools.evaluation.metrics import accuracy_at_k

    path, facts = index_for(name, plan, store, args.work_root, args.build_threads, args.rebuild)
    summary = {"kind": plan.kind, "build": {"params": plan.build, "threads": args.build_threads, **facts},
               "index": portable(path)}
    load = os.getloadavg()[0]
    engine = get_engine(name).load(path)
    searches = plan.small if (args.sweep == "small" and plan.small) else plan.searches
    ks = (10,) if plan.kind == "approximate" else SAFE_K
    base = {"collection": args.name, "engine": name, "kind": plan.kind, "load_1m": round(load, 2),
            "build_s": round(facts["seconds"], 3), "index_bytes": facts["index_bytes"],
            "build_peak_rss_mib": round(facts["peak_rss_bytes"] / 2**20, 1) if facts.get("peak_rss_bytes") else None}
    measured = []
    for params in searches:
        for k in ks:
            results, times = latency(engine, qids, queries, k, args.repeats, params)
            found = results.as_run()
            row = {**base, "setting": setting_label(params), "k": k,
                   "accuracy_at_10": round(accuracy_at_k(found, truth, 10), 4),
                   "accuracy_at_k": round(accuracy_at_k(found, truth, k), 4),
                   "mean_results": round(float(np.mean([len(d) for d in results.doc_ids])), 1),
                   **{key: round(value, 4) if value is not None else None for key, value in times.items()}}
            rows.append(row)
            measured.append(row)
            print(f"  {name:10s} {row['setting']:34s} k={k:<5d} acc@10 {row['accuracy_at_10']:.3f} "
                  f"median {row['median_ms']:.3f} ms mean {row['mean_ms']:.3f} ms", flush=True)
        summary["timing"] = results.info.get("timing")
    if plan.kind == "approximate":
        summary["fastest"] = {}
        for target in TARGETS:
            ok = [r for r in measured if r["accuracy_at_10"] >= target]
            best = min(ok, key=lambda r: r["median_ms"]) if ok else None
            summary["fastest"][f"{target:.2f}"] = best and {key: best[key] for key in
                                                             ("setting", "accuracy_at_10", "median_ms", "mean_ms",
                                                              "p99_ms", "engine_median_ms")}
    else:
        summary["settings"] = [{key: r[key] for key in ("setting", "k", "accuracy_at_10", "accuracy_at_k",
                                                         "median_ms", "mean_ms", "p99_ms", "engine_median_ms",
                                                         "mean_results")} for r in measured]
    summary["load_1m"] = load
    close = getattr(engine, "close", None)
    if close:
        close()
    del engine
    gc.collect()
    return summary


# ---------------------------------------------------------------------------------------------- plot

def pareto(points):
    """The points no other point beats on both latency and accuracy, by increasing latency."""
    frontier, best = [], -1.0
    for latency, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if accuracy > best:
            frontier.append((latency, accuracy))
            best = accuracy
    return frontier


def plot(rows: list[dict], name: str):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 5))
    at10 = [r for r in rows if r["k"] == 10]
    for engine in dict.fromkeys(r["engine"] for r in at10):
        points = [(r["median_ms"], r["accuracy_at_10"]) for r in at10 if r["engine"] == engine]
        ax.scatter(*zip(*points), s=10, alpha=0.3)
        color = ax.collections[-1].get_facecolor()[0][:3]
        front = pareto(points)
        ax.plot(*zip(*front), marker="o", ms=4, color=color, label=engine)
    for target in TARGETS:
        ax.axhline(target, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("median latency per query, ms (call clock, one thread, k=10)")
    ax.set_ylabel("accuracy@10 against exact search")
    ax.set_title(f"{name}: every engine on the same vectors")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = benchmark_parser(__doc__, work="", out="engines-<name>.csv, .json and .png", repeats=3,
                              collection="a collection under $LILSR_DATA_DIR (default scifact), encoded into "
                                         "--work once")
    parser.add_argument("--vectors", default=None, help="a vector store (instead of --collection)")
    parser.add_argument("--queries", default=None, help="encoded queries for --vectors ('lilsr encode queries')")
    parser.add_argument("--name", default=None, help="label of the results (default: the collection, or the "
                                                     "store's folder name)")
    parser.add_argument("--encoder", default="table", choices=["table", "contextual"],
                        help="query encoder for --collection")
    parser.add_argument("--engines", nargs="+", default=None, help="only these engines (default: every one)")
    parser.add_argument("--sweep", choices=["full", "small"], default="full", help="small: a few settings per "
                                                                                   "approximate engine")
    parser.add_argument("--build-threads", type=at_least(1), default=os.cpu_count() or 1)
    parser.add_argument("--rebuild", action="store_true", help="rebuild indexes found in --work")
    parser.add_argument("--replot", metavar="CSV", type=Path, default=None,
                        help="only redraw the plot of a results CSV")
    args = parser.parse_args(argv)
    if not args.replot and (args.vectors is None) != (args.queries is None):
        parser.error("--vectors and --queries go together")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.replot:
        with open(args.replot) as handle:
            rows = [{**row, "k": int(row["k"]), "median_ms": float(row["median_ms"]),
                     "accuracy_at_10": float(row["accuracy_at_10"])} for row in csv.DictReader(handle)]
        ResultWriter(args, folder=args.replot.parent).png(args.replot.with_suffix(".png").name,
                                                           plot(rows, rows[0]["collection"]), dpi=120)
        return
    writer = ResultWriter(args)
    from lilsr_tools.engines import ENGINES, get_engine
    from lilsr_tools.errors import LilsrError
    from lilsr_tools.vectors.store import load_vectors

    work_root = args.work_root = work_folder(args).resolve()
    if args.vectors:
        store, queries_path = Path(args.vectors).resolve(), Path(args.queries).resolve()
        args.name = args.name or store.name
    else:
        args.name = args.name or args.collection
        store, queries_path = collection_inputs(args.collection, work_root / args.name, args.encoder)
    args.work_dir = work_root / args.name
    args.work_dir.mkdir(parents=True, exist_ok=True)
    vectors = load_vectors(store)
    qids, queries = load_queries(queries_path)
    print(f"== {args.name}: {len(vectors):,} docs, {vectors.nnz:,} non-zeros, {len(qids)} queries; "
          f"load {os.getloadavg()[0]:.2f} ==", flush=True)
    del vectors
    truth = exact_truth(store, qids, queries, args.work_dir, max(SAFE_K))

    names = list(args.engines or dict.fromkeys([*PLANS, *ENGINES]))
    rows: list[dict] = []
    summary = {"collection": args.name, "store": portable(store), "queries": portable(queries_path),
               "n_queries": len(qids),
               "repeats": args.repeats, "warmup_passes": 1, "sweep": args.sweep, "threads": 1,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "engines": {}, "skipped": {}}
    for name in names:
        if name not in ENGINES:
            note = f"engine {name!r} is not registered in lilsr_tools.engines.ENGINES in this checkout"
            print(f"note: skipping {name}: {note}", flush=True)
            summary["skipped"][name] = note
            continue
        try:
            cls = get_engine(name)
        except LilsrError as exc:
            print(f"note: skipping {name}: {exc}", flush=True)
            summary["skipped"][name] = str(exc)
            continue
        if cls.query_input != "vector":
            summary["skipped"][name] = "searches query text, not vectors"
            print(f"note: skipping {name}: it searches text, not these vectors", flush=True)
            continue
        plan = PLANS.get(name, Plan("default"))
        print(f"-- {name} ({plan.kind}) --", flush=True)
        try:
            summary["engines"][name] = run_engine(name, plan, store, qids, queries, truth, args, rows)
        except (LilsrError, RuntimeError, OSError, ValueError) as exc:
            print(f"note: {name} failed: {exc}", flush=True)
            summary["skipped"][name] = f"failed: {exc}"
    summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")

    stem = f"engines-{args.name}"
    writer.csv(f"{stem}.csv", rows, FIELDS)
    writer.json(f"{stem}.json", summary)
    if rows:
        writer.png(f"{stem}.png", plot(rows, args.name), dpi=120)
    print_summary(summary)
    print(f"wrote {portable(writer.path(stem))}.csv, .json, .png")


def print_summary(summary: dict) -> None:
    print(f"\n{summary['collection']}: build s / index MiB / build peak RSS MiB; latency median ms (call clock)")
    for name, s in summary["engines"].items():
        b = s["build"]
        rss = f"{b['peak_rss_bytes'] / 2**20:.0f}" if b.get("peak_rss_bytes") else "-"
        head = f"{name:11s} {b['seconds']:8.1f} {b['index_bytes'] / 2**20:8.1f} {rss:>8s}  "
        if s["kind"] == "approximate":
            parts = []
            for target, best in s["fastest"].items():
                parts.append(f">={target}: " + (f"{best['median_ms']:.3f} ms ({best['setting']})" if best else "none"))
            print(head + "; ".join(parts))
        else:
            print(head + "; ".join(f"{r['setting']} k={r['k']}: {r['median_ms']:.3f} ms (acc@10 {r['accuracy_at_10']:.3f})"
                                   for r in s["settings"]))
    for name, why in summary["skipped"].items():
        print(f"{name:11s} skipped: {why}")


if __name__ == "__main__":
    run(main)
