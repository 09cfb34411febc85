"""The lambda question at scale: every engine on each model's vectors grown to N synthetic documents.

    .venv/bin/python benchmarks/scale.py --model big=CKPT --model medium=CKPT --model small=CKPT
    .venv/bin/python benchmarks/scale.py --model big=CKPT ... --docs 100000          # < 30 min on 2 cores
    .venv/bin/python benchmarks/scale.py --model big=CKPT ... --sizes 100000,300000   # latency against N

For each model (a checkpoint or a vector store of SciFact; one per lambda_d) its SciFact vectors are grown
to --docs documents with ``lilsr vectors synth`` (method ``mix``), every engine of
``lilsr_tools.engines.ENGINES`` (but bm25, which needs text) builds an index in a child process (wall time,
peak memory), and the real SciFact test queries (Li-LSR table of each model) are searched at k=10 and
k=1000: call-clock latency (warmed up, median of --repeat passes per query), the engine's own clock where
it has one, accuracy@10 and accuracy@k against exact search on the same synthetic vectors. Approximate
engines run, at each k, at the fastest setting of their tuning grid reaching accuracy@k >= 0.95 (tie-aware)
on SciFact *train* queries, tuned separately at k=10 and k=1000, each setting timed with 3 repeats, the grid
widened one step where the choice sits on its edge (settings are never chosen on test). This is ``lilsr ablate lambda --docs N --tune-split train`` (one library call);
--sizes repeats it for the first model at smaller N, and the script fits latency = a * N^b per engine,
with its error on the measured points, and predicts MS MARCO's 8.8M passages.

Outputs: benchmarks/work/results/scale-<N>.csv, .json and .png (latency against mean document non-zeros at N,
and latency against N); the ablation reports stay under --work (default benchmarks/work/scale, ignored by
git). Run it alone on the machine: it records the load average, and a busy machine makes the numbers wrong.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")  # Rust Seismic's search pool, read once at import

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lilsr_tools.reports.ablate import LambdaModel, ablate_lambda, engines_at_scale  # noqa: E402
from lilsr_tools.manifest import read_manifest  # noqa: E402
from lilsr_tools.reports.grid import ModelSpec  # noqa: E402
from lilsr_tools.models.query_encoders import parse_encoder_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent
from common import add_update_results  # noqa: E402
from result_files import ResultWriter  # noqa: E402  (the results folder: work, or reference; the machine record)
MSMARCO_PASSAGES = 8_841_823


def model_spec(item: str) -> ModelSpec:
    name, _, path = item.partition("=")
    if not name or not path:
        raise SystemExit(f"--model {item!r}: expected NAME=CHECKPOINT_OR_STORE")
    is_store = (Path(path) / "indptr.npy").is_file()
    return ModelSpec(name, checkpoint=None if is_store else path, vectors=path if is_store else None)


def fit_power_law(ns: np.ndarray, latency: np.ndarray) -> dict:
    """latency = a * N^b by least squares in log-log; with 3+ points also the error of predicting the
    largest N from the others."""
    b, log_a = np.polyfit(np.log(ns), np.log(latency), 1)
    fit = {"a": float(np.exp(log_a)), "b": float(b),
           "predicted_msmarco_ms": float(np.exp(log_a) * MSMARCO_PASSAGES ** b)}
    if len(ns) >= 3:
        order = np.argsort(ns)
        head, last = order[:-1], order[-1]
        b2, a2 = np.polyfit(np.log(ns[head]), np.log(latency[head]), 1)
        predicted = float(np.exp(a2) * ns[last] ** b2)
        fit["holdout"] = {"n": int(ns[last]), "predicted_ms": predicted, "measured_ms": float(latency[last]),
                          "relative_error": predicted / float(latency[last]) - 1}
    return fit


def plot(table: pd.DataFrame, sizes: pd.DataFrame, fits: dict, docs: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lilsr_tools.reports.plots import engine_color

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for col, k in enumerate((10, 1000)):
        ax = axes[0, col]
        for engine, part in table[table["k"] == k].groupby("engine"):
            part = part.sort_values("mean_doc_nnz")
            ax.plot(part["mean_doc_nnz"], part["retrieval_p50_ms"], "o-", label=engine, color=engine_color(engine))
        ax.set_yscale("log")
        ax.set_xlabel("mean document non-zeros (one point per lambda_d model)")
        ax.set_ylabel("p50 ms/query (call clock, 1 thread)")
        ax.set_title(f"{docs:,} documents, k={k}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        for engine, part in sizes[sizes["k"] == k].groupby("engine"):
            part = part.sort_values("docs")
            color = engine_color(engine)
            ax.plot(part["docs"], part["retrieval_p50_ms"], "o", color=color, label=engine)
            fit = fits.get(f"{engine}@{k}")
            if fit:
                xs = np.geomspace(part["docs"].min(), MSMARCO_PASSAGES, 20)
                ax.plot(xs, fit["a"] * xs ** fit["b"], "--", color=color, lw=1)
        ax.axvline(MSMARCO_PASSAGES, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents (dotted: MS MARCO's 8.8M; dashed: power-law fit)")
        ax.set_ylabel("p50 ms/query")
        ax.set_title(f"first model against N, k={k}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# The peers' published best configurations (build side; their search side is in each engine's tuning grid):
# - Rust Seismic: experiments/best_configs/msmarco-v1/efficient-splade/mem_budget_1.5/recall_95.toml of
#   github.com/TusKANNy/seismic (commit e616de4; Efficient-SPLADE is the published model closest to a Li-LSR
#   one: short queries, documents of a few hundred non-zeros): n-postings 4000, centroid-fraction 0.2,
#   summary-energy 0.5, max-fraction 2.0, kmeans-doc-cut 15, min-cluster-size 2, knn 0 (every published
#   recall-95 configuration has knn = 0); its search point (query-cut 7, heap-factor 1.0) is in the grid.
#   pyseismic-lsr 0.5.4 exposes neither pruning-strategy (it is global-threshold, as published) nor
#   value-type (the published one is DotVByte; the package stores f16).
# - BMP: github.com/pisa-engine/BMP README (commit 1078542) indexes a BP-reordered collection; block size 32
#   is its Python API's example (its command-line example uses 8 with --compress-range): 32 is kept here.
PUBLISHED_BUILDS = {
    "seismic-rs": {"n_postings": 4000, "centroid_fraction": 0.2, "summary_energy": 0.5, "max_fraction": 2.0,
                   "doc_cut": 15, "min_cluster_size": 2},
    "bmp": {"bsize": 32},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True,
                        help="NAME=CHECKPOINT or NAME=VECTOR_STORE (SciFact), one per lambda_d; the first is the "
                             "one measured against N.")
    parser.add_argument("--lambda", dest="lambdas", action="append", default=[], help="NAME=LAMBDA_D.")
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="", help="Comma-separated smaller N for the first model.")
    parser.add_argument("--engines", default="",
                        help="Comma-separated engines (default: every vector engine whose scale_limit allows N).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--native-build", choices=["defaults", "seismic-published"], default="defaults",
                        help="Build the native index with its defaults or with Rust Seismic's published "
                             "configuration (the same parameter names; one build configuration for both "
                             "Seismic-style engines) [defaults].")
    parser.add_argument("--run-name", default=None,
                        help="Folder of the run under --work (default lambda-<N>); a second run beside the first "
                             "can share its grown stores by linking <run>/artifacts.")
    parser.add_argument("--tune-queries", type=int, default=None,
                        help="Tune on a seeded sample of this many train queries (default: all 809).")
    parser.add_argument("--reorder", choices=["bp", "none"], default="bp",
                        help="Reorder each grown store's document ids by recursive graph bisection before any "
                             "engine builds on it (BMP's and PISA's published indexes are reordered) [bp].")
    parser.add_argument("--peer-builds", choices=["published", "defaults"], default="published",
                        help="Build parameters of the peers: their published best configurations (PUBLISHED_BUILDS, "
                             "cited there) or their packages' defaults [published].")
    parser.add_argument("--encoder", default="table",
                        help="The query side: the model's Li-LSR table (table), the table cut to each query's T "
                             "heaviest tokens (table:topT, e.g. table:top6: the paper's sparsity) or the model "
                             "itself (contextual) [table].")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--work", type=Path, default=ROOT / "work" / "scale")
    parser.add_argument("--tag", default="", help="Suffix of the result files (scale-<N>k-<tag>.*), e.g. for a "
                                                   "second run with --sizes beside the main one.")
    add_update_results(parser)
    args = parser.parse_args()
    parse_encoder_spec(args.encoder)  # a malformed cut fails here, before any work
    specs = [model_spec(m) for m in args.model]
    lambdas = {name: float(value) for name, _, value in (item.partition("=") for item in args.lambdas)}
    chosen = tuple(e for e in args.engines.split(",") if e)
    writer = ResultWriter(args)
    results = writer.folder
    load_before = os.getloadavg()
    started = time.perf_counter()
    skipped: dict[int, dict] = {}

    builds = dict(PUBLISHED_BUILDS) if args.peer_builds == "published" else {}
    if args.native_build == "seismic-published":
        builds["native"] = dict(PUBLISHED_BUILDS["seismic-rs"])

    def run(models, docs):
        print(f"\n== {len(models)} model(s) at {docs:,} documents ==", flush=True)
        t0 = time.perf_counter()
        engines, skip = (chosen, {}) if chosen else engines_at_scale(docs)
        skipped[docs] = skip
        for name, why in skip.items():
            print(f"{name} not run at {docs:,}: {why}", flush=True)
        table = ablate_lambda([LambdaModel(s, lambdas.get(s.name)) for s in models], args.collection,
                              args.work / (args.run_name or f"lambda-{docs}"), engines=engines, docs=docs,
                              repeat=args.repeat, encoder=args.encoder,
                              tune_split="train", skipped=skip, tune_queries=args.tune_queries,
                              synth={"method": "mix", "seed": 0, **({"reorder": "bp"} if args.reorder == "bp" else {})},
                              builds=builds)
        print(f"{docs:,} documents: {time.perf_counter() - t0:.0f} s", flush=True)
        return table.assign(docs=docs)

    table = run(specs, args.docs)
    sizes = [table[table["model"] == specs[0].name]]
    for n in sorted(int(x) for x in args.sizes.split(",") if x):
        if n != args.docs:
            sizes.append(run(specs[:1], n))
    sizes = pd.concat(sizes, ignore_index=True)
    fits = {}
    for (engine, k), part in sizes.groupby(["engine", "k"]):
        if part["docs"].nunique() >= 2:
            fits[f"{engine}@{k}"] = fit_power_law(part["docs"].to_numpy(float), part["retrieval_p50_ms"].to_numpy(float))
    stem = results / (f"scale-{args.docs // 1000}k" + (f"-{args.tag}" if args.tag else ""))
    table.to_csv(stem.with_suffix(".csv"), index=False)
    sizes.to_csv(stem.parent / f"{stem.name}-sizes.csv", index=False)
    plot(table, sizes, fits, args.docs, stem.with_suffix(".png"))
    summary = {"docs": args.docs, "sizes": sorted(sizes["docs"].unique().tolist()), "models": [{"name": s.name, "source": Path(s.vectors or s.checkpoint).name} for s in specs],
               "engines_not_run": skipped, "repeat": args.repeat, "fits": fits, "reorder": args.reorder, "encoder": args.encoder, "tune_queries": args.tune_queries or "all",
               "peer_builds": PUBLISHED_BUILDS if args.peer_builds == "published" else "package defaults",
               "native_build": builds.get("native", "defaults"),
               "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                           "load_average_before": load_before, "load_average_after": os.getloadavg()},
               "seconds": round(time.perf_counter() - started, 1)}
    summary["reordering"] = {  # log-gap cost before/after and seconds of each grown store's BP reordering
        path.name: read_manifest(path).get("counts", {})
        for path in sorted((args.work / (args.run_name or f"lambda-{args.docs}") / "artifacts" / "reordered").glob("*"))
        if (path / "manifest.json").is_file()}
    writer.json(stem.with_suffix(".json").name, summary, default=str)
    pd.set_option("display.width", 200)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for name, fit in fits.items():
        holdout = fit.get("holdout")
        print(f"{name}: latency ~ {fit['a']:.3g} * N^{fit['b']:.3f}; MS MARCO 8.8M -> {fit['predicted_msmarco_ms']:.1f} ms"
              + (f"; predicting {holdout['n']:,} from the smaller N: {holdout['relative_error']:+.0%}" if holdout else ""))
    print(f"\nwrote {stem}.csv/.json/.png in {summary['seconds']:.0f} s; load average before {load_before}, "
          f"after {summary['machine']['load_average_after']}")


if __name__ == "__main__":
    main()
