"""Could a large-k planner beat brute force? The accuracy ceiling of the two term-at-a-time planners
issue 20 proposes for k=1000, measured before writing either into the kernel.

Both accumulate partial scores term at a time over the lists of the query's ``query_cut`` heaviest terms,
keep the ``rescore x k`` best partial scores as candidates and score those exactly (so results carry exact
scores; only the candidate set is approximate):

- ``pruned``: over the native index's pruned posting lists (what the index holds), with each posting's
  exact weight (an upper bound of what 8-bit posting codes would give);
- ``full``: over the complete lists (a second, full inverted index), the exact engine's work cut to the
  heaviest terms.

For each planner, k, query_cut and rescore: accuracy@k against exact search (tie-aware: a document scoring
at least the exact k-th score is a hit) and the postings read as a share of exact search's (all the
query's full lists). Numbers here are counts and accuracies, not times: a planner that needs most of exact
search's postings, or tens of times k rescored from the forward index (random rows, ~80 ns each at 1M),
cannot run in half of brute force's time. numpy/scipy only (no engine is timed).

    .venv/bin/python benchmarks/native_planner.py \\
        --store benchmarks/work/scale-big/lambda-1000000/artifacts/reordered/big-1000000-... \\
        --index benchmarks/work/scale-big/native-published/artifacts/indexes/big-native-... \\
        --queries benchmarks/work/scale-big/lambda-1000000/artifacts/queries/big-table-... --label big-1000k

Writes ``benchmarks/work/results/native_planner-LABEL.csv`` and ``.json`` (``--update-results``:
benchmarks/results/). Use train queries (the scale study's tuning sample): this chooses a design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common import portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser
from result_files import ResultWriter

QUERY_CUTS = (3, 5, 8, 12, 20)
RESCORES = (1, 2, 5, 10, 20, 50)


def parse_args(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--store", required=True, help="the vector store the index was built from")
    parser.add_argument("--index", required=True, help="a native index folder over that store")
    parser.add_argument("--queries", required=True, help="encoded queries (train: this chooses a design)")
    parser.add_argument("-k", type=at_least(1), nargs="+", default=[10, 1000],
                        help="results per query (default: 10 1000)")
    parser.add_argument("--label", default="run", help="name of the results files (native_planner-LABEL.*)")
    return parser.parse_args(argv)


def pruned_lists(index) -> tuple[np.ndarray, np.ndarray]:
    """(per term: where its pruned postings start and end, as an int64 [vocab + 1] pointer; the doc ids)."""
    a = index.arrays
    return a.block_ptr[a.list_block_ptr], np.asarray(a.postings)


def planner_rows(csr, csc, lists_ptr, lists_docs, query_ids, query_weights, ks) -> list[dict]:
    """One row per (planner, query_cut, k, rescore, query): the share of exact top-k found and of exact
    search's postings read."""
    rows = []
    full_lengths = np.diff(csc.indptr)
    n_docs = csr.shape[0]
    column = np.zeros(n_docs, np.float32)
    for q, (ids, weights) in enumerate(zip(query_ids, query_weights)):
        dense = np.zeros(csr.shape[1], np.float32)
        dense[ids] = weights
        exact = csr @ dense
        exact_postings = int(full_lengths[ids].sum())
        kth = {k: -np.partition(-exact, min(k, n_docs) - 1)[min(k, n_docs) - 1] for k in ks}
        for cut in QUERY_CUTS:
            heavy = ids[np.argsort(-weights, kind="stable")[:cut]]
            for planner in ("pruned", "full"):
                partial = np.zeros(n_docs, np.float32)
                read = 0
                for t in heavy:
                    docs, values = csc.indices[csc.indptr[t]:csc.indptr[t + 1]], csc.data[csc.indptr[t]:csc.indptr[t + 1]]
                    if planner == "pruned":  # the index's postings of t, each with its exact weight
                        column[docs] = values
                        pruned = lists_docs[lists_ptr[t]:lists_ptr[t + 1]]
                        partial[pruned] += dense[t] * column[pruned]
                        column[docs] = 0.0
                        read += pruned.size
                    else:
                        partial[docs] += dense[t] * values
                        read += docs.size
                for k in ks:
                    k_ = min(k, n_docs)
                    for rescore in RESCORES:
                        n = min(rescore * k_, n_docs)
                        candidates = np.argpartition(-partial, n - 1)[:n]
                        best = candidates[np.argsort(-exact[candidates], kind="stable")[:k_]]
                        rows.append({"planner": planner, "k": k, "query_cut": cut, "rescore": rescore, "query": q,
                                     "hits": int(np.count_nonzero(exact[best] >= kth[k])) / k_,
                                     "postings_share": read / max(exact_postings, 1)})
    return rows


def pareto(table: pd.DataFrame) -> pd.DataFrame:
    """Per planner and k, the rows no other row beats on both postings read and candidates rescored."""
    keep = []
    for _, group in table.groupby(["planner", "k"]):
        for i, row in group.iterrows():
            if not ((group["postings_share"] <= row["postings_share"]) & (group["rescore"] <= row["rescore"])
                    & ((group["postings_share"] < row["postings_share"]) | (group["rescore"] < row["rescore"]))).any():
                keep.append(i)
    return table.loc[keep].sort_values(["planner", "k", "rescore"])


def main(argv=None) -> None:
    args = parse_args(argv)
    from lilsr_tools.engines.native import NativeEngine
    from lilsr_tools.vectors import load_vectors
    from lilsr_tools.vectors.queries import load_encoded_queries

    store = load_vectors(args.store)
    index = NativeEngine.load(args.index)
    if index.ids != list(store.ids):
        from lilsr_tools.errors import LilsrError

        raise LilsrError(f"{args.index}: built over other documents than {args.store}; give the index's own store")
    encoded, _ = load_encoded_queries(args.queries)
    token = {t: i for i, t in enumerate(store.vocab)}
    query_ids, query_weights = [], []
    for vector in encoded.vectors:
        pairs = [(token[t], w) for t, w in vector.items() if t in token and w > 0]
        query_ids.append(np.array([i for i, _ in pairs], np.int64))
        query_weights.append(np.array([w for _, w in pairs], np.float32))
    csr = store.csr
    csc = csr.tocsc()
    csc.sort_indices()
    lists_ptr, lists_docs = pruned_lists(index)
    rows = planner_rows(csr, csc, lists_ptr, lists_docs, query_ids, query_weights, args.k)
    table = (pd.DataFrame(rows).groupby(["planner", "k", "query_cut", "rescore"], as_index=False)
             .agg(accuracy=("hits", "mean"), postings_share=("postings_share", "mean")))
    writer = ResultWriter(args)
    writer.csv(f"native_planner-{args.label}.csv", table.to_dict("records"))
    reaching = pareto(table[table["accuracy"] >= 0.95])
    writer.json(f"native_planner-{args.label}.json", {
        "store": portable(args.store), "index": portable(args.index), "queries": portable(args.queries),
        "n_queries": len(query_ids), "docs": int(csr.shape[0]), "index_params": index.manifest.get("params"),
        "reaching_0.95_pareto": reaching.to_dict(orient="records")})
    with pd.option_context("display.max_rows", 200, "display.width", 140):
        print(table.to_string(index=False))
        print("settings reaching accuracy@k 0.95 that no other beats on both postings read and documents rescored:")
        print(reaching.to_string(index=False))


if __name__ == "__main__":
    run(main)
