"""Ablations: the lambda sweep through both engines, and static vs contextual query encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_file
from ..engines.exact import ExactEngine
from ..errors import LilsrError
from ..engines.search import run_search
from ..evaluation.metrics import evaluate
from ..manifest import write_manifest
from . import plots
from .compare import compare, effectiveness_table, environment_line
from .grid import EngineSpec, Grid, ModelSpec
from .render import Block, write_report
from .workspace import Workspace


# -- lambda ----------------------------------------------------------------------------------------------------

@dataclass
class LambdaModel:
    spec: ModelSpec
    lambda_d: float | None


def trained_lambda(spec: ModelSpec) -> float | None:
    """lambda_d of a checkpoint made by ``lilsr train``: its run folder (the checkpoint's parent, or the
    checkpoint itself when given the run folder) holds the training ``config.json``."""
    if not spec.checkpoint:
        return None
    folder = Path(spec.checkpoint)
    for candidate in (folder / "config.json", folder.parent / "config.json"):
        try:
            value = json.loads(candidate.read_text()).get("lambda_d")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)):
            return float(value)
    return None


def ablate_lambda(models: list[LambdaModel], collection: str | list[str], out: str | Path, *, split: str = "test",
                  engines: tuple[str, ...] = ("lucene", "native"), encoder: str = "table", k: int = 1000,
                  threads: int = 1, progress: bool = True) -> pd.DataFrame:
    """Each model (one per lambda) through each engine with the same query encoder; one table, one plot per
    collection (several collections: ``collection`` a list, a BEIR-style table in the compare report)."""
    from .compare import training_overlap_table

    out = Path(out)
    collections = [collection] if isinstance(collection, str) else list(collection)
    grid = Grid(collection=collections[0], collections=collections if len(collections) > 1 else [], split=split,
                k=k, threads=threads, models=[m.spec for m in models], encoders=[encoder],
                engines=[EngineSpec(e) for e in engines])
    result = compare(grid, out, progress=progress)
    lambdas = {m.spec.name: m.lambda_d if m.lambda_d is not None else trained_lambda(m.spec) for m in models}
    frame = result.frame[result.frame["status"] == "ok"].copy()
    if "collection" not in frame:
        frame["collection"] = collections[0]
    frame["lambda_d"] = frame["model"].map(lambdas)
    frame["index_MB"] = frame["index_bytes"].astype(float) / 1e6
    columns = ["collection", "model", "lambda_d", "engine", "mean_doc_nnz", "mean_query_nnz", grid.measures[0],
               "R@1000", "accuracy@10", "retrieval_mean_ms", "retrieval_p50_ms", "retrieval_p99_ms", "index_MB",
               "postings"]
    table = frame[[c for c in columns if c in frame.columns]].sort_values(["collection", "engine", "mean_doc_nnz"])
    if len(collections) == 1:
        table = table.drop(columns=["collection"])
    with atomic_file(out / "lambda.csv") as handle:
        table.to_csv(handle, index=False)
    title = ", ".join(collections)
    blocks = [Block("h1", f"lilsr ablate lambda: {title} ({split})"),
              Block("text", environment_line(grid.for_target(*grid.targets()[0]))),
              Block("h2", "Per model and engine"),
              Block("table", table.assign(lambda_d=table["lambda_d"].map(lambda v: "" if pd.isna(v) else f"{v:g}")),
                    f"One model per lambda_d, query encoder '{encoder}'. Does the effectiveness "
                    "gained by denser documents survive each engine's latency? (Latency: "
                    "p50 is robust to the odd garbage-collection pause that moves a mean.)")]
    groups = frame.groupby("collection", sort=False) if len(collections) > 1 else [(collections[0], frame)]
    for name, group in groups:
        part = group.sort_values(["engine", "mean_doc_nnz"])
        slug = "".join(c if c.isalnum() else "_" for c in str(name))
        figure = plots.lines(part, "mean_doc_nnz", [grid.measures[0], "retrieval_p50_ms", "index_MB"], "engine",
                             out / "figures" / ("lambda.png" if len(collections) == 1 else f"lambda-{slug}.png"),
                             f"Relaxing lambda_d ({name}): denser documents through each engine",
                             ylog=[False, True, False])
        blocks.append(Block("image", figure, f"{name}: effectiveness, latency and index size against mean "
                                             "document non-zeros."))
    for collection_name, split_name in grid.targets():
        from ..data.collection import resolve_collection

        ws = Workspace(out, resolve_collection(collection_name), split_name, progress=False)
        overlap = training_overlap_table(grid.for_target(collection_name, split_name), ws)
        if not overlap.empty:
            blocks += [Block("h2", f"Training overlap with {collection_name}:{split_name}"), Block("table", overlap)]
    if len(collections) == 1:
        blocks += [Block("h2", "All cells"), Block("table", effectiveness_table(result.frame, grid.measures))]
    else:
        from .compare import beir_table

        frames = {name: group for name, group in result.frame.groupby("collection", sort=False)}
        blocks += [Block("h2", f"All collections ({grid.measures[0]})"),
                   Block("table", beir_table(frames, grid.measures[0]), "BEIR-style: rows systems, columns "
                                                                       "collections and their mean; ▲/▼ per "
                                                                       "collection against its baseline."),
                   Block("text", "Every cell of each collection: the sub-folders' report.html.")]
    write_report(blocks, out, f"lilsr ablate lambda: {title}")
    write_manifest(out, "lilsr.ablate-lambda", params={**grid.as_dict(), "lambdas": lambdas},
                   counts={"models": len(models), "cells": len(result.frame)})
    return table


# -- context ---------------------------------------------------------------------------------------------------

def ablate_context(model: ModelSpec, collection: str, out: str | Path, *, split: str = "test", top: int = 15,
                   measure: str = "nDCG@10", progress: bool = True) -> dict[str, pd.DataFrame]:
    """Static (table) vs contextual query encoding of the same model, per query and per token (exact engine)."""
    from ..data.collection import resolve_collection

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(out, resolve_collection(collection), split, progress=progress)
    engine = ExactEngine(ws.vectors(model))
    per_query, texts = {}, dict(zip(ws.text_queries.qids, ws.text_queries.texts))
    batches = {}
    for encoder in ("table", "contextual"):
        batches[encoder] = ws.queries(model, encoder)
        results = run_search(engine, batches[encoder], k=1000)
        per_query[encoder] = evaluate(results.as_run(), ws.qrels, [measure]).per_query
    qids = [q for q in ws.text_queries.qids if q in per_query["table"]]
    queries = pd.DataFrame({"qid": qids, "query": [texts[q] for q in qids],
                            "static": [per_query["table"][q][measure] for q in qids],
                            "contextual": [per_query["contextual"][q][measure] for q in qids]})
    queries["delta"] = queries["static"] - queries["contextual"]
    losses = queries.sort_values("delta").head(top)
    gains = queries.sort_values("delta", ascending=False).head(top)
    tokens = token_disagreement(batches["table"].vectors, batches["contextual"].vectors,
                                batches["table"].qids, texts)
    by_gap = tokens.sort_values("mean_abs_gap", ascending=False).head(top)
    polysemy = polysemy_candidates(tokens, top)
    summary = pd.DataFrame([{"encoder": name, measure: queries[name].mean(),
                             "queries better than the other": int((queries["delta"] > 0).sum() if name == "static"
                                                                  else (queries["delta"] < 0).sum())}
                            for name in ("static", "contextual")])
    with atomic_file(out / "context_queries.csv") as handle:
        queries.to_csv(handle, index=False)
    with atomic_file(out / "context_tokens.csv") as handle:
        tokens.to_csv(handle, index=False)
    blocks = [Block("h1", f"lilsr ablate context: {model.name} on {collection} ({split})"),
              Block("text", "Exact search over the same document vectors; only the query side changes: the "
                            "Li-LSR table (static, one weight per token) or the model's contextual SPLADE "
                            "query encoder."),
              Block("table", summary),
              Block("h2", f"Queries where the static table loses most ({measure})"), Block("table", losses),
              Block("h2", f"Queries where the static table gains most ({measure})"), Block("table", gains),
              Block("h2", "Tokens whose static weight differs most from their contextual weights"),
              Block("table", by_gap, "mean_abs_gap: mean over the queries holding the token of |static weight - "
                                     "contextual weight| (contextual weight 0 when the encoder drops the token)."),
              Block("h2", "Polysemy candidates"),
              Block("table", polysemy, "Tokens (in 3+ queries) whose contextual weight varies most across queries "
                                       "(standard deviation; cv = std / mean; kept = share of those queries in "
                                       "which the contextual encoder keeps the token): one static weight cannot "
                                       "fit them all.")]
    from ..training.heldout import training_overlap

    try:
        overlap = training_overlap(ws.checkpoint(model), ws.collection, split)
    except LilsrError:
        overlap = None
    if overlap is not None:
        blocks += [Block("h2", "Training overlap"),
                   Block("table", pd.DataFrame([{"model": model.name, **overlap}]),
                         f"Documents judged in {collection}:{split} that training used (0 unless allowed).")]
    write_report(blocks, out, f"lilsr ablate context: {model.name}")
    write_manifest(out, "lilsr.ablate-context", params={"model": vars(model), "collection": collection,
                                                        "split": split, "measure": measure},
                   counts={"queries": len(queries), "tokens": len(tokens)})
    return {"queries": queries, "losses": losses, "gains": gains, "tokens": tokens, "polysemy": polysemy}


def polysemy_candidates(tokens: pd.DataFrame, top: int = 15, min_queries: int = 3) -> pd.DataFrame:
    """Tokens whose contextual weights spread most across the queries holding them. The spread is what no
    single static weight can fit (the best one is their mean); tokens the contextual encoder always drops
    have none."""
    eligible = tokens[(tokens["queries"] >= min_queries) & (tokens["contextual_mean"] > 0)]
    return eligible.sort_values(["contextual_std", "contextual_cv"], ascending=False).head(top)


def token_disagreement(static: list[dict], contextual: list[dict], qids: list[str], texts: dict) -> pd.DataFrame:
    """Per token of the static query vectors: its static weight against its contextual weights across queries."""
    rows: dict[str, dict] = {}
    for qid, s_vec, c_vec in zip(qids, static, contextual):
        for token, weight in s_vec.items():
            row = rows.setdefault(token, {"token": token, "static_weights": [], "contextual": [], "example": qid})
            row["static_weights"].append(weight)
            row["contextual"].append(c_vec.get(token, 0.0))
    records = []
    for token, row in rows.items():
        s = np.asarray(row["static_weights"])
        c = np.asarray(row["contextual"])
        mean_c = float(c.mean())
        records.append({"token": token, "queries": len(c), "static_weight": float(s.mean()),
                        "contextual_mean": mean_c, "contextual_std": float(c.std()),
                        "contextual_cv": float(c.std() / mean_c) if mean_c > 0 else float("nan"),
                        "contextual_kept": float((c > 0).mean()),
                        "mean_abs_gap": float(np.abs(s - c).mean()),
                        "example_query": texts.get(row["example"], "")[:80]})
    return pd.DataFrame(records)
