"""``lilsr ablate query-length``: how few query tokens a table needs, chosen on dev, reported on test once.

Each model's static queries are cut to their T highest-weighted tokens (``table:topT``, the per-query cut
of ``encode queries --query-top-k``) for every T of a grid, and searched exactly over the model's documents.
On the tuning split (a dev split or a qrels file, never the evaluation split) the chosen cut is the
smallest T whose nDCG@10 is within ``max_loss`` points of the uncut table; the evaluation split is then
searched once, with the uncut table and the chosen cut side by side. Exact search: effectiveness and query
non-zeros only (at SciFact's size every engine is fast; the 1M study measures the latency, docs/scale.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_file
from ..data.collection import resolve_collection
from ..engines.exact import ExactEngine
from ..engines.search import run_search
from ..errors import LilsrError
from ..evaluation.metrics import evaluate
from ..manifest import write_manifest
from .compression import resolved, tune_collection, tuning_qrels
from .grid import ModelSpec
from .render import Block, write_report
from .workspace import Workspace

DEFAULT_CUTS = (2, 4, 6, 8, 12, 16)


def _measure(ws: Workspace, model: ModelSpec, encoder: str, measure: str) -> dict:
    batch = ws.queries(model, encoder)
    results = run_search(ExactEngine(ws.vectors(model)), batch, k=1000, warmup=0)  # effectiveness only
    value = evaluate(results.as_run(), ws.qrels, [measure]).aggregates[measure]
    return {"encoder": encoder, measure: float(value),
            "query_nnz": float(np.mean([len(v) for v in batch.vectors])) if batch.vectors else 0.0,
            "empty_queries": int(sum(not v for v in batch.vectors))}


def ablate_query_length(models: list[ModelSpec], collection: str, out: str | Path, *, tune_split: str,
                        split: str = "test", cuts=DEFAULT_CUTS, base_encoder: str = "table", max_loss: float = 0.5,
                        measure: str = "nDCG@10", progress: bool = True) -> dict[str, pd.DataFrame]:
    if not models:
        raise LilsrError("give at least one --model")
    if len({m.name for m in models}) != len(models):
        raise LilsrError("model names must be unique")
    if not tune_split or tune_split == split:
        raise LilsrError(f"--tune-split must name a dev split or qrels file other than the evaluation split "
                         f"'{split}': the cut is never chosen on the queries it is reported on")
    if not cuts or any(int(c) < 1 for c in cuts):
        raise LilsrError("--cuts: whole numbers of tokens, each at least 1")
    if not 0 <= max_loss < 100:
        raise LilsrError(f"--max-loss is in nDCG points, in [0, 100), got {max_loss:g}")
    out = Path(out)
    coll = resolve_collection(collection)
    shared = set(coll.qrels(split)) & set(tuning_qrels(coll, tune_split))
    if shared:
        raise LilsrError(f"--tune-split {tune_split} shares {len(shared)} queries with the '{split}' split (e.g. "
                         f"{sorted(shared)[0]}); the cut is never chosen on the queries it is reported on")
    out.mkdir(parents=True, exist_ok=True)
    tune_coll, tune_name = tune_collection(coll, tune_split, out)
    ws = Workspace(out, coll, split, progress=progress)
    tune_ws = Workspace(out / f"tune-{tune_name}", tune_coll, tune_name, progress=progress, artifacts=ws.artifacts)
    models = [resolved(ws, m) for m in models]
    cuts = sorted({int(c) for c in cuts})
    tuning, chosen = [], []
    for model in models:
        full = _measure(tune_ws, model, base_encoder, measure)
        rows = [full] + [_measure(tune_ws, model, f"{base_encoder}:top{t}", measure) for t in cuts]
        for row, t in zip(rows, [None, *cuts]):
            row.update(model=model.name, cut=t, split=tune_name,
                       delta_points=round(100 * (row[measure] - full[measure]), 3))
        tuning += rows
        within = [r for r in rows[1:] if r["delta_points"] >= -max_loss]
        pick = min(within, key=lambda r: r["cut"]) if within else full
        test_full = _measure(ws, model, base_encoder, measure)
        test_pick = _measure(ws, model, pick["encoder"], measure) if pick is not full else dict(test_full)
        chosen.append({"model": model.name, "chosen_cut": pick["cut"], f"tune {measure} full": full[measure],
                       f"tune {measure} cut": pick[measure], "tune query_nnz full": full["query_nnz"],
                       "tune query_nnz cut": pick["query_nnz"], f"test {measure} full": test_full[measure],
                       f"test {measure} cut": test_pick[measure], "test query_nnz full": test_full["query_nnz"],
                       "test query_nnz cut": test_pick["query_nnz"],
                       "test delta points": round(100 * (test_pick[measure] - test_full[measure]), 3)})
    tuning = pd.DataFrame(tuning)[["model", "split", "cut", "encoder", "query_nnz", measure, "delta_points",
                                   "empty_queries"]]
    chosen = pd.DataFrame(chosen)
    with atomic_file(out / "query_length.csv") as handle:
        tuning.to_csv(handle, index=False)
    with atomic_file(out / "chosen.csv") as handle:
        chosen.to_csv(handle, index=False)
    blocks = [Block("h1", f"lilsr ablate query-length on {collection}"),
              Block("text", f"Each query keeps its T highest-weighted {base_encoder} tokens; exact search over the "
                            f"model's documents. The cut is chosen on {tune_name} (the smallest T within "
                            f"{max_loss:g} {measure} points of the uncut table); {split} is evaluated once, "
                            "with the uncut table and the chosen cut."),
              Block("h2", f"Chosen on {tune_name}, reported on {split}"), Block("table", chosen),
              Block("h2", f"Every cut on {tune_name}"), Block("table", tuning)]
    write_report(blocks, out, f"lilsr ablate query-length: {collection}")
    write_manifest(out, "lilsr.ablate-query-length",
                   params={"models": [vars(m) for m in models], "collection": collection, "split": split,
                           "tune_split": tune_split, "cuts": cuts, "encoder": base_encoder, "max_loss": max_loss,
                           "measure": measure},
                   counts={"models": len(models), "cuts": len(cuts)})
    return {"tuning": tuning, "chosen": chosen}
