"""Native index against Rust Seismic (pyseismic-lsr) on the same vectors and queries, single thread.

Two data sets:

- ``scifact``: the SciFact splade-tiny vector store (5,183 docs) and the 300 test queries encoded with the
  contextual splade-tiny encoder;
- ``synthetic``: 1M documents grown from the SciFact vectors (``lilsr vectors synth``, method ``mix``; see
  docs/scale.md), searched with the same 300 real queries.

For each: exact brute force (scipy) gives the ground truth and its latency; both approximate engines are
built with one thread (Seismic's defaults; ours with clustering and with fixed 16-doc blocks) and swept
over query_cut x heap_factor. Both are timed on the call clock (wall time around one Python call per query,
conversion included; the native engine's own clock is in ``SearchResults.engine_ns``). Every setting runs
each query ``--repeats`` times and keeps its fastest run, then reports accuracy@10, median and mean
ms/query. Results go to
benchmarks/work/results/native_vs_seismic.csv and .png; the targets of issue 4 are checked at the end.

    flock .cpu.lock .venv/bin/python benchmarks/native_vs_seismic.py --data scifact
    flock .cpu.lock .venv/bin/python benchmarks/native_vs_seismic.py --data synthetic

Big intermediate files (the SciFact store, encoded once with splade-tiny from $LILSR_DATA_DIR, the synthetic
store, indexes, exact runs) go to --work (default benchmarks/work/native, ignored by git); re-runs reuse them.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before pyseismic-lsr is imported

from common import portable, run  # noqa: E402  (sets sys.path and the offline environment)
from harness import (at_least, benchmark_parser, comma_separated, encoded_queries, encoded_store,  # noqa: E402
                     fraction, load_queries, work_folder)
from result_files import ResultWriter, panels  # noqa: E402
from timing import call_ns, latency_ms  # noqa: E402

import numpy as np  # noqa: E402

from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.engines.native import NativeEngine  # noqa: E402
from lilsr_tools.engines.seismic_rs import SeismicRsEngine, space_usage_bytes  # noqa: E402
from lilsr_tools.evaluation.metrics import accuracy_at_k  # noqa: E402
from lilsr_tools.manifest import read_manifest  # noqa: E402
from lilsr_tools.vectors.store import SparseVectors, load_vectors  # noqa: E402
from lilsr_tools.vectors.synth import synthesize  # noqa: E402

K = 10
QUERY_CUTS = (3, 5, 8, 10, 15, 20)
HEAP_FACTORS = (0.5, 0.7, 0.8, 0.9, 1.0)
FIELDS = ["data", "engine", "variant", "query_cut", "heap_factor", "prefetch", "accuracy_at_10", "median_ms",
          "mean_ms", "p99_ms", "build_s", "index_bytes"]


def fastest(runs) -> np.ndarray:
    """Per query, the fastest of several runs (interference from other jobs only ever adds time)."""
    return call_ns(runs, np.min)


def exact_truth(vectors, qids, queries, work: Path, tag: str, repeats: int):
    cache = work / f"exact-{tag}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        return {q: [tuple(x) for x in rows] for q, rows in saved["run"].items()}, saved["timing"]
    engine = ExactEngine(vectors)
    runs = [engine.batch_search(qids, queries, k=K) for _ in range(repeats)]
    timing = latency_ms(fastest(runs))
    run = runs[0].as_run()
    cache.write_text(json.dumps({"run": run, "timing": timing}))
    del engine
    gc.collect()
    return run, timing


# ------------------------------------------------------------------------------------------ engines

def seismic_index(vectors, folder: Path):
    """Rust Seismic built in memory with one thread (its defaults); the index is saved once with its build
    time and size, and later runs load it instead of spending the build again."""
    facts = folder / "facts.json"
    if facts.is_file():
        engine = SeismicRsEngine.load(folder, threads=1)
        saved = json.loads(facts.read_text())
        return engine, saved["build_seconds"], saved["space_usage_bytes"]
    engine = SeismicRsEngine.load(vectors, threads=1)
    engine.save(folder, overwrite=True)  # builds the index in memory first
    size = space_usage_bytes(engine.index)
    facts.write_text(json.dumps({"build_seconds": engine.build_seconds, "fill_seconds": engine.fill_seconds,
                                 "space_usage_bytes": size}))
    return engine, engine.build_seconds, size


def native_configs(variants):
    """(label, blocking, block order): clustering with both block orders (``lists`` is Seismic's), fixed
    blocks with the global order."""
    configs = []
    for blocking in variants:
        orders = ("global", "lists") if blocking == "clustering" else ("global",)
        configs += [(f"{blocking}/{order}", blocking, order) for order in orders]
    return configs


def run_data(name: str, vectors: SparseVectors, qids, queries, work: Path, repeats: int, grid, variants,
             rows: list[dict]) -> None:
    print(f"\n== {name}: {len(vectors):,} docs, {vectors.nnz:,} non-zeros, {len(qids)} queries ==")
    truth, exact_timing = exact_truth(vectors, qids, queries, work, name, repeats)
    rows.append({"data": name, "engine": "exact", "variant": "scipy csr", "accuracy_at_10": 1.0, **exact_timing,
                 "index_bytes": sum(f.stat().st_size for f in Path(vectors.path).glob("*.npy"))})
    print(f"exact: median {exact_timing['median_ms']:.3f} ms, mean {exact_timing['mean_ms']:.3f} ms")

    # Seismic first: its build peaks highest; then our indexes, read into memory as Seismic's is
    seismic, seismic_build, seismic_size = seismic_index(vectors, work / f"seismic-{name}")
    print(f"seismic-rs: built in {seismic_build:.1f} s (1 thread), {seismic_size / 2**20:.1f} MiB (its own space "
          f"report)")
    seismic.batch_search(qids[:5], queries[:5], k=K)  # warm-up

    engines, built = {}, {}
    for blocking in variants:
        folder = work / f"native-{name}-{blocking.replace(':', '')}"
        if not folder.is_dir():
            NativeEngine.build(vectors, folder, threads=1, blocks=blocking, overwrite=True)
        manifest = read_manifest(folder)
        built[blocking] = (manifest["build_seconds"] + manifest["timings"]["write_s"], manifest["index_bytes"])
        engines[blocking] = NativeEngine.load(folder, in_memory=True)
        engines[blocking].warm_up()
        print(f"native {blocking}: built in {built[blocking][0]:.1f} s (1 thread, incl. writing), "
              f"{built[blocking][1] / 2**20:.1f} MiB")
    configs = native_configs(variants)
    label0, blocking0, order0 = configs[0]
    side_setting = (10, 0.9) if (10, 0.9) in grid else grid[0]
    mapped = NativeEngine.load(work / f"native-{name}-{blocking0.replace(':', '')}")
    mapped.warm_up()

    for query_cut, heap_factor in grid:
        # every engine once per repeat, interleaved: load from other jobs hits all of them alike
        contenders = [("seismic-rs", "default", None, {})]
        contenders += [("native", label, blocking, {"block_order": order, "engine": engines[blocking]})
                       for label, blocking, order in configs]
        if (query_cut, heap_factor) == side_setting:  # side measurements: prefetching off, memory-mapped index
            contenders += [("native", f"{label0} no prefetch", blocking0,
                            {"block_order": order0, "engine": engines[blocking0], "prefetch": False}),
                           ("native", f"{label0} mmap", blocking0, {"block_order": order0, "engine": mapped})]
        runs = {i: [] for i in range(len(contenders))}
        for _ in range(repeats):
            for i, (engine, label, blocking, kw) in enumerate(contenders):
                if engine == "seismic-rs":
                    runs[i].append(seismic.batch_search(qids, queries, k=K, query_cut=query_cut,
                                                        heap_factor=heap_factor))
                else:
                    kw = dict(kw)
                    runs[i].append(kw.pop("engine").batch_search(qids, queries, k=K, query_cut=query_cut,
                                                                 heap_factor=heap_factor, **kw))
        new = []
        for i, (engine, label, blocking, kw) in enumerate(contenders):
            build_s, size = (seismic_build, seismic_size) if engine == "seismic-rs" else built[blocking]
            new.append({"data": name, "engine": engine, "variant": label, "query_cut": query_cut,
                        "heap_factor": heap_factor, "prefetch": kw.get("prefetch", True) if engine == "native" else "",
                        "accuracy_at_10": accuracy_at_k(runs[i][0].as_run(), truth, K), **latency_ms(fastest(runs[i])),
                        "build_s": build_s, "index_bytes": size})
        rows.extend(new)
        print(f"qc={query_cut:<2} hf={heap_factor:<3} " + " | ".join(
            f"{r['variant'] if r['engine'] == 'native' else r['engine']}: {r['accuracy_at_10']:.3f} "
            f"{r['median_ms']:.3f} ms" for r in new), flush=True)
    del seismic, mapped
    engines.clear()
    gc.collect()


# ------------------------------------------------------------------------------------------ report

def best_at(rows, data, engine, variant=None, accuracy=0.95):
    """The fastest (median) setting reaching ``accuracy``."""
    ok = [r for r in rows if r["data"] == data and r["engine"] == engine and r["accuracy_at_10"] >= accuracy
          and (variant is None or r["variant"] == variant) and " " not in r["variant"]]
    return min(ok, key=lambda r: r["median_ms"]) if ok else None


def report(rows: list[dict]) -> list[str]:
    lines = []
    for data in sorted({r["data"] for r in rows}):
        seismic = best_at(rows, data, "seismic-rs")
        exact = next(r for r in rows if r["data"] == data and r["engine"] == "exact")
        for variant in sorted({r["variant"] for r in rows if r["data"] == data and r["engine"] == "native"
                               and " " not in r["variant"]}):
            ours = best_at(rows, data, "native", variant)
            if not ours or not seismic:
                lines.append(f"{data} native {variant}: no setting reaches accuracy@10 >= 0.95 for both engines")
                continue
            lines.append(
                f"{data} native {variant}: at acc@10 >= 0.95 ours {ours['median_ms']:.3f} ms (qc={ours['query_cut']}, "
                f"hf={ours['heap_factor']}, acc {ours['accuracy_at_10']:.3f}) vs seismic-rs {seismic['median_ms']:.3f} ms "
                f"(qc={seismic['query_cut']}, hf={seismic['heap_factor']}, acc {seismic['accuracy_at_10']:.3f}): "
                f"ratio {ours['median_ms'] / seismic['median_ms']:.2f} (target <= 1.0); ours / exact "
                f"{ours['median_ms'] / exact['median_ms']:.3f}; build {ours['build_s']:.1f} s vs {seismic['build_s']:.1f} s "
                f"(ratio {ours['build_s'] / seismic['build_s']:.2f}, target <= 1.5); size {ours['index_bytes'] / 2**20:.1f} "
                f"vs {seismic['index_bytes'] / 2**20:.1f} MiB (ratio {ours['index_bytes'] / seismic['index_bytes']:.2f}, "
                f"target <= 1.5)")
    return lines


def plot(rows: list[dict]):
    fig, by_data = panels(rows, "data", 6)
    for ax, data, subset in by_data:
        series = sorted({(r["engine"], r["variant"]) for r in subset if r["engine"] != "exact" and " " not in r["variant"]})
        for engine, variant in series:
            points = sorted((r["accuracy_at_10"], r["median_ms"]) for r in subset
                            if (r["engine"], r["variant"]) == (engine, variant))
            ax.plot([p[0] for p in points], [p[1] for p in points], "o", ms=4,
                    label=f"{engine}" + (f" ({variant})" if engine == "native" else ""))
        exact = next(r for r in subset if r["engine"] == "exact")
        ax.axhline(exact["median_ms"], color="grey", ls="--", lw=1, label="exact (scipy)")
        ax.set_xlabel("accuracy@10")
        ax.set_ylabel("median ms/query (1 thread)")
        ax.set_yscale("log")
        ax.set_xlim(0.8, 1.002)
        ax.set_title(data)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = benchmark_parser(__doc__, full_doc=True, work="native", repeats=3)
    parser.add_argument("--data", choices=["scifact", "synthetic", "both"], default="both")
    parser.add_argument("--docs", type=at_least(1), default=1_000_000, help="Synthetic documents.")
    parser.add_argument("--variants", default="clustering,fixed:16", help="Native blockings to build.")
    parser.add_argument("--fresh-exact", action="store_true", help="Re-measure exact search (else cached).")
    parser.add_argument("--quick", action="store_true", help="A 2 x 2 grid (smoke test).")
    parser.add_argument("--query-cuts", type=comma_separated(at_least(1)), default=",".join(map(str, QUERY_CUTS)),
                        help="Comma-separated query_cut values.")
    parser.add_argument("--heap-factors", type=comma_separated(fraction), default=",".join(map(str, HEAP_FACTORS)),
                        help="Comma-separated heap_factor values.")
    args = parser.parse_args()
    work = work_folder(args)
    writer = ResultWriter(args)
    grid = [(3, 0.7), (10, 0.9)] if args.quick else [(qc, hf) for qc in args.query_cuts for hf in args.heap_factors]
    variants = args.variants.split(",")
    qids, queries = load_queries(encoded_queries("scifact", "test", work / "scifact-test-contextual"))
    csv_path = writer.path("native_vs_seismic.csv")
    rows: list[dict] = []
    if csv_path.is_file():  # keep the other data set's rows
        with open(csv_path, newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append({k: (float(v) if k not in ("data", "engine", "variant", "prefetch") and v != "" else
                                 (v == "True" if k == "prefetch" and v else v)) for k, v in row.items()})
    names = ["scifact", "synthetic"] if args.data == "both" else [args.data]
    if args.fresh_exact:
        for name in names:
            (work / f"exact-{name}.json").unlink(missing_ok=True)
    real = load_vectors(encoded_store("scifact", work / "scifact-splade-tiny"))
    for name in names:
        rows = [r for r in rows if r["data"] != name]
        if name == "scifact":
            vectors = real
        else:
            store = work / f"synthetic-{args.docs // 1000}k"
            vectors = load_vectors(store) if store.is_dir() else synthesize(real, store, args.docs)
        started = time.perf_counter()
        run_data(name, vectors, qids, queries, work, args.repeats, grid, variants, rows)
        print(f"{name}: {time.perf_counter() - started:.0f} s")
        writer.csv("native_vs_seismic.csv", rows, FIELDS)
    png = writer.png("native_vs_seismic.png", plot(rows))
    print("\n" + "\n".join(report(rows)))
    print(f"\nwrote {portable(csv_path)} and {portable(png)}")


if __name__ == "__main__":
    run(main)
