"""``lilsr compare``: run every cell of a grid, then write results.csv, runs, report.md and report.html.

The output folder is incremental on purpose: cells and artefacts already computed (keyed by their
inputs) are reused, so a re-run after a crash, or with more cells, only computes what is missing.

With several collections, each gets its own sub-folder (``OUT/<collection>-<split>/``, a complete
single-collection comparison with its significance tests), and ``OUT`` holds the combined
``results.csv`` (a ``collection`` column), a report with one table per collection and a BEIR-style table
(rows: systems; columns: each collection's first measure and their mean; ▲/▼ per collection against that
collection's baseline).
"""

from __future__ import annotations

import json
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..atomic import atomic_file
from ..errors import LilsrError
from ..progress import bar as progress_bar
from ..data.collection import resolve_collection
from ..manifest import write_manifest
from ..vectors.store import posting_lengths, posting_stats
from . import plots
from .cells import run_cell
from .findings import best_system, findings
from .grid import Grid
from .pairs import pairwise_table
from .render import Block, write_report
from .table import results_frame
from .workspace import Workspace

log = logging.getLogger("lilsr.compare")

# after the cell and its measures (the first measure followed by sig and p, the test of it)
MAIN_COLUMNS = ["accuracy@10", "encode_mean_ms", "retrieval_mean_ms", "retrieval_p50_ms", "retrieval_p99_ms",
                "total_mean_ms", "index_MB", "mean_doc_nnz", "mean_query_nnz"]


@dataclass
class Comparison:
    frame: pd.DataFrame
    records: list[dict]
    report_md: Path
    report_html: Path
    workspace: Workspace
    findings: list[str] = field(default_factory=list)  # the report's first section, sentence by sentence


def default_baseline(grid: Grid, records: list[dict]) -> str | None:
    if grid.baseline:
        return grid.baseline
    ok = [r["cell"] for r in records if r["status"] == "ok"]
    return "bm25" if "bm25" in ok else (ok[0] if ok else None)


def run_grid(grid: Grid, out: str | Path, progress: bool = True,
             artifacts: str | Path | None = None, strict_vectors: bool = False) -> tuple[Workspace, list[dict]]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(out, resolve_collection(grid.collection), grid.split, progress=progress, docs=grid.docs,
                   synth=grid.synth, artifacts=artifacts, strict_vectors=strict_vectors, partial=grid.partial,
                   query_sample=grid.query_sample)
    ws.check_coverage(grid.models)  # an incomplete store is refused before any cell runs
    with atomic_file(out / "grid.json") as handle:
        json.dump(grid.as_dict(), handle, indent=1)
    records = []
    cells = grid.cells()
    with progress_bar(cells, desc="cells", unit="cell", progress=progress, delay=0) as bar:
        for cell in bar:
            bar.set_postfix_str(cell.tag)
            record = run_cell(ws, grid, cell)
            if record["status"] != "ok":
                tqdm.write(f"cell {cell.id} failed: {record['error']}")
            records.append(record)
    return ws, records


def compare(grid: Grid, out: str | Path, progress: bool = True, significance: str = "t-test",
            artifacts: str | Path | None = None) -> Comparison:
    """Run ``grid`` into ``out``; ``artifacts`` (default ``out/artifacts``) may be shared between grids."""
    targets = grid.targets()
    if len(targets) > 1:
        if grid.docs:
            raise LilsrError("synthetic documents ('docs') grow one collection's vectors: name one collection")
        return compare_collections(grid, out, progress, significance)
    return compare_one(grid.for_target(*targets[0]), out, progress, significance, artifacts=artifacts)


def compare_one(grid: Grid, out: str | Path, progress: bool = True, significance: str = "t-test",
                strict_vectors: bool = False, artifacts: str | Path | None = None) -> Comparison:
    out = Path(out)
    ws, records = run_grid(grid, out, progress, artifacts, strict_vectors)
    baseline = default_baseline(grid, records)
    frame = results_frame(records, grid.measures, baseline, significance)
    with atomic_file(out / "results.csv") as handle:
        frame.to_csv(handle, index=False)
    pairs = pairwise_table(records, grid.measures[0], baseline, significance)
    with atomic_file(out / "significance.csv") as handle:
        pairs.to_csv(handle, index=False)
    sentences = report_findings(grid, frame, records, baseline, significance, pairs)
    blocks = report_blocks(grid, ws, frame, records, baseline, significance, pairs, sentences)
    md, html = write_report(blocks, out, f"lilsr compare: {grid.collection}")
    ok = sum(r["status"] == "ok" for r in records)
    write_manifest(out, "lilsr.compare", params=grid.as_dict(),
                   counts={"cells": len(records), "ok": ok, "failed": len(records) - ok,
                           "reused": sum(bool(r.get("reused")) for r in records)},
                   baseline=baseline, significance=significance,
                   coverage={name: c.as_dict() for name, c in ws.coverage.items()})
    return Comparison(frame, records, md, html, ws, sentences)


