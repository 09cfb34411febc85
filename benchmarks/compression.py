"""Compression at scale: index bytes and latency of compressed indexes on a synthetic collection (1M
documents by default), for the models of a SciFact compression study (``lilsr ablate compression``).

For each model, its SciFact vectors are the template of a synthetic collection (``--synthetic NAME=STORE``
takes one made beforehand, e.g. by ``lilsr vectors synth``; otherwise ``lilsr_tools.vectors.synth``
grows one), searched with the model's own SciFact queries (its Li-LSR table). Each setting - ``none``,
the native settings the study recommends (``OUT/recommended.csv``) and ``--settings`` - is applied as the
study applies it (``lilsr_tools.reports.compression``: store steps prune the store, value steps become build
parameters) and built by each engine. Compressed summaries bound block scores more loosely, so latency is
compared at equal accuracy, not at equal search parameters: an approximate engine's setting (query_cut x
heap_factor) is tuned on the ``--tune-split`` queries - the fastest reaching ``--accuracy-target``
accuracy@10 against exact search of the store it indexed - and then measured on the ``--split`` queries:
each query ``--repeats`` times after a warm-up pass, per query the median; p50 and mean over queries,
accuracy@10 (against the same store's exact top 10, and against the uncompressed store's), index bytes, and
the ratios to the uncompressed index of the same model and engine. The load average is recorded around
each timing (the machine must be otherwise idle).

    flock .cpu.lock .venv/bin/python benchmarks/compression.py --study out/compression-scifact \
        --model big=CHECKPOINT_OR_STORE --model small=CHECKPOINT_OR_STORE

(the same --model arguments as the study, so its encoded vectors and tables are reused). What a synthetic
collection can tell: how index bytes and latency scale with the collection for a model's term and weight
distributions. What it cannot: effectiveness (it has no judgments; that is the SciFact part) or the
co-occurrence structure of real documents beyond what the templates carry.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

from common import run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser, comma_separated, fraction
from result_files import ResultWriter, pyplot
from timing import latency_ms, time_searches

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lilsr_tools.data.collection import resolve_collection  # noqa: E402
from lilsr_tools.engines import get_engine  # noqa: E402
from lilsr_tools.engines.exact import ExactEngine  # noqa: E402
from lilsr_tools.engines.search import QueryBatch  # noqa: E402
from lilsr_tools.evaluation.metrics import accuracy_at_k  # noqa: E402
from lilsr_tools.manifest import MANIFEST, read_manifest  # noqa: E402
from lilsr_tools.reports.compression import apply_steps, parse_setting, plan, setting_label  # noqa: E402
from lilsr_tools.reports.grid import parse_model_spec  # noqa: E402
from lilsr_tools.reports.workspace import Workspace  # noqa: E402
from lilsr_tools.vectors.store import load_vectors  # noqa: E402
from lilsr_tools.vectors.synth import synthesize  # noqa: E402

FIELDS = ["model", "setting", "engine", "docs", "index_bytes", "size_ratio", "bytes_per_posting", "postings",
          "search", "accuracy_at_10", "accuracy_vs_uncompressed", "p50_ms", "mean_ms", "p99_ms", "latency_ratio",
          "tune_accuracy_at_10", "tune_p50_ms", "tune_reached", "build_s", "load_before", "load_after"]


def synthetic_store(name: str, real, docs: int, work: Path, given: dict, method: str, seed: int):
    """The model's synthetic store: given, made earlier, or grown now from its real vectors with
    ``lilsr_tools.vectors.synth`` (``lilsr vectors synth``)."""
    if name in given:
        return load_vectors(given[name])
    path = work / f"{name}-synthetic-{docs}-{method}-{seed}"
    if (path / MANIFEST).is_file():
        return load_vectors(path)
    synthesize(real, path, docs, method=method, seed=seed, overwrite=True)
    return load_vectors(path)


def exact_reference(tag: str, vectors, qids, queries, k: int, work: Path):
    """Exact top-k of ``vectors`` for these queries (cached as a TREC run under ``tag``)."""
    from lilsr_tools.data.trec import read_run, write_run

    path = work / f"exact-{tag}-k{k}.trec"
    if not path.is_file():
        results = ExactEngine(vectors).batch_search(qids, queries, k=k)
        write_run(path, results.qids, results.doc_ids, results.scores, tag="exact")
    return read_run(path)


def timed(engine, qids, queries, k: int, repeats: int, search: dict) -> tuple[dict, object]:
    """p50, mean and p99 over queries of each query's median over ``repeats`` (after a warm-up pass), with
    the 1-minute load average before and after; and the first timed pass's results."""
    before = os.getloadavg()[0]
    measured = time_searches(lambda: engine.batch_search(qids, queries, k=k, **search), repeats)
    after = os.getloadavg()[0]
    return {**latency_ms(measured.call_ns, median="p50_ms"), "load_before": before, "load_after": after}, \
        measured.results


