"""Milvus (Lite, in-process) against the native index and Lucene, with exact search as ground truth.

Two data sets, the same 300 SciFact test queries (contextual splade-tiny, encoded once):

- ``scifact``: the SciFact splade-tiny vector store (5,183 docs; encoded into --work on first use, or
  given with --store);
- ``synthetic``: --docs (default 100k) documents drawn from the SciFact vectors (real lengths, term and
  weight distributions, not copies; ``synthesize``). It tells how latency grows with posting-list length;
  it cannot tell effectiveness (no judgments), and its co-occurrence is SciFact's.

Per engine: build seconds, bytes on disk, load seconds (Milvus Lite rebuilds its in-memory postings when
a process opens the database), accuracy@10 against exact, and latency per query on the call clock
(HELPER_COMMON item 6): one query per call, every query ``--repeats`` times, the fastest kept (interference
from other jobs only adds time). Milvus is measured twice: one query per search request (``batch_size=1``, the
latency a user sees) and ``--batch`` queries per request (each query given request time / batch size: a
throughput figure, reported separately). Milvus runs with drop ratios 0 (all Lite has), so its
accuracy@10 against exact must be 1 up to ties; the native index runs at two settings (its default and an
accurate one); Lucene scores quantized weights (scale 100), so it is close to exact but not equal.

Results: benchmarks/work/results/milvus.csv, .json (rows plus load average, CPU count, versions) and .png.

    .venv/bin/python benchmarks/milvus.py --data scifact
    flock .cpu.lock .venv/bin/python benchmarks/milvus.py --data synthetic --docs 100000 --queries 100
    (or --synthetic STORE: a store made earlier with 'lilsr vectors synth')

Inputs come from $LILSR_DATA_DIR (SciFact); intermediate files (stores, indexes, exact runs) go to --work
(default benchmarks/work/ in the checkout, git-ignored) and are reused by re-runs.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import sys
import time
from pathlib import Path

from common import portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser, encoded_queries, encoded_store, load_queries, work_folder
from result_files import ResultWriter, panels
from timing import latency_ms, time_searches

import numpy as np  # noqa: E402

from lilsr_tools.engines.base import folder_bytes  # noqa: E402
from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.engines.milvus import MilvusEngine  # noqa: E402
from lilsr_tools.engines.native import NativeEngine  # noqa: E402
from lilsr_tools.evaluation.metrics import accuracy_at_k  # noqa: E402
from lilsr_tools.manifest import read_manifest  # noqa: E402
from lilsr_tools.vectors.store import SparseVectors, load_vectors  # noqa: E402

K = 10
NATIVE_SETTINGS = ({"query_cut": 10, "heap_factor": 0.7}, {"query_cut": 20, "heap_factor": 0.9})
FIELDS = ["data", "docs", "engine", "variant", "accuracy_at_10", "median_ms", "mean_ms", "p99_ms", "build_s",
          "load_s", "index_bytes", "clock"]


# ------------------------------------------------------------------------------------------- inputs

def synthetic_store(real: SparseVectors, docs: int, work: Path, given: Path | None = None) -> SparseVectors:
    if given is not None:
        return load_vectors(given)
    store = work / f"synthetic-{docs // 1000}k"
    if not store.is_dir():  # 'lilsr vectors synth'
        from lilsr_tools.vectors.synth import synthesize

        synthesize(real, store, docs)
    return load_vectors(store)


# ------------------------------------------------------------------------------------------- timing

def measure(search, qids, queries, repeats: int):
    """(first timed run's results, per-query fastest call-clock times over ``repeats`` runs of
    ``search(qids, queries)``); an untimed warm-up on the first 10 queries first (JIT, caches, connections)."""
    search(qids[:10], queries[:10])
    timed = time_searches(lambda: search(qids, queries), repeats, warmup=0, per_query=np.min)
    return timed.results, timed.call_ns


# ------------------------------------------------------------------------------------------- engines

def run_data(name: str, vectors: SparseVectors, qids, queries, work: Path, repeats: int, batch: int,
             engines: list[str], rows: list[dict]) -> None:
    print(f"\n== {name}: {len(vectors):,} docs, {vectors.nnz:,} non-zeros, {len(qids)} queries ==", flush=True)
    base = {"data": name, "docs": len(vectors)}
    exact_engine = ExactEngine(vectors)
    exact, exact_ns = measure(lambda q, v: exact_engine.batch_search(q, v, k=K), qids, queries, repeats)
    truth = exact.as_run()
    rows.append({**base, "engine": "exact", "variant": "scipy csr", "accuracy_at_10": 1.0, **latency_ms(exact_ns),
                 "clock": "per query, around scoring and top-k",
                 "index_bytes": sum(f.stat().st_size for f in Path(vectors.path).glob("*.npy"))})
    print(f"exact: median {rows[-1]['median_ms']:.3f} ms", flush=True)
    del exact_engine
    gc.collect()

    if "milvus" in engines:
        folder = work / f"milvus-{name}"
        if not folder.is_dir():
            MilvusEngine.build(vectors, folder)
        manifest = read_manifest(folder)
        engine = MilvusEngine.load(folder)
        try:
            common = {"build_s": manifest["build_seconds"], "load_s": engine.load_seconds,
                      "index_bytes": manifest["index_bytes"]}
            for label, size in (("one query per request", 1), (f"{batch} queries per request", batch)):
                results, times = measure(lambda q, v: engine.batch_search(q, v, k=K, batch_size=size), qids, queries,
                                         repeats)
                rows.append({**base, "engine": "milvus-lite", "variant": label, "clock": results.info["timing"],
                             "accuracy_at_10": accuracy_at_k(results.as_run(), truth, K), **latency_ms(times), **common})
                print(f"milvus-lite {label}: acc@10 {rows[-1]['accuracy_at_10']:.4f}, median "
                      f"{rows[-1]['median_ms']:.3f} ms; build {common['build_s']:.1f} s, load {common['load_s']:.1f} s, "
                      f"{common['index_bytes'] / 2**20:.1f} MiB", flush=True)
        finally:
            engine.close()
        gc.collect()

    if "native" in engines:
        folder = work / f"native-{name}"
        if not folder.is_dir():
            NativeEngine.build(vectors, folder, threads=1, progress=False)
        manifest = read_manifest(folder)
        engine = NativeEngine.load(folder, in_memory=True)
        engine.warm_up()
        for setting in NATIVE_SETTINGS:
            results, times = measure(lambda q, v: engine.batch_search(q, v, k=K, **setting), qids, queries, repeats)
            rows.append({**base, "engine": "native", "variant": f"qc={setting['query_cut']} hf={setting['heap_factor']}",
                         "accuracy_at_10": accuracy_at_k(results.as_run(), truth, K), **latency_ms(times),
                         "clock": results.info.get("timing", "per query, around the numba call"),
                         "build_s": manifest["build_seconds"] + manifest["timings"]["write_s"],
                         "index_bytes": manifest["index_bytes"]})
            print(f"native {rows[-1]['variant']}: acc@10 {rows[-1]['accuracy_at_10']:.4f}, median "
                  f"{rows[-1]['median_ms']:.3f} ms", flush=True)
        del engine
        gc.collect()

    if "lucene" in engines:
        from lilsr_tools.engines.lucene import LuceneEngine

        folder = work / f"lucene-{name}"
        if not folder.is_dir():
            LuceneEngine.build(vectors, folder, threads=1)
        manifest = read_manifest(folder)
        started = time.perf_counter()
        engine = LuceneEngine.load(folder, quiet=True)
        load_s = time.perf_counter() - started
        results, times = measure(lambda q, v: engine.batch_search(q, v, k=K), qids, queries, repeats)
        rows.append({**base, "engine": "lucene", "variant": f"impact, scale {manifest['params'].get('scale', '')}",
                     "accuracy_at_10": accuracy_at_k(results.as_run(), truth, K), **latency_ms(times),
                     "build_s": manifest.get("build_seconds"), "load_s": load_s, "index_bytes": folder_bytes(folder),
                     "clock": results.info.get("timing", "")})
        print(f"lucene: acc@10 {rows[-1]['accuracy_at_10']:.4f}, median {rows[-1]['median_ms']:.3f} ms "
              f"({results.info.get('timing', '')})", flush=True)


# ------------------------------------------------------------------------------------------- report

def plot(rows: list[dict]):
    fig, by_data = panels(rows, "data", 6.5)
    for ax, data, subset in by_data:
        labels = [f"{r['engine']}\n{r['variant']}" for r in subset]
        medians = [r["median_ms"] for r in subset]
        bars = ax.barh(range(len(subset)), medians, color=["grey" if r["engine"] == "exact" else "C0" if
                                                            r["engine"].startswith("milvus") else "C1" if
                                                            r["engine"] == "native" else "C2" for r in subset])
        for bar, row in zip(bars, subset):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {row['median_ms']:.3g} ms, acc {row['accuracy_at_10']:.3f}", va="center", fontsize=7)
        ax.set_yticks(range(len(subset)), labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("median ms/query (call clock, 1 thread; batched: request time / batch)")
        ax.set_title(f"{data} ({int(subset[0]['docs']):,} docs), k={K}")
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def load_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: (v if k in ("data", "engine", "variant", "clock") else float(v) if v != "" else None)
                 for k, v in row.items()} for row in csv.DictReader(handle)]


def main() -> None:
    parser = benchmark_parser(__doc__, full_doc=True, work="", repeats=3)
    parser.add_argument("--data", choices=["scifact", "synthetic", "both"], default="scifact")
    parser.add_argument("--docs", type=at_least(1), default=100_000, help="Synthetic documents.")
    parser.add_argument("--store", type=Path, default=None, help="SciFact splade-tiny vector store (else encoded).")
    parser.add_argument("--synthetic", type=Path, default=None,
                        help="A synthetic store made earlier ('lilsr vectors synth'); else --docs are synthesized.")
    parser.add_argument("--batch", type=at_least(1), default=64, help="Queries per Milvus request in the batched run.")
    parser.add_argument("--engines", default="milvus,native,lucene")
    parser.add_argument("--queries", type=at_least(1), default=None,
                        help="Search only the first N test queries (Milvus Lite is slow on big sets).")
    args = parser.parse_args()
    work = work_folder(args)
    writer = ResultWriter(args, packages=("pymilvus", "milvus-lite"))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    qids, queries = load_queries(encoded_queries("scifact", "test", work / "scifact-test-contextual"))
    if args.queries:
        qids, queries = qids[:args.queries], queries[:args.queries]
    real = load_vectors(args.store or encoded_store("scifact", work / "scifact-splade-tiny"))
    csv_path, json_path = writer.path("milvus.csv"), writer.path("milvus.json")
    names = ["scifact", "synthetic"] if args.data == "both" else [args.data]
    rows = load_rows(csv_path)  # rows of other data sets are kept
    runs = json.loads(json_path.read_text()).get("runs", {}) if json_path.is_file() else {}
    for name in names:
        vectors = real if name == "scifact" else synthetic_store(real, args.docs, work, args.synthetic)
        if name == "synthetic":  # one label (and index folders) per synthetic store
            name = args.synthetic.name if args.synthetic else f"synthetic-{len(vectors) // 1000}k"
        rows = [r for r in rows if r["data"] != name]
        started, load_before = time.perf_counter(), os.getloadavg()
        run_data(name, vectors, qids, queries, work, args.repeats, args.batch, engines, rows)
        runs[name] = {"seconds": round(time.perf_counter() - started, 1), "load_average_before": load_before,
                      "load_average_after": os.getloadavg(), "docs": len(vectors), "queries": len(qids),
                      "repeats": args.repeats, "batch": args.batch, "command": " ".join(sys.argv)}
        writer.csv("milvus.csv", rows, FIELDS)
    writer.json("milvus.json", {"rows": rows, "runs": runs})
    writer.png("milvus.png", plot(rows))
    print(f"\nwrote {portable(csv_path)}, {portable(json_path)} and {portable(writer.path('milvus.png'))}")


if __name__ == "__main__":
    run(main)
