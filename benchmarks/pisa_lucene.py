"""The classical pair on the same quantized vectors: PISA (MaxScore, BlockMax-WAND) against Lucene.

Both indexes hold the same integers ``round(w * scale)`` of one vector store; both engines are safe (exact
top-k for their query weights). Per engine and k: --warmup untimed passes over all queries, then --repeats
timed passes; a query's latency is its median over the repeats; the table gives the mean, p50 and p99 of
those medians (ms), on each engine's call clock (see each engine's info["timing"]: PISA one _pisathon call
per query from Python, Lucene inside Java through the bridge). Accuracy@10 is against exact search on the
float vectors (``exact``) and on the quantized ones with the same integer query weights (``exact-q``);
nDCG@10 against the collection's qrels.

    flock .cpu.lock .venv/bin/python benchmarks/pisa_lucene.py \\
        --vectors out/scifact-splade-tiny --pisa out/scifact-pisa --lucene out/scifact-lucene \\
        --queries out/q-table --collection scifact

Prints a table and saves benchmarks/work/results/pisa_lucene.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import add_update_results, results_dir  # noqa: E402  (the results folder: work, or reference)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", required=True, help="the vector store both indexes were built from")
    parser.add_argument("--pisa", required=True, help="lilsr.pisa-index ('lilsr index pisa')")
    parser.add_argument("--lucene", required=True, help="lilsr.lucene-index ('lilsr index lucene')")
    parser.add_argument("--queries", required=True, help="encoded queries folder ('lilsr encode queries')")
    parser.add_argument("--collection", default="scifact", help="qrels for nDCG@10 (name or BEIR folder)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/work/results)")
    add_update_results(parser)
    return parser.parse_args()


def timed(engine, qids, queries, k, repeats, warmup, **params):
    for _ in range(warmup):
        engine.batch_search(qids, queries, k=k, **params)
    runs = [engine.batch_search(qids, queries, k=k, **params) for _ in range(repeats)]
    per_query = np.median(np.stack([r.retrieval_ns for r in runs]), axis=0) / 1e6
    return runs[-1], {"mean_ms": float(per_query.mean()), "p50_ms": float(np.median(per_query)),
                      "p99_ms": float(np.percentile(per_query, 99)), "timing": runs[-1].info.get("timing")}


def main():
    args = parse_args()
    from lilsr_tools.data.collection import resolve_collection
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.lucene import LuceneEngine
    from lilsr_tools.engines.pisa import PisaEngine
    from lilsr_tools.evaluation.metrics import accuracy_at_k, evaluate
    from lilsr_tools.vectors.convert import quantized
    from lilsr_tools.vectors.queries import load_encoded_queries
    from lilsr_tools.vectors.store import load_vectors

    vectors = load_vectors(args.vectors)
    encoded, _ = load_encoded_queries(args.queries)
    qids, queries = encoded.qids, encoded.vectors
    pisa, lucene = PisaEngine.load(args.pisa), LuceneEngine.load(args.lucene, quiet=True, heap="2g")
    scale = pisa.scale
    if lucene.scale != scale:
        raise SystemExit(f"the indexes differ in scale ({pisa.scale} vs {lucene.scale}); build both at one scale")
    int_queries = [{t: float(np.rint(w * scale)) / scale for t, w in q.items()} for q in queries]
    exact = ExactEngine(vectors).batch_search(qids, queries, k=10).as_run()
    exact_q = ExactEngine(quantized(vectors, scale)).batch_search(qids, int_queries, k=10).as_run()
    qrels = resolve_collection(args.collection).qrels(args.split)
    setups = [("pisa maxscore", pisa, {"query_algorithm": "maxscore"}),
              ("pisa block_max_wand", pisa, {"query_algorithm": "block_max_wand"}),
              ("lucene (float query weights)", lucene, {}),
              ("lucene (integer query weights)", lucene, {"query_weights": "int"})]
    rows = []
    for k in args.k:
        for name, engine, params in setups:
            results, latency = timed(engine, qids, queries, k, args.repeats, args.warmup, **params)
            run = results.as_run()
            row = {"engine": name, "k": k, **latency, "accuracy@10 exact": accuracy_at_k(run, exact, 10),
                   "accuracy@10 exact-q": accuracy_at_k(run, exact_q, 10),
                   "nDCG@10": evaluate(run, qrels, ["nDCG@10"]).aggregates["nDCG@10"]}
            rows.append(row)
            print(f"k={k:<5} {name:<32} mean {row['mean_ms']:.3f} ms  p50 {row['p50_ms']:.3f}  p99 {row['p99_ms']:.3f}  "
                  f"acc@10 {row['accuracy@10 exact']:.3f} (quantized {row['accuracy@10 exact-q']:.3f})  "
                  f"nDCG@10 {row['nDCG@10']:.4f}")
    lucene.close()
    out = Path(args.out) if args.out else results_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    record = {"vectors": args.vectors, "queries": args.queries, "n_queries": len(qids), "docs": len(vectors),
              "scale": scale, "repeats": args.repeats, "warmup": args.warmup, "rows": rows,
              "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version()}}
    (out / "pisa_lucene.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