def tune(engine, batch, truth, k: int, target: float, grid: tuple[dict, ...]) -> tuple[dict, dict]:
    """The fastest setting of ``grid`` (p50, one timed pass each) whose accuracy@10 on the tuning queries,
    against exact search of the store the engine indexed, reaches ``target``; else the most accurate. An
    engine without a grid (an exact one) has nothing to tune."""
    if not grid:
        return {}, {}
    engine.batch_search(batch.qids, batch.vectors, k=k, **grid[0])  # warm-up
    tried = []
    for setting in grid:
        results = engine.batch_search(batch.qids, batch.vectors, k=k, **setting)
        tried.append((setting, accuracy_at_k(results.as_run(), truth, 10), float(np.median(results.retrieval_ns)) / 1e6))
    reaching = [t for t in tried if t[1] >= target]
    setting, accuracy, p50 = min(reaching, key=lambda t: t[2]) if reaching else max(tried, key=lambda t: t[1])
    return setting, {"tune_accuracy_at_10": accuracy, "tune_p50_ms": p50, "tune_reached": bool(reaching)}


def tuning_grid(engine_name: str, query_cuts: list[int], heap_factors: list[float]) -> tuple[dict, ...]:
    """query_cut x heap_factor for the Seismic-style engines (wider than their usual grid: summaries kept at
    a low energy bound block scores loosely and need lower heap factors); nothing for the others."""
    if engine_name not in ("native", "seismic-rs"):
        return ()
    return tuple({"query_cut": qc, "heap_factor": hf} for qc in query_cuts for hf in heap_factors)


def settings_to_run(study: Path, extra: str, limit: int) -> list[tuple]:
    """``none``; the native settings the study recommends; the other native settings that halve an index
    within the study's loss budget on its tuning split (least compressed first, up to ``limit`` in all);
    then ``extra``."""
    settings = [()]
    recommended = study / "recommended.csv"
    if recommended.is_file():
        frame = pd.read_csv(recommended)
        settings += [parse_setting(s, str(recommended)) for s in frame.loc[frame["engine"] == "native", "setting"]]
    manifest = read_manifest(study) if (study / MANIFEST).is_file() else {}
    tune = (manifest.get("params") or {}).get("tune_name")
    tuned = study / f"compression-{tune}.csv"
    if tune and tuned.is_file():
        frame = pd.read_csv(tuned)
        max_loss = float(manifest["params"].get("max_loss_points", 0.5))
        fine = frame[(frame["engine"] == "native") & (frame["status"] == "ok") & (frame["size_ratio"] <= 0.5)
                     & (frame["delta_nDCG@10_points"] >= -max_loss)].sort_values("size_ratio", ascending=False)
        for text in fine["setting"]:
            if len(settings) > limit:
                break
            settings.append(parse_setting(text, str(tuned)))
            settings = list(dict.fromkeys(settings))
    settings += [parse_setting(s, "--settings") for s in extra.split(",") if s.strip()]
    return list(dict.fromkeys(settings))


