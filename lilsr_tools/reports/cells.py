"""Running one cell of a grid and caching its result under ``OUT/cells/<slug>.json``."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import numpy as np

from ..atomic import atomic_file
from ..engines.search import run_search, write_outputs
from ..errors import LilsrError
from ..evaluation.metrics import accuracy_at_k, evaluate
from ..progress import SearchProgress
from ..rounding import round_floats
from ..vectors.store import SparseVectors
from .grid import Cell, Grid, key_of
from .workspace import Workspace


def cell_key(ws: Workspace, grid: Grid, cell: Cell) -> str:
    """Hash of everything the cell's numbers depend on. Inputs that cannot be resolved fall back to the
    cell's declared parameters, so a failing cell is still keyed (and retried on the next run)."""
    inputs = [cell.id, grid.collection, grid.split, grid.k, grid.threads, grid.measures, grid.warmup, grid.repeat,
              ws.docs, ws.synth]
    if cell.model is not None:
        try:
            inputs.append(ws.vectors_identity(cell.model))
            if (cell.encoder or "").split(":")[0] == "table":
                from ..manifest import read_manifest

                inputs.append(read_manifest(ws.table(cell.model)).get("sha256"))
        except LilsrError:
            inputs.append(vars(cell.model))
    return key_of(inputs)


def load_cached(path: Path, key: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return cached if cached.get("key") == key and cached.get("status") == "ok" else None


def run_cell(ws: Workspace, grid: Grid, cell: Cell, warmup: bool = True) -> dict:
    """Search, evaluate and describe one cell. Never raises for a failing engine: the error is recorded."""
    out = ws.root / "cells" / f"{cell.slug}.json"
    key = cell_key(ws, grid, cell)
    cached = load_cached(out, key)
    if cached:
        cached["reused"] = True
        return cached
    record = {"key": key, "cell": cell.id, "slug": cell.slug, "engine": cell.engine.name,
              "model": cell.model.name if cell.model else None, "encoder": cell.encoder,
              "build": cell.engine.build, "search": cell.search}
    try:
        record.update(_measure(ws, grid, cell, warmup))
        record["status"] = "ok"
    except (LilsrError, ImportError, OSError, RuntimeError, ValueError, MemoryError) as exc:
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        record["traceback"] = traceback.format_exc(limit=4)
    except BaseException as exc:  # e.g. pyo3's PanicException from the Rust Seismic
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    record = round_floats(record)  # what is written is what this run reports: a re-run reuses the same numbers
    with atomic_file(out) as handle:
        json.dump(record, handle, indent=1, default=float)
    record["reused"] = False
    return record


def _measure(ws: Workspace, grid: Grid, cell: Cell, warmup: bool) -> dict:
    engine = SearchProgress(ws.engine(cell.model, cell.engine), desc=cell.tag, progress=ws.progress, leave=False)
    batch = ws.text_queries if cell.engine.name == "bm25" else ws.queries(cell.model, cell.encoder)
    # JIT compilers (JVM, numba) and caches warm on the same queries before timing
    results = run_search(engine, batch, k=grid.k, threads=grid.threads, warmup=grid.warmup if warmup else 0,
                         repeat=grid.repeat, **cell.search)
    run_path = ws.root / "runs" / f"{cell.slug}.trec"
    latency = write_outputs(results, batch, run_path, run_path.with_suffix(".latency.json"), tag=cell.tag)
    run = results.as_run()
    first = str(grid.measures[0])
    if ws.docs is None:
        evaluation = evaluate(run, ws.qrels, grid.measures)
        metrics, per_query = evaluation.aggregates, {qid: values[first] for qid, values in evaluation.per_query.items()}
        summary = evaluation.summary()
    else:  # synthetic documents carry no judgments: accuracy against exact search is what can be measured
        metrics, per_query, summary = {}, {}, {"synthetic_docs": ws.docs}
    record = {
        "metrics": metrics,
        "per_query": per_query,
        "eval_summary": summary,
        "build_measured": ws.build_result(cell.model, cell.engine) if cell.engine.name != "bm25" else {},
        "latency": {part: latency[part] for part in ("encode", "retrieval", "total", "retrieval_engine_clock")},
        "protocol": latency["protocol"],
        "unknown_query_tokens": results.unknown_tokens,
        "run": str(run_path.relative_to(ws.root)),
        "index_stats": _plain(engine.index_stats()),
    }
    if cell.model is not None:
        vectors: SparseVectors = ws.vectors(cell.model)
        record["mean_doc_nnz"] = float(vectors.row_lengths().mean())
        record["mean_query_nnz"] = float(np.mean([len(v) for v in batch.vectors]))
        if cell.engine.name != "exact":
            record["accuracy@10"] = accuracy_at_k(run, ws.exact_run(cell.model, cell.encoder, 10), k=10)
            # at the cell's own k too: an engine tuned at k=1000 is compared at accuracy@1000
            record["accuracy@k"] = (record["accuracy@10"] if grid.k == 10 else
                                    accuracy_at_k(run, ws.exact_run(cell.model, cell.encoder, grid.k), k=grid.k))
        else:
            record["accuracy@10"] = record["accuracy@k"] = 1.0
        record["k"] = grid.k
        if (cell.encoder or "").split(":")[0] == "table":
            record["table_source"] = ws.table_source(cell.model)
    return record


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value
