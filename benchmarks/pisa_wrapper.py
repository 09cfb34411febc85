"""Where a PISA query's time goes: PyTerrier's PisaRetrieve against one _pisathon.retrieve call per query.

Same index, same integer query weights, same PISA code underneath; what differs is what surrounds the call:

- engine: ``PisaEngine.batch_search`` with one thread: per query, our query conversion ({token: float(round(
  q * scale))}), one ``_pisathon.retrieve`` call with that one query, results read back (the call clock);
- engine, query_scale = scale / 10: coarser integer query weights, a tenth of the term repeats (the
  binding repeats a term ``weight`` times and PISA counts the repeats back); its top-k overlap with the
  default is reported;
- repeats: one call with a single-posting term of weight W (the mean sum of integer query weights) minus
  the same call with weight 1: what the repetition alone costs a query;
- pyterrier batch: ``PisaIndex(...).quantized(toks_scale=1).transform(frame)`` on all queries at once
  (a ``query_toks`` column of the integer weights): DataFrame validation, result frames;
- pyterrier per query: the same on a one-row frame per query;
- pyterrier toks_scale=100 (its default): our already-scaled integers multiplied by 100 again, i.e. 100x
  the term repeats: what a user gets who hands PyTerrier quantized queries without setting toks_scale.

ms/query = median over --repeats of (batch wall time / queries) after --warmup passes, except "engine",
where each query's call time is its median over the repeats, then averaged (p50 beside it). PyTerrier's top-k (toks_scale=1)
is checked against the engine's, so no speed-up is bought with other answers.

    flock .cpu.lock .venv/bin/python benchmarks/pisa_wrapper.py \\
        --index out/scifact-pisa --queries out/q-table

Prints a table and saves benchmarks/work/results/pisa_wrapper.json.
"""

from __future__ import annotations

from pathlib import Path

from common import portable, run  # noqa: F401 - sets sys.path and the offline environment
from harness import at_least, benchmark_parser, load_queries
from result_files import ResultWriter
from timing import median_seconds, time_searches

import numpy as np  # noqa: E402


def parse_args():
    parser = benchmark_parser(__doc__, out="pisa_wrapper.json", repeats=5, warmup=1)
    parser.add_argument("--index", required=True, help="lilsr.pisa-index folder ('lilsr index pisa')")
    parser.add_argument("--queries", required=True, help="encoded queries folder ('lilsr encode queries')")
    parser.add_argument("--k", type=at_least(1), default=10)
    parser.add_argument("--algorithm", default="maxscore")
    parser.add_argument("--skip-scale-100", action="store_true",
                        help="skip the toks_scale=100 path (100x the term repeats: slow on big query sets)")
    return parser.parse_args()


def ms_per_query(fn, repeats: int, warmup: int, n: int) -> float:
    """Median over the repeats of one batch's wall time / its ``n`` queries, in ms."""
    return median_seconds(fn, repeats, warmup) / n * 1e3


