"""Lucene impact search: our Java bridge against Anserini's SimpleImpactSearcher driven as Pyserini does.

Same index, same queries, same JVM. Both paths search with Anserini's ImpactSimilarity; they differ in
what surrounds the Lucene call:

- bridge: the whole batch crosses into Java once (packed arrays), hits come back as Lucene doc numbers
  mapped to ids through an array read once; per-query time is also measured inside Java.
- anserini (Pyserini's way): per query a Java HashMap<String, Integer> built through pyjnius, one
  SimpleImpactSearcher.search call (which loads the stored document of every hit and re-sorts ties by
  docid), then docid and score read from each hit. "All threads" uses its batch_search (Java thread pool).

ms/query = wall time of the whole batch in Python / number of queries (median of --repeats, after
--warmup passes), so it counts everything each path costs a caller. For apples-to-apples the bridge is
also run with the same integer query weights and the same tie order (ties=docid); the default engine
setting (float weights, Lucene's own tie order) is reported beside it. Each path's top-10 is checked
against exact search on the quantized vectors, so the speed-up is not bought with different answers.

From a fresh clone, after `make venv bridge` (SciFact from $LILSR_DATA_DIR, by default ../shared/data
beside the checkout):

    .venv/bin/python benchmarks/lucene_latency.py

builds what it needs under --work (default benchmarks/work/, git-ignored; reused by later runs): the
SciFact corpus encoded with splade-tiny (length 256; about 3 minutes on 2 cores), its Lucene impact index
(scale 100) and the contextual splade-tiny test queries. --index and --queries take ones made earlier
(`lilsr index lucene`, `lilsr encode queries`); --docs N encodes only the first N documents (a quick
check: --docs 300 --k 10 --repeats 1 --warmup 0 --out benchmarks/work/lucene-check).

Prints a table and saves benchmarks/work/results/lucene_latency.{csv,json,png} (--out for another folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from common import portable, run  # sets sys.path and $LILSR_DATA_DIR first
from harness import at_least, benchmark_parser, encoded_queries, encoded_store, load_queries, work_folder
from result_files import ResultWriter, pyplot
from timing import wall_seconds

import numpy as np  # noqa: E402


def parse_args():
    parser = benchmark_parser(__doc__, work="", out="lucene_latency.csv, .json and .png", repeats=5, warmup=2,
                              collection="collection to build inputs from")
    parser.add_argument("--index", default=None, help="a lilsr.lucene-index (default: built under --work)")
    parser.add_argument("--queries", default=None,
                        help="encoded queries folder ('lilsr encode queries'; default: built under --work)")
    parser.add_argument("--split", default="test", help="its queries judged in this split")
    parser.add_argument("--model", default="splade-tiny", help="document and contextual query encoder")
    parser.add_argument("--max-length", type=at_least(1), default=256, help="document token limit")
    parser.add_argument("--docs", type=at_least(1), default=None, help="encode only the first N documents")
    parser.add_argument("--scale", type=float, default=100, help="Lucene impact quantization scale")
    parser.add_argument("--vectors", default=None, help="vector store for the exactness check (default: the "
                                                        "index's source)")
    parser.add_argument("--k", type=at_least(1), nargs="+", default=[10, 1000])
    parser.add_argument("--threads", type=at_least(1), default=os.cpu_count() or 1, help="'all threads' setting")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error(f"argument --scale: must be positive, got {args.scale:g}")
    return args


def build_inputs(args) -> tuple[Path, Path]:
    """The Lucene index and encoded queries: given, or built under --work (and reused when present)."""
    from lilsr_tools.manifest import MANIFEST

    work = work_folder(args)
    name = f"{args.collection}-{args.model}-{args.max_length}" + (f"-first{args.docs}" if args.docs else "")
    index = Path(args.index) if args.index else work / f"{name}-lucene-{args.scale:g}"
    queries = Path(args.queries) if args.queries else encoded_queries(
        args.collection, args.split, work / f"{args.collection}-{args.split}-q-contextual-{args.model}", args.model)
    if not (index / MANIFEST).is_file():
        from lilsr_tools.engines.lucene import LuceneEngine
        from lilsr_tools.vectors.store import load_vectors

        store = encoded_store(args.collection, work / name, args.model, args.max_length, limit=args.docs)
        print(f"building the Lucene index {index}", flush=True)
        LuceneEngine.build(load_vectors(store), index, scale=args.scale)
    if args.vectors is None and not args.index:
        args.vectors = str(work / name)  # the store the index was built from, for the exactness check
    return index, queries


def main():
    args = parse_args()
    writer = ResultWriter(args)
    args.index, args.queries = build_inputs(args)
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.lucene import LuceneEngine, jvm
    from lilsr_tools.engines.lucene.anserini_path import ImpactSearcherPath
    from lilsr_tools.engines.lucene.impact import integer_maps
    from lilsr_tools.evaluation.metrics import accuracy_at_k
    from lilsr_tools.manifest import read_manifest
    from lilsr_tools.vectors.convert import quantized
    from lilsr_tools.vectors.store import load_vectors

    qids, queries = load_queries(args.queries)
    qmanifest = read_manifest(args.queries)
    engine = LuceneEngine.load(args.index, searcher="bridge")
    anserini = ImpactSearcherPath(engine.lucene_dir)
    scale = engine.scale
    terms, weights, offsets, unknown = engine.packed_queries(queries, scale)
    int_queries = integer_maps(terms, weights, offsets)
    n = len(qids)
    vectors = load_vectors(args.vectors or engine.manifest["params"]["source"])
    exact_q = ExactEngine(quantized(vectors, scale)).batch_search(qids, queries, k=10).as_run()
    exact_f = ExactEngine(vectors).batch_search(qids, queries, k=10).as_run()

    def bridge(k, threads, query_weights, ties):
        return lambda: engine.batch_search(qids, queries, k=k, threads=threads, query_weights=query_weights,
                                           ties=ties)

    def pyserini_way(k, threads):
        return lambda: anserini.search(int_queries, k, threads)[0]

    rows = []
    for k in args.k:
        for threads in sorted({1, args.threads}):
            cases = [
                ("bridge int ties=docid", bridge(k, threads, "int", "docid")),
                ("anserini SimpleImpactSearcher (pyserini way)", pyserini_way(k, threads)),
                ("bridge float ties=lucene (engine default)", bridge(k, threads, "float", "lucene")),
            ]
            for name, fn in cases:
                walls, result = wall_seconds(fn, args.repeats, args.warmup)
                wall = float(np.median(walls))
                row = {"path": name, "k": k, "threads": threads, "queries": n, "ms_per_query": wall / n * 1e3,
                       "ms_per_query_runs": [w / n * 1e3 for w in walls]}
                if name.startswith("bridge"):
                    row["java_mean_ms"] = float(result.retrieval_ns.mean() / 1e6)
                    row["java_p50_ms"] = float(np.median(result.retrieval_ns) / 1e6)
                    row["java_p99_ms"] = float(np.percentile(result.retrieval_ns, 99) / 1e6)
                    run = {q: list(zip(ids, s)) for q, ids, s in zip(qids, result.doc_ids, result.scores)}
                else:
                    run = {q: list(zip(ids, s.tolist())) for q, (ids, s) in zip(qids, result)}
                row["acc10_vs_exact_quantized"] = accuracy_at_k(run, exact_q, 10)
                row["acc10_vs_exact_float"] = accuracy_at_k(run, exact_f, 10)
                rows.append(row)
                java = f" (in Java {row['java_mean_ms']:.3f})" if "java_mean_ms" in row else ""
                print(f"k={k:<5} threads={threads} {name:<46} {row['ms_per_query']:8.3f} ms/query{java}  "
                      f"acc@10 vs exact(quantized) {row['acc10_vs_exact_quantized']:.4f}", flush=True)

    agreement = agreement_table(engine, qids, queries, vectors, scale, qmanifest)

    speedups = {}
    for k in args.k:
        for threads in sorted({1, args.threads}):
            pick = {r["path"]: r["ms_per_query"] for r in rows if r["k"] == k and r["threads"] == threads}
            speedups[f"k={k},threads={threads}"] = pick["anserini SimpleImpactSearcher (pyserini way)"] / \
                pick["bridge int ties=docid"]
    print("speed-up of the bridge over the Pyserini way (same int queries, same tie order):")
    for key, value in speedups.items():
        print(f"  {key}: {value:.1f}x")

    meta = {"index": portable(args.index), "queries": portable(args.queries), "encoder": qmanifest.get("encoder"),
            "queries_n": n, "unknown_query_tokens": unknown, "scale": scale, "repeats": args.repeats,
            "warmup": args.warmup, "java": jvm.start_jvm()["java_version"],
            "definition": "ms_per_query = median over repeats of (batch wall time in Python / queries)"}
    writer.json("lucene_latency.json", {"meta": meta, "rows": rows, "speedup": speedups, "agreement": agreement})
    writer.csv("lucene_latency.csv", rows, ["path", "k", "threads", "queries", "ms_per_query", "java_mean_ms",
                                            "java_p50_ms", "java_p99_ms", "acc10_vs_exact_quantized",
                                            "acc10_vs_exact_float"])
    writer.png("lucene_latency.png", plot(rows, args, meta), dpi=120)
    print(f"saved {portable(writer.path('lucene_latency.csv'))}, .json, .png")


def agreement_table(engine, qids, queries, vectors, scale, qmanifest) -> list[dict]:
    """How far Lucene's rankings are from exact float search, and that they equal exact search on the
    quantized vectors (what Lucene indexes): accuracy@k, top-10 score differences, nDCG@10."""
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.evaluation.metrics import accuracy_at_k, evaluate
    from lilsr_tools.vectors.convert import quantized

    k = 1000
    exact_float = ExactEngine(vectors).batch_search(qids, queries, k=k)
    exact_quant = ExactEngine(quantized(vectors, scale)).batch_search(qids, queries, k=k)
    runs = {"exact float": exact_float, "exact quantized": exact_quant,
            "lucene float weights": engine.batch_search(qids, queries, k=k),
            "lucene int weights (pyserini)": engine.batch_search(qids, queries, k=k, query_weights="int",
                                                                 ties="docid")}
    qrels = None
    collection = (qmanifest.get("params") or {}).get("collection")
    if collection:
        from lilsr_tools.data import resolve_collection

        qrels = resolve_collection(collection).qrels((qmanifest.get("params") or {}).get("split") or "test")
    table = []
    truth_f, truth_q = exact_float.as_run(), exact_quant.as_run()
    for name, results in runs.items():
        run = results.as_run()
        row = {"run": name}
        for depth in (10, 100, 1000):
            row[f"acc@{depth} vs exact float"] = accuracy_at_k(run, truth_f, depth)
            row[f"acc@{depth} vs exact quantized"] = accuracy_at_k(run, truth_q, depth)
        diffs = []
        for ours, exact in zip(results.scores, exact_quant.scores):
            m = min(10, len(ours), len(exact))
            if m:
                diffs.append(np.max(np.abs(np.asarray(ours[:m]) - np.asarray(exact[:m], np.float64))
                                    / np.maximum(np.abs(exact[:m]), 1e-12)))
        row["max rel. diff of top-10 scores vs exact quantized"] = float(max(diffs)) if diffs else 0.0
        if qrels is not None:
            row.update(evaluate(run, qrels, ("nDCG@10", "R@1000")).aggregates)
        table.append(row)
    print("agreement with exact search (k=1000):")
    keys = [key for key in table[0] if key != "run"]
    for row in table:
        print(f"  {row['run']:<32} " + "  ".join(f"{key} {row[key]:.4f}" if "diff" not in key else
                                                 f"{key} {row[key]:.2e}" for key in keys))
    return table


def plot(rows, args, meta):
    plt = pyplot()

    paths = list(dict.fromkeys(r["path"] for r in rows))
    groups = [(k, t) for k in args.k for t in sorted({1, args.threads})]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(paths)
    for i, name in enumerate(paths):
        values = [next(r["ms_per_query"] for r in rows if r["path"] == name and (r["k"], r["threads"]) == g)
                  for g in groups]
        bars = ax.bar(np.arange(len(groups)) + i * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(groups)) + width * (len(paths) - 1) / 2)
    ax.set_xticklabels([f"k={k}\n{t} thread{'s' if t > 1 else ''}" for k, t in groups])
    ax.set_yscale("log")
    ax.set_ylabel("ms / query (batch wall / queries)")
    ax.set_title(f"Lucene impact search, {meta['queries_n']} {meta['encoder']} queries, "
                 f"{Path(meta['index']).name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run(main)
