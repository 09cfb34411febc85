"""Search defaults chosen for one native index, per k, on tuning queries, kept in the index's manifest.

The package's defaults (``param_specs.NATIVE_K_DEFAULTS``) were chosen on SciFact's documents; an index of
other documents (denser, or a million of them) reaches the same accuracy at other settings. ``tune_index``
runs the engine's tuning grid (``query_cut`` x ``heap_factor``) at each k on queries of a tuning split
(never the evaluation split), each setting timed warm with repeats on the call clock, and keeps the fastest
reaching accuracy@k >= target against exact top-k (tie-aware), else the most accurate; a choice on the
grid's edge gets one more round one step past it (``tuning.widen``). The choices go into the manifest's
``search_defaults``; ``NativeEngine`` then fills any parameter a search does not set from the entry for the
smallest tuned k at or above the search's k (the largest tuned k beyond them).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_file
from ..engines.native.engine import SEARCH_DEFAULTS_KEY, NativeEngine
from ..engines.exact import ExactEngine
from ..engines.search import QueryBatch, run_search
from ..errors import LilsrError
from ..evaluation.latency import summarize_ns
from ..evaluation.metrics import accuracy_at_k
from ..manifest import MANIFEST, read_manifest
from ..rounding import round_floats
from .tuning import pick, widen

TUNING_REPEATS = 3  # a setting's latency is the p50 of per-query medians of at least this many passes


def tune_index(index: str | Path, store: str | Path, batch: QueryBatch, ks=(10, 1000), *, target: float = 0.95,
               repeat: int = TUNING_REPEATS, source: str | None = None, overwrite: bool = False,
               progress=None) -> dict:
    """Choose ``index``'s search defaults at each of ``ks`` on ``batch`` (queries of a tuning split) and
    write them into its manifest; returns the record written. ``store`` is the vector store the index was
    built from (exact search over it is the reference). ``progress(message)``, when given, hears each
    measured setting."""
    index = Path(index)
    if not 0 < target <= 1:
        raise LilsrError(f"target must be in (0, 1], got {target}")
    if repeat < 1:
        raise LilsrError(f"repeat must be at least 1, got {repeat}")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise LilsrError(f"each k must be at least 1, got {ks}")
    manifest = read_manifest(index)
    if manifest.get(SEARCH_DEFAULTS_KEY) and not overwrite:
        raise LilsrError(f"{index / MANIFEST}: already holds search defaults (chosen "
                         f"{manifest[SEARCH_DEFAULTS_KEY].get('created', '?')}); pass --overwrite to choose again")
    engine = NativeEngine.load(index)
    exact = ExactEngine.load(store)
    if list(exact.vectors.ids) != list(engine.ids):
        raise LilsrError(f"{store}: not the vector store {index} was built from (its document ids differ); "
                         "pass the store given to 'lilsr index native'")
    entries = []
    for k in ks:
        truth = run_search(exact, batch, k=k, warmup=0, repeat=1, ties=True).as_run()
        choice, reaches, measured = choose_setting(engine, batch, k, truth, engine.tuning_grid, engine.tuning_bounds,
                                                   target=target, repeat=repeat, progress=progress)
        entries.append({"k": k, "params": choice["setting"], "accuracy": choice["accuracy"],
                        "p50_ms": choice["latency_ms"], "reaches_target": reaches, "settings_tried": len(measured)})
    record = round_floats({
        "by_k": entries, "target": target, "measure": "accuracy@k against exact top-k (ties at the k-th score "
        "count); latency: p50 over queries of each query's median of the repeats, call clock, one thread",
        "queries": len(batch.qids), "source": source or batch.source, "encoder": batch.encoder or None,
        "repeat": repeat, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    manifest[SEARCH_DEFAULTS_KEY] = record
    with atomic_file(index / MANIFEST) as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
    return record


def choose_setting(engine, batch: QueryBatch, k: int, truth: dict, grid, bounds: dict, *, target: float = 0.95,
                   repeat: int = TUNING_REPEATS, fixed: dict | None = None, progress=None):
    """Measure each setting of ``grid`` (plus ``fixed`` parameters) on ``batch`` at ``k``: accuracy@k against
    ``truth`` (exact top-k with ties, as a run) and the p50 of per-query medians of ``repeat`` warm passes.
    Returns (the fastest reaching ``target``, else the most accurate; whether it reaches; every candidate),
    after one more round one step past each grid edge the first choice sits on."""
    measured: list[dict] = []

    def measure(settings):
        for setting in settings:
            results = run_search(engine, batch, k=k, warmup=1, repeat=repeat, **setting, **(fixed or {}))
            candidate = {"setting": dict(setting), "accuracy": accuracy_at_k(results.as_run(), truth, k),
                         "latency_ms": summarize_ns(results.retrieval_ns)["p50_ms"]}
            measured.append(candidate)
            if progress:
                progress(f"k={k} {setting}: accuracy@{k} {candidate['accuracy']:.3f}, "
                         f"p50 {candidate['latency_ms']:.3f} ms")

    grid = [dict(s) for s in grid]
    measure(grid)
    choice, _ = pick(measured, target)
    measure(widen(grid, choice["setting"], bounds))
    choice, reaches = pick(measured, target)
    return choice, reaches, measured