def environment_line(grid: Grid) -> str:
    docs = f"; documents grown to {grid.docs:,} synthetic ones per model" if grid.docs else ""
    return (f"Collection {grid.collection}, split {grid.split}{docs}, k={grid.k}, search threads {grid.threads}; "
            f"machine: {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, load average {_load()}. Retrieval latency is the call clock "
            f"(wall time around one Python call per query, the same boundary for every engine) after "
            f"{grid.warmup} warm-up pass(es), the median of {grid.repeat} repeat(s) per query; engine_clock columns "
            "give the engine's own clock where it has one (inside compiled code for native, inside Java for Lucene).")


def coverage_blocks(ws: Workspace) -> list[Block]:
    """A warning paragraph when a store given with --partial lacks documents of the collection."""
    notes = ws.coverage_notes()
    if not notes:
        return []
    return [Block("text", "Coverage: " + "; ".join(notes) + ". Documents a store lacks are never retrieved: "
                  "its figures count them as misses.")]


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def effectiveness_table(frame: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    ok = frame[frame["status"] == "ok"].copy()
    if ok.empty:
        return ok
    if "index_bytes" in ok:
        ok["index_MB"] = ok["index_bytes"].astype(float) / 1e6
    tested = ["sig", "p_vs_baseline"] if measures else []
    columns = [c for c in ["cell", *measures[:1], *tested, *measures[1:], *MAIN_COLUMNS] if c in ok.columns]
    return ok[columns]


def model_lambdas(grid: Grid) -> dict[str, float | None]:
    """lambda_d of each model trained by ``lilsr train`` (None for others), for the density findings."""
    from .ablate import trained_lambda

    return {model.name: trained_lambda(model) for model in grid.models}


def report_findings(grid: Grid, frame: pd.DataFrame, records: list[dict], baseline: str | None,
                    significance: str, pairs: pd.DataFrame | None) -> list[str]:
    measure = None if grid.docs else grid.measures[0]  # synthetic documents have no judgments
    per_query = {r["cell"]: r.get("per_query") for r in records if r["status"] == "ok"}
    return findings(frame, measure, pairs=pairs, per_query=per_query, baseline=baseline, method=significance,
                    lambdas=model_lambdas(grid))


def report_blocks(grid: Grid, ws: Workspace, frame: pd.DataFrame, records: list[dict], baseline: str | None,
                  significance: str, pairs: pd.DataFrame | None = None,
                  sentences: list[str] | None = None) -> list[Block]:
    figures = ws.root / "figures"
    figures.mkdir(exist_ok=True)
    blocks = [Block("h1", f"lilsr compare: {grid.collection} ({grid.split})")]
    if sentences:
        blocks += [Block("h2", "Findings"), Block("list", sentences)]
    blocks += coverage_blocks(ws)
    table = effectiveness_table(frame, [] if grid.docs else grid.measures)  # synthetic: no judgments
    blocks += [Block("h2", "Effectiveness and latency"),
               Block("table", table, f"sig: ▲/▼ {grid.measures[0]} significantly better/worse than the baseline "
                                     f"'{baseline}' ({significance} over per-query {grid.measures[0]}, p < 0.05; "
                                     "p vs baseline: its p-value). "
                                     "accuracy@10: share of the exact engine's top 10 found (same vectors, "
                                     "same queries). Latency in ms per query; total = encode + retrieve.")]
    if pairs is not None and not pairs.empty:
        first = grid.measures[0]
        shown = pairs.drop(columns=["measure"]).rename(columns={"value": first, "other_value": f"other's {first}"})
        blocks += [Block("h2", "Significance"),
                   Block("table", shown, "Every pair a reader compares: each cell against the baseline, and model "
                                         "against model where engine, query encoder and parameters are the same. "
                                         f"difference = cell - other ({first}); p: two-sided {significance} over "
                                         "per-query values; sig: ▲/▼ cell significantly better/worse than other "
                                         "(p < 0.05, no multiple-testing correction). Also in significance.csv.")]
    overlap = training_overlap_table(grid, ws)
    if not overlap.empty:
        blocks += [Block("h2", "Training overlap of trained models"),
                   Block("table", overlap, "Documents judged in this collection's split that the model's training "
                                           "used as positives or negatives (0 unless the run allowed it; "
                                           "another corpus shares none: zero-shot).")]
    truncation = truncation_table(grid, ws)
    if not truncation.empty:
        blocks += [Block("h2", "Truncation"), Block("table", truncation, "Documents longer than the model's "
                                                                         "token limit, cut when encoded.")]
    if not table.empty:
        # synthetic documents have no judgments: their trade-off is latency against accuracy@10
        measure = "accuracy@10" if grid.docs else grid.measures[0]
        blocks += [Block("h2", f"Latency vs {measure}"),
                   Block("image", plots.pareto(frame, figures / "pareto.png", measure),
                         f"{measure} against retrieval time (left) and query encoding + retrieval time (right): "
                         "the right panel charges the contextual encoder's forward pass that a static table "
                         "removes. One colour per engine (its line: the engine's Pareto frontier), one marker "
                         "per system (model · encoder).")]
    lengths, rows = {}, []
    for model in grid.models:
        try:
            vectors = ws.vectors(model)
        except Exception:  # the failure is already in the cells' table
            continue
        lengths[model.name] = posting_lengths(vectors)
        rows.append({"model": model.name, "mean_doc_nnz": float(vectors.row_lengths().mean()),
                     **posting_stats(lengths[model.name])})
    if rows:
        blocks += [Block("h2", "Posting lists per model"), Block("table", pd.DataFrame(rows)),
                   Block("image", plots.posting_lengths(lengths, figures / "posting_lengths.png"),
                         "Denser documents make longer posting lists, which an exhaustive engine must traverse.")]
    if not table.empty:
        blocks += [Block("h2", "Where the time goes"),
                   Block("image", plots.time_split(frame, figures / "time_split.png"),
                         "Mean query encoding vs retrieval time per cell.")]
    failed = frame[frame["status"] != "ok"]
    if not failed.empty:
        blocks += [Block("h2", "Failed cells"), Block("table", failed[["cell", "error"]],
                                                      "Each failure is recorded and skipped; fix it and re-run to "
                                                      "compute only these cells.")]
    blocks += [Block("h2", "Machine and protocol"), Block("text", environment_line(grid))]
    blocks += [Block("h2", "Files"), Block("text", "results.csv (one row per cell), significance.csv (the "
                                                   "compared pairs), runs/ (TREC runs and latency "
                                                   "JSON per cell), cells/ (cached cell records), artifacts/ "
                                                   "(vectors, tables, encoded queries, indexes).")]
    return blocks


def training_overlap_table(grid: Grid, ws: Workspace) -> pd.DataFrame:
    """One row per model trained by ``lilsr train``: its training set and what it saw of this split."""
    from ..training.heldout import training_overlap

    rows = []
    for model in grid.models:
        try:
            checkpoint = ws.checkpoint(model)
        except Exception:
            continue
        overlap = training_overlap(checkpoint, ws.collection, grid.split)
        if overlap is not None:
            rows.append({"model": model.name, **overlap})
    return pd.DataFrame(rows)


def truncation_table(grid: Grid, ws: Workspace) -> pd.DataFrame:
    rows = []
    for model in grid.models:
        try:
            record = ws.vectors(model).manifest.get("counts", {}).get("truncation")
        except Exception:
            continue
        if record:
            rows.append({"model": model.name, "max_length": record["max_length"], "docs": record["texts"],
                         "docs_truncated": record["truncated"], "tokens_cut_share": record["tokens_cut_share"]})
    return pd.DataFrame(rows)


# -- several collections --------------------------------------------------------------------------------------

def _target_slug(collection: str, split: str) -> str:
    name = Path(collection).name if Path(collection).expanduser().is_dir() else collection
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{name}-{split}")


def beir_table(frames: dict[str, pd.DataFrame], measure: str) -> pd.DataFrame:
    """Rows: systems (cell ids); columns: ``measure`` per collection (with its ▲/▼ against that collection's
    baseline) and the mean over the collections (blank when a system failed on one)."""
    systems = list(dict.fromkeys(c for frame in frames.values() for c in frame["cell"]))
    rows = []
    for system in systems:
        row, values = {"system": system}, []
        for label, frame in frames.items():
            hit = frame[(frame["cell"] == system) & (frame["status"] == "ok")]
            if hit.empty:
                row[label] = ""
                values.append(None)
                continue
            value = float(hit.iloc[0][measure])
            values.append(value)
            mark = hit.iloc[0].get("sig", "") if "sig" in hit.columns else ""
            row[label] = f"{value:.4f}{mark if isinstance(mark, str) else ''}"
        row["mean"] = f"{sum(values) / len(values):.4f}" if all(v is not None for v in values) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def compare_collections(grid: Grid, out: str | Path, progress: bool = True,
                        significance: str = "t-test") -> Comparison:
    """Each collection in its own sub-folder (a full comparison), then the combined tables."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Comparison] = {}
    for collection, split in grid.targets():
        label = f"{Path(collection).name if Path(collection).expanduser().is_dir() else collection}:{split}"
        results[label] = compare_one(grid.for_target(collection, split), out / _target_slug(collection, split),
                                     progress, significance, strict_vectors=True)
    frames = {label: r.frame for label, r in results.items()}
    combined = pd.concat([f.assign(collection=label) for label, f in frames.items()], ignore_index=True)
    with atomic_file(out / "results.csv") as handle:
        combined.to_csv(handle, index=False)
    measure = grid.measures[0]
    beir = beir_table(frames, measure)
    with atomic_file(out / "beir.csv") as handle:
        beir.to_csv(handle, index=False)
    baselines = {label: default_baseline(grid.for_target(*t), r.records)
                 for (label, r), t in zip(results.items(), grid.targets())}
    best = {label: best_system(r.frame[r.frame["status"] == "ok"], measure,
                               {c["cell"]: c.get("per_query") for c in r.records if c["status"] == "ok"},
                               significance) for label, r in results.items()}
    blocks = [Block("h1", f"lilsr compare: {', '.join(frames)}")]
    if any(best.values()):
        blocks += [Block("h2", "Findings"),
                   Block("list", [f"{label}: {sentence}" for label, sentence in best.items() if sentence]
                         + ["Each collection's report (its sub-folder) has its own findings and significance."])]
    blocks += [Block("h2", f"All collections ({measure})"),
              Block("table", beir, f"BEIR-style: {measure} per collection and the mean over collections. ▲/▼: "
                                   f"significantly better/worse than that collection's baseline "
                                   f"({', '.join(f'{k}: {v}' for k, v in baselines.items())}; {significance} over "
                                   f"per-query {measure}, p < 0.05), tested per collection.")]
    for label, result in results.items():
        sub = _target_slug(*grid.targets()[list(results).index(label)])
        blocks += [Block("h2", f"{label}"), Block("table", effectiveness_table(result.frame, grid.measures),
                                                  f"Full report: {sub}/report.html (figures, posting lists, "
                                                  "training overlap, truncation).")]
        overlap = training_overlap_table(grid.for_target(*grid.targets()[list(results).index(label)]),
                                         result.workspace)
        if not overlap.empty:
            blocks += [Block("table", overlap, f"Training overlap with {label}.")]
    blocks += [Block("h2", "Machine and protocol"),
               Block("text", environment_line(grid.for_target(*grid.targets()[0])).replace(
                   f"Collection {grid.targets()[0][0]}, split {grid.targets()[0][1]}", f"Collections {', '.join(frames)}"))]
    md, html = write_report(blocks, out, f"lilsr compare: {', '.join(frames)}")
    records = [r for result in results.values() for r in result.records]
    ok = sum(r["status"] == "ok" for r in records)
    write_manifest(out, "lilsr.compare", params=grid.as_dict(),
                   counts={"collections": len(results), "cells": len(records), "ok": ok, "failed": len(records) - ok,
                           "reused": sum(bool(r.get("reused")) for r in records)},
                   baselines=baselines, significance=significance)
    return Comparison(combined, records, md, html, next(iter(results.values())).workspace)