def main():
    args = parse_args()
    writer = ResultWriter(args)
    import pandas as pd

    from lilsr_tools.engines.pisa import PisaEngine
    from lilsr_tools.engines.pisa.build import PISA_DIR
    from lilsr_tools.vectors.store import load_vectors, posting_lengths

    engine = PisaEngine.load(args.index)
    qids, queries = load_queries(args.queries)
    n, k = len(qids), args.k
    scale = engine.scale
    # the integer queries as PISA's terms (vocabulary ids), exactly what the engine sends
    lexicon = engine.lexicon
    int_queries = [{lexicon[t]: float(np.rint(w * scale)) for t, w in q.items()
                    if t in lexicon and np.rint(w * scale) > 0} for q in queries]
    rows = {}

    # 1. the engine (one retrieve call per query, timed per query)
    reference = engine.batch_search(qids, queries, k=k, query_algorithm=args.algorithm)
    per_query = time_searches(lambda: engine.batch_search(qids, queries, k=k, query_algorithm=args.algorithm),
                              args.repeats, warmup=args.warmup).call_ns / 1e6  # each query's median over the repeats
    rows["engine: one _pisathon.retrieve per query"] = float(per_query.mean())
    rows["engine p50"] = float(np.median(per_query))
    repeats_per_query = float(np.mean([sum(q.values()) for q in int_queries]))

    # 2. coarser query weights: a tenth of the repeats
    coarse = time_searches(lambda: engine.batch_search(qids, queries, k=k, query_algorithm=args.algorithm,
                                                       query_scale=scale / 10), args.repeats, warmup=args.warmup)
    rows["engine, query_scale = scale / 10"] = float(np.mean(coarse.call_ns)) / 1e6
    overlap = np.mean([len(set(a) & set(b)) / max(len(a), 1)
                       for a, b in zip(coarse.results.doc_ids, reference.doc_ids)])

    # 3. the repetition alone: a term with one posting, weight W against weight 1
    pisathon, context = engine.binding()
    buffers = dict(result_qidxs=np.empty(k, np.int32), result_docnos=np.empty(k, dtype=object),
                   result_ranks=np.empty(k, np.int32), result_scores=np.empty(k, np.float32))
    lengths = posting_lengths(load_vectors(engine.manifest["params"]["source"]))
    rare = lexicon[min(lexicon, key=lambda token: lengths[int(lexicon[token])])]

    def one_term(weight):
        def call():
            for _ in range(n):
                pisathon.retrieve(context, args.algorithm, [(0, {rare: weight})], k=k, threads=1, pretokenised=True,
                                  query_weighted=1, **buffers)
                buffers["result_docnos"][:] = None
        return call

    heavy = ms_per_query(one_term(float(round(repeats_per_query))), args.repeats, args.warmup, n)
    light = ms_per_query(one_term(1.0), args.repeats, args.warmup, n)
    rows[f"repeats: one term x {repeats_per_query:.0f} minus x 1"] = heavy - light

    # 3. PyTerrier's PisaRetrieve over the same index folder (pt_meta.json makes it a PisaIndex)
    import pyterrier_pisa

    index = pyterrier_pisa.PisaIndex(str(Path(args.index) / PISA_DIR), stemmer="none",
                                     index_encoding=engine.manifest["params"]["encoding"])
    frame = pd.DataFrame({"qid": qids, "query_toks": int_queries})
    frame = frame[[bool(q) for q in int_queries]].reset_index(drop=True)

    def retriever(toks_scale):
        return index.quantized(num_results=k, threads=1, query_algorithm=args.algorithm, toks_scale=toks_scale)

    retrieve1 = retriever(1.0)
    got = retrieve1.transform(frame)
    want = {q: ids for q, ids in zip(qids, reference.doc_ids)}
    for qid, group in got.groupby("qid", sort=False):
        assert group.sort_values("rank")["docno"].tolist() == want[qid], f"PyTerrier's top-{k} differs for {qid}"
    rows["pyterrier batch (toks_scale=1)"] = ms_per_query(lambda: retrieve1.transform(frame), args.repeats,
                                                       args.warmup, n)
    singles = [frame.iloc[[i]] for i in range(len(frame))]
    rows["pyterrier one query per call (toks_scale=1)"] = ms_per_query(
        lambda: [retrieve1.transform(one) for one in singles], args.repeats, args.warmup, n)
    if not args.skip_scale_100:
        retrieve100 = retriever(100.0)
        rows["pyterrier batch, default toks_scale=100"] = ms_per_query(lambda: retrieve100.transform(frame),
                                                                    max(1, args.repeats // 2), 0, n)

    width = max(map(len, rows))
    print(f"{n} queries, k={k}, {args.algorithm}, index {args.index} ({engine.manifest['counts']['docs']} docs); "
          f"mean integer query weight sum (term repeats) {repeats_per_query:.0f}; query_scale / 10 keeps "
          f"{overlap:.3f} of the top {k}")
    for name, ms in rows.items():
        print(f"  {name:<{width}}  {ms:8.3f} ms/query")
    record = {"index": portable(args.index), "queries": portable(args.queries), "k": k, "algorithm": args.algorithm,
              "docs": engine.manifest["counts"]["docs"], "n_queries": n, "repeats": args.repeats,
              "warmup": args.warmup, "mean_term_repeats": repeats_per_query, "coarse_top_k_overlap": overlap,
              "ms_per_query": rows}
    print(f"wrote {portable(writer.json('pisa_wrapper.json', record))}")


if __name__ == "__main__":
    run(main)