def main() -> None:
    parser = benchmark_parser(__doc__, full_doc=True, work="compression-synthetic", repeats=3,
                              collection="collection of the study (default scifact)")
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT or NAME=VECTOR_STORE.")
    parser.add_argument("--study", type=Path, required=True,
                        help="Output folder of the SciFact 'lilsr ablate compression' run (its vectors, tables "
                             "and recommended.csv are reused).")
    parser.add_argument("--split", default="test", help="Measured queries: this split of the collection.")
    parser.add_argument("--tune-split", default="train",
                        help="Queries the search settings are tuned on (never --split).")
    parser.add_argument("--accuracy-target", type=fraction, default=0.95,
                        help="Tuning: the fastest setting reaching this accuracy@10 (against exact search of the "
                             "store the engine indexed) is measured.")
    parser.add_argument("--tune-queries", type=at_least(1), default=300,
                        help="Tuning: the first N queries of --tune-split.")
    parser.add_argument("--query-cuts", type=comma_separated(at_least(1)), default="5,10,15,20",
                        help="Tuning grid: query_cut values.")
    parser.add_argument("--heap-factors", type=comma_separated(fraction), default="0.3,0.5,0.7,0.8,0.9,1.0",
                        help="Tuning grid: heap_factor values.")
    parser.add_argument("--docs", type=at_least(1), default=1_000_000, help="Synthetic documents per model.")
    parser.add_argument("--synthetic", action="append", default=[], help="NAME=STORE: a synthetic store to use.")
    parser.add_argument("--synth-method", default="mix", help="lilsr vectors synth method (mix or templates).")
    parser.add_argument("--seed", type=int, default=0, help="Synth seed.")
    parser.add_argument("--settings", default="", help="More settings, comma-separated (e.g. top_k=128,bits=8).")
    parser.add_argument("--max-settings", type=at_least(0), default=6,
                        help="At most this many settings from the study besides none.")
    parser.add_argument("--engines", default="native", help="Comma-separated engines (e.g. native,lucene).")
    parser.add_argument("-k", type=at_least(1), default=10)
    parser.add_argument("--build-threads", type=at_least(1), default=None, help="Index build threads (default: all).")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV path (default compression_<docs/1000>k.csv in benchmarks/work/results, or with "
                             "--update-results benchmarks/results; .png beside it).")
    args = parser.parse_args()
    if args.tune_split == args.split:
        parser.error("--tune-split must differ from --split")
    specs = [parse_model_spec(m) for m in args.model]
    given = dict(item.split("=", 1) for item in args.synthetic)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    settings = settings_to_run(args.study, args.settings, args.max_settings)
    args.work.mkdir(parents=True, exist_ok=True)
    writer = ResultWriter(args, folder=args.out.parent if args.out else None)
    out = writer.path(args.out.name if args.out else f"compression_{args.docs // 1000}k.csv")
    collection = resolve_collection(args.collection)
    ws = Workspace(args.study, collection, args.split)
    tune_ws = Workspace(args.study, collection, args.tune_split)
    print(f"settings: {', '.join(setting_label(s) for s in settings)}; engines: {', '.join(engines)}")
    rows = []
    for spec in specs:
        real = ws.vectors(spec)
        batch, tune_all = ws.queries(spec, "table"), tune_ws.queries(spec, "table")
        tune_batch = QueryBatch(tune_all.qids[:args.tune_queries], None, tune_all.vectors[:args.tune_queries])
        vectors = synthetic_store(spec.name, real, args.docs, args.work, given, args.synth_method, args.seed)
        tag = f"{spec.name}-{len(vectors)}"
        print(f"\n== {spec.name}: {len(vectors):,} synthetic docs, {vectors.nnz:,} non-zeros; {len(batch.qids)} "
              f"{args.split} queries measured, {len(tune_batch.qids)} {args.tune_split} queries for tuning")
        truth = exact_reference(f"{tag}-none-{args.split}", vectors, batch.qids, batch.vectors, args.k, args.work)
        for steps in settings:
            for engine_name in engines:
                planned = plan(steps, engine_name)
                if planned is None or engine_name == "exact":
                    continue
                store_steps, build = planned
                label = setting_label(steps)
                store_label = setting_label(store_steps)
                folder = args.work / f"{tag}-{engine_name}-{label}"
                source = apply_steps(vectors, store_steps) if store_steps else vectors
                if not (folder / MANIFEST).is_file():
                    extra = {"threads": args.build_threads} if engine_name == "native" and args.build_threads else {}
                    get_engine(engine_name).build(source, folder, overwrite=True, **build, **extra)
                # the engine's own approximation is judged against exact search of the store it indexed
                same_tune = exact_reference(f"{tag}-{store_label}-{args.tune_split}", source, tune_batch.qids,
                                            tune_batch.vectors, args.k, args.work)
                same_test = exact_reference(f"{tag}-{store_label}-{args.split}", source, batch.qids, batch.vectors,
                                            args.k, args.work)
                del source
                gc.collect()
                manifest = read_manifest(folder)
                engine_cls = get_engine(engine_name)
                engine = engine_cls.load(folder, in_memory=True) if engine_name == "native" else engine_cls.load(folder)
                search, tuned = tune(engine, tune_batch, same_tune, args.k, args.accuracy_target,
                                     tuning_grid(engine_name, args.query_cuts, args.heap_factors))
                timing, first = timed(engine, batch.qids, batch.vectors, args.k, args.repeats, search)
                stats = engine.index_stats()
                row = {"model": spec.name, "setting": label, "engine": engine_name, "docs": len(vectors),
                       "index_bytes": stats["index_bytes"], "postings": stats.get("postings"),
                       "build_s": manifest.get("build_seconds"),
                       "accuracy_at_10": accuracy_at_k(first.as_run(), same_test, 10),
                       "accuracy_vs_uncompressed": accuracy_at_k(first.as_run(), truth, 10), **timing, **tuned,
                       "search": " ".join(f"{k}={v}" for k, v in search.items())}
                row["bytes_per_posting"] = row["index_bytes"] / row["postings"] if row["postings"] else None
                base = next((r for r in rows if r["model"] == spec.name and r["engine"] == engine_name
                             and r["setting"] == "none"), None)
                row["size_ratio"] = row["index_bytes"] / base["index_bytes"] if base else 1.0
                row["latency_ratio"] = row["p50_ms"] / base["p50_ms"] if base else 1.0
                rows.append(row)
                print(f"{engine_name:7} {label:28} {row['index_bytes'] / 2**20:9.1f} MiB (x{row['size_ratio']:.2f})  "
                      f"p50 {row['p50_ms']:.3f} ms (x{row['latency_ratio']:.2f}) at {row['search'] or 'defaults'}  "
                      f"acc@10 {row['accuracy_at_10']:.3f} (vs uncompressed {row['accuracy_vs_uncompressed']:.3f})  "
                      f"load {timing['load_before']:.1f}->{timing['load_after']:.1f}", flush=True)
                del engine
                gc.collect()
        del vectors, real
        gc.collect()
    writer.csv(out.name, rows, FIELDS)
    writer.png(out.with_suffix(".png").name, plot(pd.DataFrame(rows)))
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
                     f"x{r['latency_ratio']:.2f} (target <= 1.10) at accuracy@10 {r['accuracy_at_10']:.3f} "
                     f"({r['search'] or 'defaults'})")
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


def plot(frame: pd.DataFrame):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for (model, engine), group in frame.groupby(["model", "engine"], sort=False):
        # a point only compares with another at equal accuracy: hollow where tuning missed the target
        reached = group.get("tune_reached", pd.Series(True, index=group.index)).fillna(True).astype(bool)
        line = ax.plot(group["index_bytes"][reached] / 2**20, group["p50_ms"][reached], "o",
                       label=f"{model} · {engine}")[0]
        ax.plot(group["index_bytes"][~reached] / 2**20, group["p50_ms"][~reached], "o", mfc="none",
                color=line.get_color())
        for _, r in group.iterrows():
            ax.annotate(f"{r['setting']} ({r['accuracy_at_10']:.2f})", (r["index_bytes"] / 2**20, r["p50_ms"]),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("index MiB (log scale)")
    ax.set_ylabel("p50 ms/query (1 thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Compressed indexes on {int(frame['docs'].iloc[0]):,} synthetic documents (label: setting "
                 "(accuracy@10); hollow: tuning missed the accuracy target)", fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    started = time.perf_counter()
    run(main)
    print(f"{time.perf_counter() - started:.0f} s")
