"""``lilsr compare``: run every cell of a grid, then write results.csv, runs, report.md and report.html.

The output folder is incremental on purpose: cells and artefacts already computed (keyed by their
inputs) are reused, so a re-run after a crash, or with more cells, only computes what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..atomic import atomic_file
from ..progress import bar as progress_bar
from ..data.collection import resolve_collection
from ..manifest import write_manifest
from ..vectors.store import posting_lengths, posting_stats
from . import plots
from .cells import run_cell
from .grid import Grid
from .render import Block, write_report
from .table import results_frame
from .workspace import Workspace

log = logging.getLogger("lilsr.compare")

MAIN_COLUMNS = ["cell", "sig", "accuracy@10", "encode_mean_ms", "retrieval_mean_ms", "retrieval_p50_ms",
                "retrieval_p99_ms", "index_MB", "mean_doc_nnz", "mean_query_nnz"]


@dataclass
class Comparison:
    frame: pd.DataFrame
    records: list[dict]
    report_md: Path
    report_html: Path
    workspace: Workspace


def default_baseline(grid: Grid, records: list[dict]) -> str | None:
    if grid.baseline:
        return grid.baseline
    ok = [r["cell"] for r in records if r["status"] == "ok"]
    return "bm25" if "bm25" in ok else (ok[0] if ok else None)


def run_grid(grid: Grid, out: str | Path, progress: bool = True,
             artifacts: str | Path | None = None) -> tuple[Workspace, list[dict]]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(out, resolve_collection(grid.collection), grid.split, progress=progress, docs=grid.docs,
                   synth=grid.synth, artifacts=artifacts)
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
    out = Path(out)
    ws, records = run_grid(grid, out, progress, artifacts)
    baseline = default_baseline(grid, records)
    frame = results_frame(records, grid.measures, baseline, significance)
    with atomic_file(out / "results.csv") as handle:
        frame.to_csv(handle, index=False)
    blocks = report_blocks(grid, ws, frame, records, baseline, significance)
    md, html = write_report(blocks, out, f"lilsr compare: {grid.collection}")
    ok = sum(r["status"] == "ok" for r in records)
    write_manifest(out, "lilsr.compare", params=grid.as_dict(),
                   counts={"cells": len(records), "ok": ok, "failed": len(records) - ok,
                           "reused": sum(bool(r.get("reused")) for r in records)},
                   baseline=baseline, significance=significance)
    return Comparison(frame, records, md, html, ws)


def environment_line(grid: Grid) -> str:
    docs = f"; documents grown to {grid.docs:,} synthetic ones per model" if grid.docs else ""
    return (f"Collection {grid.collection}, split {grid.split}{docs}, k={grid.k}, search threads {grid.threads}; "
            f"machine: {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, load average {_load()}. Retrieval latency is the call clock "
            f"(wall time around one Python call per query, the same boundary for every engine) after "
            f"{grid.warmup} warm-up pass(es), the median of {grid.repeat} repeat(s) per query; engine_clock columns "
            "give the engine's own clock where it has one (inside compiled code for native, inside Java for Lucene).")


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
    columns = [c for c in ["cell", *measures, *MAIN_COLUMNS[1:]] if c in ok.columns]
    return ok[columns]


def report_blocks(grid: Grid, ws: Workspace, frame: pd.DataFrame, records: list[dict], baseline: str | None,
                  significance: str) -> list[Block]:
    figures = ws.root / "figures"
    figures.mkdir(exist_ok=True)
    blocks = [Block("h1", f"lilsr compare: {grid.collection} ({grid.split})"), Block("text", environment_line(grid))]
    table = effectiveness_table(frame, [] if grid.docs else grid.measures)  # synthetic: no judgments
    blocks += [Block("h2", "Effectiveness and latency"),
               Block("table", table, f"▲/▼: {grid.measures[0]} significantly better/worse than the baseline "
                                     f"'{baseline}' ({significance} over per-query {grid.measures[0]}, p < 0.05). "
                                     "accuracy@10: share of the exact engine's top 10 found (same vectors, "
                                     "same queries). Latency in ms per query.")]
    if not table.empty:
        # synthetic documents have no judgments: their trade-off is latency against accuracy@10
        measure = "accuracy@10" if grid.docs else grid.measures[0]
        blocks += [Block("h2", f"Latency vs {measure}"),
                   Block("image", plots.pareto(frame, figures / "pareto.png", measure),
                         f"Retrieval latency against {measure}; each line is an engine's Pareto frontier.")]
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
    blocks += [Block("h2", "Files"), Block("text", "results.csv (one row per cell), runs/ (TREC runs and latency "
                                                   "JSON per cell), cells/ (cached cell records), artifacts/ "
                                                   "(vectors, tables, encoded queries, indexes).")]
    return blocks
