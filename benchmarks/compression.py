"""Compression at scale: index bytes and latency of compressed indexes on a synthetic collection (1M
documents by default), for the models of a SciFact compression study (``lilsr ablate compression``).

For each model, its SciFact vectors are the template of a synthetic collection (``--synthetic NAME=STORE``
takes one made beforehand, e.g. by ``lilsr vectors synth``; otherwise ``native_vs_seismic.synthesize``
draws one), searched with the model's own SciFact test queries (its Li-LSR table). Each setting - ``none``,
the native settings the study recommends (``OUT/recommended.csv``) and ``--settings`` - is applied as the
study applies it (``lilsr_tools.reports.compression``: store steps prune the store, value steps become build
parameters) and built by each engine. Every query is searched ``--repeats`` times after a warm-up pass;
per query the median is kept; the table gives p50 and mean over queries, accuracy@10 against exact search
of the uncompressed synthetic store, index bytes, and the ratios to the uncompressed index of the same
model and engine. The load average is recorded around each timing (the machine must be otherwise idle).

    flock /tmp/lilsr-cpu.lock .venv/bin/python benchmarks/compression.py --study out/compression-scifact \
        --model big=CHECKPOINT_OR_STORE --model small=CHECKPOINT_OR_STORE

(the same --model arguments as the study, so its encoded vectors and tables are reused). What a synthetic
collection can tell: how index bytes and latency scale with the collection for a model's term and weight
distributions. What it cannot: effectiveness (it has no judgments; that is the SciFact part) or the
co-occurrence structure of real documents beyond what the templates carry.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lilsr_tools.cli.compare import _model_spec  # noqa: E402
from lilsr_tools.data.collection import resolve_collection  # noqa: E402
from lilsr_tools.engines import get_engine  # noqa: E402
from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.evaluation.metrics import accuracy_at_k  # noqa: E402
from lilsr_tools.manifest import MANIFEST, read_manifest  # noqa: E402
from lilsr_tools.reports.compression import apply_steps, parse_setting, plan, setting_label  # noqa: E402
from lilsr_tools.reports.workspace import Workspace  # noqa: E402
from lilsr_tools.vectors.store import load_vectors  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
RESULTS = Path(__file__).parent / "results"
FIELDS = ["model", "setting", "engine", "docs", "index_bytes", "size_ratio", "bytes_per_posting",
          "postings", "accuracy_at_10", "p50_ms", "mean_ms", "p99_ms", "latency_ratio", "build_s", "load_before",
          "load_after", "search"]


def synthetic_store(name: str, real, docs: int, work: Path, given: dict, method: str, seed: int):
    """The model's synthetic store: given, made earlier, or grown now from its real vectors with
    ``lilsr_tools.vectors.synth`` (``lilsr vectors synth``), or, where that module is missing,
    ``native_vs_seismic.synthesize`` (the "templates" method)."""
    if name in given:
        return load_vectors(given[name])
    path = work / f"{name}-synthetic-{docs}-{method}-{seed}"
    if (path / MANIFEST).is_file():
        return load_vectors(path)
    try:
        from lilsr_tools.vectors.synth import synthesize
    except ModuleNotFoundError:
        from native_vs_seismic import synthesize as templates

        print("lilsr_tools.vectors.synth is missing: growing with native_vs_seismic.synthesize (templates)")
        return templates(real, docs, path, seed=seed)
    synthesize(real, path, docs, method=method, seed=seed, overwrite=True)
    return load_vectors(path)


def exact_reference(name: str, vectors, qids, queries, k: int, work: Path):
    """Exact top-k of the uncompressed synthetic store (cached as a TREC run)."""
    from lilsr_tools.data.trec import read_run, write_run

    path = work / f"{name}-synthetic-{len(vectors)}-exact-k{k}.trec"
    if not path.is_file():
        results = ExactEngine(vectors).batch_search(qids, queries, k=k)
        write_run(path, results.qids, results.doc_ids, results.scores, tag="exact")
    return read_run(path)


def timed(engine, qids, queries, k: int, repeats: int, search: dict) -> tuple[dict, object]:
    engine.batch_search(qids, queries, k=k, **search)  # warm-up: compiled code, caches
    before = os.getloadavg()[0]
    runs = [engine.batch_search(qids, queries, k=k, **search) for _ in range(repeats)]
    after = os.getloadavg()[0]
    ms = np.median(np.stack([r.retrieval_ns for r in runs]), axis=0) / 1e6  # per query: median of repeats
    return {"p50_ms": float(np.median(ms)), "mean_ms": float(ms.mean()), "p99_ms": float(np.percentile(ms, 99)),
            "load_before": before, "load_after": after}, runs[0]


def settings_to_run(study: Path, extra: str) -> list[tuple]:
    settings = [()]
    recommended = study / "recommended.csv"
    if recommended.is_file():
        frame = pd.read_csv(recommended)
        settings += [parse_setting(s, str(recommended)) for s in frame.loc[frame["engine"] == "native", "setting"]]
    settings += [parse_setting(s, "--settings") for s in extra.split(",") if s.strip()]
    return list(dict.fromkeys(settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT or NAME=VECTOR_STORE.")
    parser.add_argument("--study", type=Path, required=True,
                        help="Output folder of the SciFact 'lilsr ablate compression' run (its vectors, tables "
                             "and recommended.csv are reused).")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--split", default="test", help="Queries: the split of the collection.")
    parser.add_argument("--docs", type=int, default=1_000_000, help="Synthetic documents per model.")
    parser.add_argument("--synthetic", action="append", default=[], help="NAME=STORE: a synthetic store to use.")
    parser.add_argument("--synth-method", default="mix", help="lilsr vectors synth method (mix or templates).")
    parser.add_argument("--seed", type=int, default=0, help="Synth seed.")
    parser.add_argument("--settings", default="", help="More settings, comma-separated (e.g. top_k=128,bits=8).")
    parser.add_argument("--engines", default="native", help="Comma-separated engines (e.g. native,lucene).")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-p", dest="params", action="append", default=[],
                        help="native search parameter key=value (default: the engine's defaults).")
    parser.add_argument("--build-threads", type=int, default=None, help="Index build threads (default: all).")
    parser.add_argument("--work", type=Path, default=Path("/work/artifacts/compression-synthetic"),
                        help="Synthetic stores, indexes and exact runs (re-runs reuse them).")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV path (default benchmarks/results/compression_<docs/1000>k.csv; .png beside it).")
    args = parser.parse_args()
    specs = [_model_spec(m) for m in args.model]
    given = dict(item.split("=", 1) for item in args.synthetic)
    search = {}
    for item in args.params:
        key, _, value = item.partition("=")
        search[key] = float(value) if key == "heap_factor" else (int(value) if value.isdigit() else value)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    settings = settings_to_run(args.study, args.settings)
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"compression_{args.docs // 1000}k.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.study, resolve_collection(args.collection), args.split)
    print(f"settings: {', '.join(setting_label(s) for s in settings)}; engines: {', '.join(engines)}")
    rows = []
    for spec in specs:
        real = ws.vectors(spec)
        batch = ws.queries(spec, "table")
        vectors = synthetic_store(spec.name, real, args.docs, args.work, given, args.synth_method, args.seed)
        print(f"\n== {spec.name}: {len(vectors):,} synthetic docs, {vectors.nnz:,} non-zeros, {len(batch.qids)} queries")
        truth = exact_reference(spec.name, vectors, batch.qids, batch.vectors, args.k, args.work)
        for steps in settings:
            for engine_name in engines:
                planned = plan(steps, engine_name)
                if planned is None or engine_name == "exact":
                    continue
                store_steps, build = planned
                label = setting_label(steps)
                folder = args.work / f"{spec.name}-{len(vectors)}-{engine_name}-{label}"
                if not (folder / MANIFEST).is_file():
                    source = apply_steps(vectors, store_steps) if store_steps else vectors
                    extra = {"threads": args.build_threads} if engine_name == "native" and args.build_threads else {}
                    get_engine(engine_name).build(source, folder, overwrite=True, **build, **extra)
                    del source
                    gc.collect()
                manifest = read_manifest(folder)
                engine = (get_engine(engine_name).load(folder, in_memory=True) if engine_name == "native"
                          else get_engine(engine_name).load(folder))
                timing, first = timed(engine, batch.qids, batch.vectors, args.k, args.repeats,
                                      search if engine_name == "native" else {})
                stats = engine.index_stats()
                row = {"model": spec.name, "setting": label, "engine": engine_name, "docs": len(vectors),
                       "index_bytes": stats["index_bytes"],
                       "postings": stats.get("postings"), "build_s": manifest.get("build_seconds"),
                       "accuracy_at_10": accuracy_at_k(first.as_run(), truth, 10), **timing,
                       "search": " ".join(f"{k}={v}" for k, v in search.items()) if engine_name == "native" else ""}
                row["bytes_per_posting"] = row["index_bytes"] / row["postings"] if row["postings"] else None
                base = next((r for r in rows if r["model"] == spec.name and r["engine"] == engine_name
                             and r["setting"] == "none"), None)
                row["size_ratio"] = row["index_bytes"] / base["index_bytes"] if base else 1.0
                row["latency_ratio"] = row["p50_ms"] / base["p50_ms"] if base else 1.0
                rows.append(row)
                print(f"{engine_name:7} {label:28} {row['index_bytes'] / 2**20:9.1f} MiB (x{row['size_ratio']:.2f})  "
                      f"p50 {row['p50_ms']:.3f} ms (x{row['latency_ratio']:.2f})  acc@10 {row['accuracy_at_10']:.3f}  "
                      f"load {timing['load_before']:.1f}->{timing['load_after']:.1f}", flush=True)
                del engine
                gc.collect()
        del vectors, real
        gc.collect()
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in FIELDS})
    plot(pd.DataFrame(rows), out.with_suffix(".png"))
    print("\n" + "\n".join(summary(pd.DataFrame(rows), args.study)))
    print(f"\nwrote {out} and {out.with_suffix('.png')}")


def summary(frame: pd.DataFrame, study: Path) -> list[str]:
    """The targets: the recommended native setting's size and latency ratios, and the index-size ratio
    between the models before and after."""
    lines = []
    recommended = study / "recommended.csv"
    chosen = {}
    if recommended.is_file():
        rec = pd.read_csv(recommended)
        chosen = {(r["model"], r["engine"]): r["setting"] for _, r in rec.iterrows()}
    for (model, engine), group in frame.groupby(["model", "engine"], sort=False):
        setting = chosen.get((model, engine))
        row = group[group["setting"] == setting]
        if setting is None or row.empty:
            continue
        r = row.iloc[0]
        lines.append(f"{model} {engine} at {setting}: bytes x{r['size_ratio']:.2f} (target <= 0.5), p50 latency "
                     f"x{r['latency_ratio']:.2f} (target <= 1.10), accuracy@10 {r['accuracy_at_10']:.3f}")
    for engine, group in frame.groupby("engine", sort=False):
        none = group[group["setting"] == "none"].set_index("model")["index_bytes"]
        if len(none) < 2:
            continue
        small = none.idxmin()
        for model in none.index.drop(small):
            after = [group[(group["model"] == m) & (group["setting"] == chosen.get((m, engine), "none"))]["index_bytes"]
                     for m in (model, small)]
            line = f"{engine}: {model}/{small} index bytes {none[model] / none[small]:.2f} uncompressed"
            if all(len(a) for a in after):
                line += f", {after[0].iloc[0] / after[1].iloc[0]:.2f} both at their recommended settings"
            lines.append(line)
    return lines


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for (model, engine), group in frame.groupby(["model", "engine"], sort=False):
        ax.plot(group["index_bytes"] / 2**20, group["p50_ms"], "o", label=f"{model} · {engine}")
        for _, r in group.iterrows():
            ax.annotate(r["setting"], (r["index_bytes"] / 2**20, r["p50_ms"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("index MiB (log scale)")
    ax.set_ylabel("p50 ms/query (1 thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Compressed indexes on {int(frame['docs'].iloc[0]):,} synthetic documents", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"{time.perf_counter() - started:.0f} s")
