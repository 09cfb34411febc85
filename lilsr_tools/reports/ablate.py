"""Ablations: the lambda sweep through both engines, and static vs contextual query encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_file
from ..engines.exact import ExactEngine
from ..engines.search import run_search
from ..data.collection import resolve_collection
from ..errors import LilsrError
from ..evaluation.metrics import evaluate
from ..manifest import write_manifest
from . import plots
from .compare import compare, coverage_blocks, effectiveness_table, environment_line
from .findings import density_findings
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
                  threads: int = 1, progress: bool = True, docs: int | None = None, synth: dict | None = None,
                  repeat: int = 1, tune_split: str | None = None, accuracy_target: float = 0.95,
                  skipped: dict[str, str] | None = None, partial: bool = False,
                  builds: dict[str, dict] | None = None, tune_queries: int | None = None) -> pd.DataFrame:
    """Each model (one per lambda) through each engine with the same query encoder; one table, one plot.

    With ``docs``, each model's vectors of ``collection`` are grown to that many synthetic documents
    (``vectors.synth``) and every engine indexes those (builds measured in a child process: seconds, peak
    memory); the real queries are searched at k=10 and k=1000, and accuracy@10 and accuracy@k (at the row's
    k) are measured against exact search over the same synthetic vectors (there are no judgments to measure
    effectiveness with).
    ``tune_split`` (with ``docs``): approximate engines first run every setting of their tuning grid on that
    split's queries (a dev side: never the evaluation split), at k=10 and at k=1000 separately, and each
    model is then measured at each k with the fastest setting reaching accuracy@k >= ``accuracy_target``
    there (or the most accurate, when none does; ``tune_settings``).
    Several collections (``collection`` a list): one table and plot per collection and a BEIR-style table
    (not with ``docs``). ``partial``: accept vector stores lacking some of the corpus (coverage recorded).
    ``builds``: build parameters per engine name (e.g. a peer's published configuration), the same for
    every model; ``synth={"reorder": "bp", ...}`` reorders each grown store before any engine builds on it.
    ``tune_queries``: tune on a seeded sample of that many of ``tune_split``'s queries (recorded)."""
    if not isinstance(collection, str):
        collections = list(collection)
        if len(collections) > 1:
            if docs is not None or tune_split:
                raise LilsrError("--docs and --tune-split take one --collection")
            return _ablate_lambda_collections(models, collections, out, split=split, engines=engines,
                                              encoder=encoder, k=k, threads=threads, progress=progress,
                                              partial=partial)
        collection = collections[0]
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    lambdas = {m.spec.name: m.lambda_d if m.lambda_d is not None else trained_lambda(m.spec) for m in models}
    builds = dict(builds or {})
    base = dict(collection=collection, split=split, threads=threads, models=[m.spec for m in models],
                encoders=[encoder], engines=[EngineSpec(e, dict(builds.get(e, {}))) for e in engines], repeat=repeat,
                partial=partial)
    coverage = {}
    if docs is None:
        grid = Grid(k=k, **base)
        result = compare(grid, out, progress=progress)
        frame = result.frame[result.frame["status"] == "ok"].copy()
        failed = result.frame[result.frame["status"] != "ok"]
        all_cells = effectiveness_table(result.frame, grid.measures)
        coverage = result.workspace.coverage
    else:
        synth = dict(synth or {})
        grid = Grid(k=10, docs=docs, synth=synth, **base)
        chosen, tuned = {}, None
        if tune_split:  # tuned separately per k: at k=1000 the target is accuracy@1000 against exact top-1000
            resolve_collection(collection).qrels(tune_split)  # a missing split fails here, before any work
            tables = []
            for k_ in (10, 1000):
                chosen_k, table_k = tune_settings(
                    Grid(k=k_, docs=docs, synth=synth, query_sample=tune_queries, **{**base, "split": tune_split}),
                    out / "tune" / f"k{k_}",
                    out / "artifacts", accuracy_target, progress)
                chosen.update({(m, e, k_): setting for (m, e), setting in chosen_k.items()})
                tables.append(table_k)
            tuned = pd.concat(tables, ignore_index=True)
        frames = []
        for k_ in (10, 1000):
            settings: dict[str, list[dict]] = {}
            for (_, engine, at_k), setting in chosen.items():
                if at_k == k_ and setting not in settings.setdefault(engine, []):
                    settings[engine].append(setting)
            engines_k = ([EngineSpec(e, dict(builds.get(e, {})), tuple(settings.get(e, [{}]))) for e in engines]
                         if chosen else base["engines"])
            result = compare(Grid(k=k_, docs=docs, synth=synth, **{**base, "engines": engines_k}), out / f"k{k_}",
                             progress=progress, artifacts=out / "artifacts")
            frames.append(result.frame.assign(k=k_))
        merged = pd.concat(frames, ignore_index=True)
        if chosen:  # each model keeps its own engine setting at each k (the union ran for every model)
            keys = list(zip(merged["model"], merged["engine"], merged["k"]))
            mine = [chosen.get(key) is None or s == search_label(chosen[key]) for key, s in zip(keys, merged["search"])]
            merged = merged[mine]
            keys = list(zip(merged["model"], merged["engine"], merged["k"]))
            dev = tuned.set_index(["model", "engine", "k"]) if not tuned.empty else None
            merged = merged.assign(**{
                "dev_accuracy@k": [dev["accuracy@k"].get(key) if dev is not None else None for key in keys],
                "dev_p50_ms": [dev["retrieval_p50_ms"].get(key) if dev is not None else None for key in keys]})
        frame = merged[merged["status"] == "ok"].copy()
        failed = merged[merged["status"] != "ok"]
        all_cells = tuned
    frame["lambda_d"] = frame["model"].map(lambdas)
    frame["index_MB"] = frame["index_bytes"].astype(float) / 1e6
    if docs is None:
        columns = ["model", "lambda_d", "engine", "mean_doc_nnz", "mean_query_nnz", grid.measures[0], "R@1000",
                   "accuracy@10", "retrieval_mean_ms", "retrieval_p50_ms", "retrieval_p99_ms", "index_MB", "postings"]
        table = frame[[c for c in columns if c in frame.columns]].sort_values(["engine", "mean_doc_nnz"])
        figure = plots.lines(table, "mean_doc_nnz", [grid.measures[0], "retrieval_p50_ms", "index_MB"], "engine",
                             out / "figures" / "lambda.png",
                             "Relaxing lambda_d: denser documents through each engine", ylog=[False, True, False])
        caption = "Effectiveness, latency and index size against mean document non-zeros."
    else:
        columns = ["model", "lambda_d", "engine", "k", "search", "mean_doc_nnz", "mean_query_nnz", "accuracy@10",
                   "accuracy@k", "dev_accuracy@k", "retrieval_mean_ms", "retrieval_p50_ms", "retrieval_p99_ms",
                   "engine_clock_p50_ms", "index_MB", "postings", "build_s", "build_peak_rss_GiB",
                   "build_peak_tree_rss_GiB"]
        table = frame[[c for c in columns if c in frame.columns]].sort_values(["k", "engine", "mean_doc_nnz"])
        table = table.assign(**{"engine / k": table["engine"] + " k=" + table["k"].astype(str)})
        figure = plots.lines(table, "mean_doc_nnz", ["retrieval_p50_ms", "index_MB", "build_s"], "engine / k",
                             out / "figures" / "lambda.png",
                             f"Relaxing lambda_d at {docs:,} documents: p50 latency, index size, build time",
                             ylog=[True, True, True])
        table = table.drop(columns=["engine / k"])
        caption = (f"Latency (p50, call clock), index size and build time against mean document non-zeros, "
                   f"{docs:,} synthetic documents per model, one line per engine and k.")
    with atomic_file(out / "lambda.csv") as handle:
        table.to_csv(handle, index=False)
    where = f"{collection} ({split})" + (f", grown to {docs:,} synthetic documents" if docs else "")
    blocks = [Block("h1", f"lilsr ablate lambda: {where}")]
    # with synthetic documents: no judgments, and the k=10 rows (each model at its own tuned setting)
    sentences = (density_findings(frame, grid.measures[0], lambdas) if docs is None else
                 density_findings(frame[frame["k"] == 10], None, lambdas, one_setting=False))
    if sentences:
        blocks += [Block("h2", "Findings"),
                   Block("list", sentences + ([f"Latency at k=10 over {docs:,} synthetic documents."] if docs else []))]
    blocks += [*(coverage_blocks(result.workspace) if docs is None else []),
               Block("h2", "Per model and engine"),
               Block("table", table.assign(lambda_d=table["lambda_d"].map(lambda v: "" if pd.isna(v) else f"{v:g}")),
                     f"One model per lambda_d, query encoder '{encoder}'. Does the effectiveness "
                     "gained by denser documents survive each engine's latency? (Latency: "
                     "p50 is robust to the odd garbage-collection pause that moves a mean.)"
                     + (" accuracy@10 is against exact search over the same synthetic vectors; build "
                        "peak RSS: the largest process (Python or the JVM), tree: all together." if docs else "")),
               Block("image", figure, caption)]
    if all_cells is not None and docs is None:
        blocks += [Block("h2", "All cells"), Block("table", all_cells)]
    elif all_cells is not None:
        blocks += [Block("h2", f"Settings chosen on the '{tune_split}' queries"),
                   Block("table", all_cells, f"Per model, approximate engine and k: the fastest setting of its "
                                             f"tuning grid reaching accuracy@k >= {accuracy_target} against exact "
                                             f"top-k on {tune_split} queries (ties at the k-th exact score count; "
                                             f"p50 of per-query medians of {TUNING_REPEATS}+ repeats; a choice on "
                                             "a grid edge got one more round one step past it: grid_widened); "
                                             "the rows above measure it on the evaluation split.")]
    if not failed.empty:
        blocks += [Block("h2", "Failed cells"), Block("table", failed[["cell", "error"]])]
    if skipped:
        blocks += [Block("h2", "Engines not run"),
                   Block("table", pd.DataFrame([{"engine": e, "why": why} for e, why in skipped.items()]))]
    blocks += [Block("h2", "Machine and protocol"), Block("text", environment_line(grid))]
    if docs is None:
        from .compare import training_overlap_table

        overlap = training_overlap_table(grid, Workspace(out, resolve_collection(collection), split, progress=False))
        if not overlap.empty:
            blocks += [Block("h2", f"Training overlap with {collection}:{split}"), Block("table", overlap)]
    write_report(blocks, out, f"lilsr ablate lambda: {collection}")
    write_manifest(out, "lilsr.ablate-lambda", params={**grid.as_dict(), "lambdas": lambdas, "skipped": skipped or {}},
                   counts={"models": len(models), "rows": len(table), "failed": len(failed)},
                   coverage={name: c.as_dict() for name, c in coverage.items()})
    return table


def _ablate_lambda_collections(models: list[LambdaModel], collection: list[str], out: str | Path, *,
                               split: str, engines: tuple[str, ...], encoder: str, k: int, threads: int,
                               progress: bool = True, partial: bool = False) -> pd.DataFrame:
    """Each model (one per lambda) through each engine with the same query encoder; one table, one plot per
    collection (several collections: ``collection`` a list, a BEIR-style table in the compare report)."""
    from .compare import training_overlap_table

    out = Path(out)
    collections = [collection] if isinstance(collection, str) else list(collection)
    grid = Grid(collection=collections[0], collections=collections if len(collections) > 1 else [], split=split,
                k=k, threads=threads, models=[m.spec for m in models], encoders=[encoder],
                engines=[EngineSpec(e) for e in engines], partial=partial)
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
    blocks = [Block("h1", f"lilsr ablate lambda: {title} ({split})")]
    sentences = []
    groups = frame.groupby("collection", sort=False) if len(collections) > 1 else [(collections[0], frame)]
    for name, group in groups:
        found = density_findings(group, grid.measures[0], lambdas)
        sentences += [f"{name}: {s}" if len(collections) > 1 else s for s in found]
    if sentences:
        blocks += [Block("h2", "Findings"), Block("list", sentences)]
    blocks += [Block("h2", "Per model and engine"),
               Block("table", table.assign(lambda_d=table["lambda_d"].map(lambda v: "" if pd.isna(v) else f"{v:g}")),
                     f"One model per lambda_d, query encoder '{encoder}'. Does the effectiveness "
                     "gained by denser documents survive each engine's latency? (Latency: "
                     "p50 is robust to the odd garbage-collection pause that moves a mean.)")]
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
    blocks += [Block("h2", "Machine and protocol"), Block("text", environment_line(grid.for_target(*grid.targets()[0])))]
    write_report(blocks, out, f"lilsr ablate lambda: {title}")
    write_manifest(out, "lilsr.ablate-lambda", params={**grid.as_dict(), "lambdas": lambdas},
                   counts={"models": len(models), "cells": len(result.frame)})
    return table


def engines_at_scale(docs: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """Every vector engine for a study at ``docs`` documents, less those whose ``scale_limit`` (documents,
    reason) says they cannot build or search that many here: (engines, {skipped engine: reason})."""
    from ..engines import ENGINES, get_engine

    engines, skipped = [], {}
    for name in ENGINES:
        if name == "bm25":
            continue  # searches text: there is no synthetic text to grow
        try:
            limit = getattr(get_engine(name), "scale_limit", None)
        except LilsrError as exc:
            skipped[name] = str(exc)
            continue
        if limit and docs > limit[0]:
            skipped[name] = f"above {limit[0]:,} documents: {limit[1]}"
        else:
            engines.append(name)
    return tuple(engines), skipped


def search_label(setting: dict) -> str:
    from .table import _params

    return _params(setting)


TUNING_REPEATS = 3  # each candidate setting: every query timed 3 times, its median kept


def tune_settings(grid: Grid, out: Path, artifacts: Path, target: float, progress: bool):
    """Run each approximate engine's tuning grid on ``grid``'s split at ``grid.k``; per (model, engine) the
    fastest setting (p50 of per-query medians of >= 3 repeats) reaching accuracy@k >= ``target`` against
    exact top-k (tie-aware), else the most accurate. A choice on an edge of its grid gets one more round
    with the grid widened one step past that edge (``tuning.widen``). Returns (chosen settings, a frame of
    the choices)."""
    from ..engines import get_engine
    from ..engines.base import tuning_bounds, tuning_grid
    from .tuning import pick, widen

    approximate = [EngineSpec(e.name, e.build, tuning_grid(get_engine(e.name))) for e in grid.engines
                   if tuning_grid(get_engine(e.name))]
    if not approximate:
        return {}, pd.DataFrame()
    repeat = max(TUNING_REPEATS, grid.repeat)
    result = compare(Grid(**{**vars(grid), "engines": approximate, "repeat": repeat}), out, progress=progress,
                     artifacts=artifacts)
    groups = _group_ok(result.records)
    choices = {key: pick([_candidate(r, grid.k) for r in cells], target) for key, cells in groups.items()}
    wider: dict[str, list[dict]] = {}
    for (model, engine), (choice, _) in choices.items():
        tried = [dict(r["search"]) for r in groups[(model, engine)]]
        for setting in widen(tried, choice["setting"], tuning_bounds(get_engine(engine))):
            if setting not in wider.setdefault(engine, []):
                wider[engine].append(setting)
    widened = {engine for engine, settings in wider.items() if settings}
    if widened:
        engines = [EngineSpec(e.name, e.build, tuple(wider[e.name])) for e in approximate if e.name in widened]
        more = compare(Grid(**{**vars(grid), "engines": engines, "repeat": repeat}), out.parent / f"{out.name}-widened",
                       progress=progress, artifacts=artifacts)
        for key, cells in _group_ok(more.records).items():
            groups[key] = groups.get(key, []) + cells
            choices[key] = pick([_candidate(r, grid.k) for r in groups[key]], target)
    chosen, rows = {}, []
    for (model, engine), (choice, reaches) in choices.items():
        chosen[(model, engine)] = dict(choice["setting"])
        rows.append({"model": model, "engine": engine, "k": grid.k, "setting": search_label(choice["setting"]),
                     "accuracy@k": choice["accuracy"], "retrieval_p50_ms": choice["latency_ms"],
                     "reaches_target": reaches, "settings_tried": len(groups[(model, engine)]),
                     "grid_widened": engine in widened})
    return chosen, pd.DataFrame(rows)


def _candidate(record: dict, k: int) -> dict:
    """A measured cell as a tuning candidate: its setting, accuracy at its own k and p50 latency."""
    accuracy = record.get("accuracy@k")
    if accuracy is None:  # a cell measured before accuracy@k was recorded: its accuracy@10 only fits k=10
        accuracy = record.get("accuracy@10", 0.0) if k == 10 else 0.0
    return {"setting": dict(record["search"]), "accuracy": accuracy,
            "latency_ms": record["latency"]["retrieval"]["p50_ms"]}


def _group_ok(records: list[dict]) -> dict:
    groups: dict = {}
    for r in records:
        if r["status"] == "ok":
            groups.setdefault((r["model"], r["engine"]), []).append(r)
    return groups


# -- context ---------------------------------------------------------------------------------------------------

def ablate_context(model: ModelSpec, collection: str, out: str | Path, *, split: str = "test", top: int = 15,
                   measure: str = "nDCG@10", progress: bool = True, partial: bool = False) -> dict[str, pd.DataFrame]:
    """Static (table) vs contextual query encoding of the same model, per query and per token (exact engine).
    ``partial``: accept a vector store lacking some of the corpus (coverage recorded)."""
    from ..data.collection import resolve_collection

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(out, resolve_collection(collection), split, progress=progress, partial=partial)
    engine = ExactEngine(ws.vectors(model))
    per_query, texts = {}, dict(zip(ws.text_queries.qids, ws.text_queries.texts))
    batches = {}
    for encoder in ("table", "contextual"):
        batches[encoder] = ws.queries(model, encoder)
        results = run_search(engine, batches[encoder], k=1000, warmup=0)  # effectiveness only
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
    table = describe_table(ws, model)
    blocks = [Block("h1", f"lilsr ablate context: {model.name} on {collection} ({split})"),
              Block("text", "Exact search over the same document vectors; only the query side changes: the "
                            f"static table ({table}; one weight per token) or the model's contextual SPLADE "
                            f"query encoder ({ws.checkpoint(model)})."),
              *coverage_blocks(ws),
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
                                                        "split": split, "measure": measure, "table": table},
                   counts={"queries": len(queries), "tokens": len(tokens)},
                   coverage={name: c.as_dict() for name, c in ws.coverage.items()})
    return {"queries": queries, "losses": losses, "gains": gains, "tokens": tokens, "polysemy": polysemy,
            "table": table, "coverage": ws.coverage_notes()}


def describe_table(ws: Workspace, model: ModelSpec) -> str:
    """Which table the static side used, in words: given, the checkpoint's trained head, or idf."""
    path = ws.table(model)
    try:
        shown = path.relative_to(ws.root)
    except ValueError:
        shown = path
    source = ws.table_source(model)
    what = {"given": "the given table", "head": f"the Li-LSR head of {ws.checkpoint(model)}",
            "idf": f"BM25 text idf over {ws.collection.name}'s corpus (the checkpoint has no trained Li-LSR head)",
            "untrained": "an untrained head"}.get(source, f"a '{source}' table")
    return f"{what}, {shown}"


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
