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

from common import portable, run  # noqa: F401 - sets sys.path and the offline environment
from harness import at_least, benchmark_parser, load_queries
from result_files import ResultWriter
from timing import latency_ms, time_searches

import numpy as np  # noqa: E402


def parse_args():
    parser = benchmark_parser(__doc__, out="pisa_lucene.json", repeats=5, warmup=3,
                              collection="qrels for nDCG@10 (name or BEIR folder)")
    parser.add_argument("--vectors", required=True, help="the vector store both indexes were built from")
    parser.add_argument("--pisa", required=True, help="lilsr.pisa-index ('lilsr index pisa')")
    parser.add_argument("--lucene", required=True, help="lilsr.lucene-index ('lilsr index lucene')")
    parser.add_argument("--queries", required=True, help="encoded queries folder ('lilsr encode queries')")
    parser.add_argument("--split", default="test")
    parser.add_argument("--k", type=at_least(1), nargs="+", default=[10, 1000])
    return parser.parse_args()


def main():
    args = parse_args()
    writer = ResultWriter(args)
    from lilsr_tools.data.collection import resolve_collection
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.lucene import LuceneEngine
    from lilsr_tools.engines.pisa import PisaEngine
    from lilsr_tools.errors import LilsrError
    from lilsr_tools.evaluation.metrics import accuracy_at_k, evaluate
    from lilsr_tools.vectors.convert import quantized
    from lilsr_tools.vectors.store import load_vectors

    vectors = load_vectors(args.vectors)
    qids, queries = load_queries(args.queries)
    pisa, lucene = PisaEngine.load(args.pisa), LuceneEngine.load(args.lucene, quiet=True, heap="2g")
    scale = pisa.scale
    if lucene.scale != scale:
        raise LilsrError(f"--pisa and --lucene differ in scale ({pisa.scale} vs {lucene.scale}); build both at one scale")
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
            timed = time_searches(lambda: engine.batch_search(qids, queries, k=k, **params), args.repeats,
                                  warmup=args.warmup)
            found = timed.results.as_run()
            row = {"engine": name, "k": k, **latency_ms(timed.call_ns, median="p50_ms"),
                   "timing": timed.results.info.get("timing"), "accuracy@10 exact": accuracy_at_k(found, exact, 10),
                   "accuracy@10 exact-q": accuracy_at_k(found, exact_q, 10),
                   "nDCG@10": evaluate(found, qrels, ["nDCG@10"]).aggregates["nDCG@10"]}
            rows.append(row)
            print(f"k={k:<5} {name:<32} mean {row['mean_ms']:.3f} ms  p50 {row['p50_ms']:.3f}  p99 {row['p99_ms']:.3f}  "
                  f"acc@10 {row['accuracy@10 exact']:.3f} (quantized {row['accuracy@10 exact-q']:.3f})  "
                  f"nDCG@10 {row['nDCG@10']:.4f}")
    lucene.close()
    record = {"vectors": portable(args.vectors), "queries": portable(args.queries), "n_queries": len(qids),
              "docs": len(vectors), "scale": scale, "repeats": args.repeats, "warmup": args.warmup, "rows": rows}
    print(f"wrote {portable(writer.json('pisa_lucene.json', record))}")


if __name__ == "__main__":
    run(main)
