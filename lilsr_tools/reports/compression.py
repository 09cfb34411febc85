"""``lilsr ablate compression``: document-side compressions of each model's store, through each engine.

A *setting* is one step, or several joined by ``+`` (``top_k=128+energy=0.3``); ``none`` is the
uncompressed baseline. Steps:

- ``top_k=K``, ``mass=S``, ``postings=S`` (store steps): the store is pruned (``vectors.compress``: each
  document's K largest weights, or its fewest largest weights holding a share S of its L1 mass, or each
  posting list's largest share S), then every engine indexes the pruned store with its defaults;
- ``scale=N`` (Lucene/PISA integer impacts ``round(w x N)``), ``bits=B`` (native forward-index values:
  16 float16, 8 8-bit per document), ``energy=E`` (block-summary energy of native and Seismic) - value
  steps: the engines that have the parameter build with it (``VALUE_STEPS``), exact searches the store
  rounded the way the index would store it (scale, bits: the effectiveness cost alone), the other engines
  do not apply.

Per cell: index bytes and bytes per posting, nDCG@10, R@1000, accuracy@10 against the *uncompressed*
exact run, p50 latency. With ``tune_split`` (a split of the collection, or a qrels file such as a training
run's held-out ``dev_qrels.tsv``) the same indexes are also searched on those queries and the recommended
setting per model and engine (the smallest index within ``max_loss`` points of nDCG@10 of the uncompressed
one) is chosen there, never on the split it is reported on (the two must share no query).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..atomic import atomic_file
from ..data.collection import resolve_collection
from ..data.trec import read_run
from ..engines import ENGINES
from ..engines.native.layout import VALUE_BITS, stored_values
from ..errors import LilsrError
from ..evaluation.metrics import accuracy_at_k
from ..manifest import MANIFEST, write_manifest
from ..progress import enabled as progress_enabled
from ..vectors.compress import check_share, check_top_k, keep_list_share, keep_mass, keep_top_k
from ..vectors.convert import quantized
from ..vectors.store import SparseVectors, save_vectors
from . import plots
from .cells import cell_key, load_cached, run_cell
from .compare import environment_line
from .grid import Cell, EngineSpec, Grid, ModelSpec
from .render import Block, write_report
from .workspace import Workspace

STORE_STEPS = {"top_k": keep_top_k, "mass": keep_mass, "postings": keep_list_share}
# value step -> {engine: its build parameter}; an engine added later joins a step by a line here
VALUE_STEPS = {
    "scale": {"lucene": "scale", "pisa": "scale"},
    "bits": {"native": "value_bits"},
    "energy": {"native": "summary_energy", "seismic-rs": "summary_energy"},
}
KINDS = (*STORE_STEPS, *VALUE_STEPS)
DEFAULT_GRID = {"top_k": (16, 32, 64, 128), "mass": (0.95, 0.9, 0.8), "postings": (0.75, 0.5, 0.25),
                "scale": (10, 100, 1000), "bits": (16, 8), "energy": (0.05, 0.1, 0.2, 0.3)}
DEFAULT_ENGINES = ("exact", "native", "lucene")
MEASURES = ["nDCG@10", "R@1000"]


@dataclass(frozen=True)
class Step:
    kind: str
    value: float | int

    @property
    def label(self) -> str:
        return f"{self.kind}={self.value:g}"


def parse_step(text: str, where: str = "setting") -> Step:
    """``kind=value`` with the value checked for its kind (one-line ``LilsrError`` otherwise)."""
    kind, sep, raw = text.strip().partition("=")
    if not sep or kind not in KINDS:
        raise LilsrError(f"{where}: {text!r} is not kind=value with kind one of {', '.join(KINDS)}")
    try:
        number = float(raw)
    except ValueError:
        raise LilsrError(f"{where}: {text!r}: {raw!r} is not a number") from None
    if kind == "top_k":
        return Step(kind, check_top_k(int(number) if number.is_integer() else number, f"{where}: top-k"))
    if kind in ("mass", "postings", "energy"):
        return Step(kind, check_share(number, f"{where}: {kind} share"))
    if kind == "scale":
        if not (math.isfinite(number) and number > 0):
            raise LilsrError(f"{where}: scale must be a positive number, not {raw!r}")
        return Step(kind, int(number) if number.is_integer() else number)
    if not number.is_integer() or int(number) not in VALUE_BITS:
        raise LilsrError(f"{where}: bits must be one of {', '.join(map(str, VALUE_BITS))}, not {raw!r}")
    return Step(kind, int(number))


def parse_setting(text: str, where: str = "setting") -> tuple[Step, ...]:
    """``none`` or steps joined by ``+``; at most one step of each kind."""
    if text.strip() == "none":
        return ()
    steps = tuple(parse_step(part, where) for part in text.split("+"))
    kinds = [s.kind for s in steps]
    if len(set(kinds)) != len(kinds):
        raise LilsrError(f"{where}: {text!r} repeats a kind")
    return steps


def setting_label(steps: tuple[Step, ...]) -> str:
    return "+".join(s.label for s in steps) or "none"


def default_settings(grid: dict | None = None, also: tuple[str, ...] = ()) -> list[tuple[Step, ...]]:
    """``none``, one setting per value of each kind in ``grid`` (default ``DEFAULT_GRID``), then ``also``."""
    settings: list[tuple[Step, ...]] = [()]
    for kind, values in (DEFAULT_GRID if grid is None else grid).items():
        settings += [(parse_step(f"{kind}={v}", f"--{kind.replace('_', '-')}"),) for v in values]
    settings += [parse_setting(text, "--also") for text in also]
    return list(dict.fromkeys(settings))


# -- one cell: which store, which engine build -------------------------------------------------------

def plan(steps: tuple[Step, ...], engine: str) -> tuple[tuple[Step, ...], dict] | None:
    """(steps applied to the store, build parameters) for ``engine``, or None when the setting does not
    apply to it (a value step the engine has no parameter for)."""
    store = tuple(s for s in steps if s.kind in STORE_STEPS)
    build = {}
    for s in steps:
        if s.kind in STORE_STEPS:
            continue
        if engine == "exact" and s.kind in ("scale", "bits"):
            store += (s,)  # exact searches the values as the index would store them
        elif engine in VALUE_STEPS[s.kind]:
            build[VALUE_STEPS[s.kind][engine]] = s.value
        else:
            return None
    return store, build


def apply_steps(vectors: SparseVectors, steps: tuple[Step, ...]) -> SparseVectors:
    for s in steps:
        if s.kind in STORE_STEPS:
            vectors = STORE_STEPS[s.kind](vectors, s.value)
        elif s.kind == "scale":
            model = vectors.manifest.get("model") if vectors.manifest else None
            vectors = quantized(vectors, float(s.value))
            vectors.manifest = {"model": model}
        elif s.kind == "bits":
            vectors = SparseVectors(vectors.indptr, vectors.indices,
                                    stored_values(vectors.indptr, vectors.values, int(s.value)), vectors.vocab,
                                    vectors.ids, {"model": vectors.manifest.get("model")} if vectors.manifest else {})
        else:
            raise LilsrError(f"{s.label} does not change a store")
    return vectors


def variant(ws: Workspace, base: ModelSpec, steps: tuple[Step, ...]) -> ModelSpec:
    """The model whose store is ``base``'s with ``steps`` applied (saved once under the workspace), with
    the base model's query table, so only the document side changes."""
    table = str(ws.table(base))
    if not steps:
        return ModelSpec(base.name, base.checkpoint, base.vectors, table, base.max_length)
    label = setting_label(steps)
    source = ws.vectors(base)
    path = ws.path("vectors", f"{base.name}~{label}", [ws.vectors_identity(base), label])
    if not (path / MANIFEST).is_file():
        compressed = apply_steps(source, steps)
        save_vectors(path, compressed, model=source.manifest.get("model"), overwrite=True,
                     params={"compression": label, "source": str(source.path)},
                     extra_counts={"source_nnz": source.nnz, "dropped": source.nnz - compressed.nnz})
    return ModelSpec(f"{base.name}~{label}", base.checkpoint, str(path), table, base.max_length)


@dataclass
class PlannedCell:
    base: ModelSpec
    setting: str
    family: str
    engine: str
    cell: Cell


def plan_cells(ws: Workspace, models: list[ModelSpec], settings: list[tuple[Step, ...]], engines: list[str],
               encoder: str) -> tuple[list[PlannedCell], list[str]]:
    """Every (model, setting, engine) that applies, and the (setting, engine) pairs that do not."""
    cells, skipped = [], []
    for base in models:
        for steps in settings:
            for engine in engines:
                planned = plan(steps, engine)
                if planned is None:
                    if base is models[0]:
                        skipped.append(f"{setting_label(steps)} on {engine}")
                    continue
                store, build = planned
                spec = variant(ws, base, store)
                cells.append(PlannedCell(base, setting_label(steps), "+".join(s.kind for s in steps) or "none",
                                         engine, Cell(spec, encoder, EngineSpec(engine, build), {})))
    return cells, skipped


# -- the study -------------------------------------------------------------------------------------

def ablate_compression(models: list[ModelSpec], collection: str, out: str | Path, *, split: str = "test",
                       tune_split: str | None = None, settings: list[tuple[Step, ...]] | None = None,
                       engines: tuple[str, ...] = DEFAULT_ENGINES, encoder: str = "table", k: int = 1000,
                       threads: int = 1, max_loss: float = 0.5, progress: bool = True,
                       partial: bool = False) -> dict[str, pd.DataFrame]:
    """Run every cell on ``split`` (and on ``tune_split``), write compression.csv, recommended.csv, the
    report and the Pareto plot; returns the tables. ``partial``: accept vector stores lacking some of the
    corpus (coverage recorded in the manifest)."""
    unknown = [e for e in engines if e not in ENGINES or e == "bm25"]
    if unknown:
        raise LilsrError(f"unknown vector engine(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(e for e in ENGINES if e != 'bm25')}")
    if not models:
        raise LilsrError("give at least one --model")
    if len({m.name for m in models}) != len(models):
        raise LilsrError("model names must be unique")
    if tune_split == split:
        raise LilsrError(f"--tune-split {tune_split} is the evaluation split: settings are never chosen on it")
    settings = default_settings() if settings is None else settings
    if () not in settings:
        settings = [(), *settings]  # every delta and ratio is against the uncompressed index
    out = Path(out)
    coll = resolve_collection(collection)
    if tune_split:
        shared = set(coll.qrels(split)) & set(tuning_qrels(coll, tune_split))
        if shared:
            raise LilsrError(f"--tune-split {tune_split} shares {len(shared)} queries with the '{split}' split (e.g. "
                             f"{sorted(shared)[0]}); settings are never chosen on the queries they are reported on")
    out.mkdir(parents=True, exist_ok=True)
    if tune_split:
        tune_coll, tune_name = tune_collection(coll, tune_split, out)
    ws = Workspace(out, coll, split, progress=progress, partial=partial)
    models = [resolved(ws, m) for m in models]  # encoded once, here; every later step reads the store
    grid = Grid(collection=collection, split=split, k=k, threads=threads, models=list(models), encoders=[encoder],
                engines=[EngineSpec(e) for e in engines], measures=list(MEASURES))
    splits = [(split, ws, grid)]
    if tune_split:
        tune_ws = Workspace(out / f"tune-{tune_name}", tune_coll, tune_name, progress=progress,
                            artifacts=ws.artifacts, partial=partial)
        splits.append((tune_name, tune_ws, Grid(**{**vars(grid), "collection": str(tune_coll.root),
                                                   "split": tune_name})))
    cells, skipped = plan_cells(ws, list(models), settings, list(engines), encoder)
    warm_engines(ws, grid, cells)
    frames = {}
    with tqdm(total=len(cells) * len(splits), desc="compression cells", unit="cell", disable=not progress_enabled(progress)) as bar:
        for name, workspace, g in splits:
            rows = []
            for planned in cells:
                bar.set_postfix_str(f"{name}: {planned.cell.id[:60]}")
                record = run_cell(workspace, g, planned.cell)
                if record["status"] != "ok":
                    tqdm.write(f"cell {planned.cell.id} ({name}) failed: {record['error']}")
                rows.append(_row(workspace, planned, record, encoder))
                bar.update()
            frames[name] = _with_deltas(pd.DataFrame(rows))
    table = frames[split]
    chosen_on = tune_name if tune_split else split
    recommended = recommend(frames[chosen_on], table, max_loss)
    sizes = size_ratios(table, recommended)
    with atomic_file(out / "compression.csv") as handle:
        table.to_csv(handle, index=False)
    with atomic_file(out / "recommended.csv") as handle:
        recommended.to_csv(handle, index=False)
    if tune_split:
        with atomic_file(out / f"compression-{tune_name}.csv") as handle:
            frames[tune_name].to_csv(handle, index=False)
    _report(out, grid, table, recommended, sizes, skipped, chosen_on, max_loss, bool(tune_split))
    ok = int((table["status"] == "ok").sum())
    write_manifest(out, "lilsr.ablate-compression",
                   params={**grid.as_dict(), "tune_split": tune_split, "tune_name": tune_name if tune_split else None,
                           "max_loss_points": max_loss,
                           "settings": [setting_label(s) for s in settings]},
                   counts={"cells": len(table), "ok": ok, "failed": len(table) - ok, "not_applicable": len(skipped)},
                   coverage={name: c.as_dict() for name, c in ws.coverage.items()})
    return {"coverage": ws.coverage_notes(), "cells": table, "recommended": recommended, "sizes": sizes, **{f"cells-{n}": f for n, f in frames.items()}}


WARMUP_PASSES = 3


def warm_engines(ws: Workspace, grid: Grid, cells: list[PlannedCell]) -> None:
    """Untimed passes over the queries with each engine before its first timed cell: a fresh JVM compiles
    Lucene's hot code during its first few hundred queries, which the first Lucene cell alone would pay
    (its one warm-up pass is not enough), and numba loads its kernels. Engines whose cells are all
    finished are not woken."""
    for name in dict.fromkeys(p.engine for p in cells):
        mine = [p for p in cells if p.engine == name]
        if all(load_cached(ws.root / "cells" / f"{p.cell.slug}.json", cell_key(ws, grid, p.cell)) for p in mine):
            continue
        first = mine[0].cell
        engine, batch = ws.engine(first.model, first.engine), ws.queries(first.model, first.encoder)
        for _ in range(WARMUP_PASSES):
            engine.batch_search(batch.qids, batch.vectors, k=grid.k, threads=grid.threads)


def tuning_qrels(coll, tune: str):
    """The judgments of ``tune``: a split of ``coll`` or a qrels file."""
    path = Path(tune)
    if not path.is_file():
        return coll.qrels(tune)  # a missing split fails here, naming the ones there are
    from ..data import read_qrels

    try:
        judged = read_qrels(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise LilsrError(f"{path}: not a qrels file ({exc})") from None
    if not judged:
        raise LilsrError(f"{path}: no judgments")
    return judged


def tune_collection(coll, tune: str, out: Path):
    """(collection, split name) for ``tune``: a split of ``coll``, or a qrels file, served as the only split
    of a folder beside the outputs that links to the collection's corpus and queries."""
    path = Path(tune)
    if not path.is_file():
        return coll, tune
    tuning_qrels(coll, tune)
    folder = out / "tune-collection"
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        link = folder / name
        if not link.exists():
            link.symlink_to((coll.root / name).resolve())
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)
    with atomic_file(folder / "qrels" / f"{name}.tsv") as handle:
        handle.write(path.read_text(encoding="utf-8"))
    return resolve_collection(str(folder)), name


def resolved(ws: Workspace, model: ModelSpec) -> ModelSpec:
    """``model`` with its store named (encoding the collection now when only a checkpoint is given)."""
    vectors = ws.vectors(model)
    return ModelSpec(model.name, model.checkpoint or vectors.manifest.get("model"), str(vectors.path), model.table,
                     model.max_length)


def _row(ws: Workspace, planned: PlannedCell, record: dict, encoder: str) -> dict:
    row = {"model": planned.base.name, "setting": planned.setting, "family": planned.family,
           "engine": planned.engine, "cell": planned.cell.id, "status": record["status"],
           "error": record.get("error", "")}
    if record["status"] != "ok":
        return row
    stats = record.get("index_stats", {})
    index_bytes, postings = stats.get("index_bytes"), stats.get("postings")
    run = read_run(ws.root / record["run"])
    reference = ws.exact_run(planned.base, encoder, 10)
    row.update({"index_bytes": index_bytes, "index_MB": index_bytes / 1e6 if index_bytes else None,
                "postings": postings,
                "bytes_per_posting": index_bytes / postings if index_bytes and postings else None,
                "mean_doc_nnz": record.get("mean_doc_nnz"),
                **{m: record["metrics"].get(m) for m in MEASURES},
                "accuracy@10": accuracy_at_k(run, reference, k=10),
                "retrieval_p50_ms": record["latency"]["retrieval"].get("p50_ms")})
    return row


def _with_deltas(frame: pd.DataFrame) -> pd.DataFrame:
    """Against the uncompressed cell of the same model and engine: nDCG@10 change in points, size ratio."""
    if frame.empty or "nDCG@10" not in frame:
        return frame
    base = frame[(frame["setting"] == "none") & (frame["status"] == "ok")].set_index(["model", "engine"])
    keys = list(zip(frame["model"], frame["engine"]))
    ndcg = [base["nDCG@10"].get(key) for key in keys]
    size = [base["index_bytes"].get(key) for key in keys]
    latency = [base["retrieval_p50_ms"].get(key) for key in keys]
    frame["delta_nDCG@10_points"] = [(v - b) * 100 if b is not None and pd.notna(v) else None
                                     for v, b in zip(frame["nDCG@10"], ndcg)]
    frame["size_ratio"] = [v / b if b and pd.notna(v) else None for v, b in zip(frame["index_bytes"], size)]
    frame["latency_ratio"] = [v / b if b and pd.notna(v) else None for v, b in zip(frame["retrieval_p50_ms"], latency)]
    return frame


def recommend(tuned: pd.DataFrame, report: pd.DataFrame, max_loss: float) -> pd.DataFrame:
    """Per model and engine: the setting with the smallest index whose nDCG@10 on the tuning split is
    at most ``max_loss`` points below the uncompressed one; its numbers on the report split."""
    rows = []
    ok = tuned[(tuned["status"] == "ok") & tuned["delta_nDCG@10_points"].notna()]
    reported = report.set_index(["model", "engine", "setting"])
    for (model, engine), group in ok.groupby(["model", "engine"], sort=False):
        fine = group[group["delta_nDCG@10_points"] >= -max_loss]
        if fine.empty:
            continue
        best = fine.sort_values("index_bytes", kind="stable").iloc[0]  # equal bytes: the earlier (none first)
        row = {"model": model, "engine": engine, "setting": best["setting"],
               "tuning_delta_points": best["delta_nDCG@10_points"]}
        if (model, engine, best["setting"]) in reported.index:
            r = reported.loc[(model, engine, best["setting"])]
            row.update({"index_MB": r["index_MB"], "size_ratio": r["size_ratio"], "nDCG@10": r["nDCG@10"],
                        "delta_nDCG@10_points": r["delta_nDCG@10_points"], "accuracy@10": r["accuracy@10"],
                        "retrieval_p50_ms": r["retrieval_p50_ms"], "latency_ratio": r["latency_ratio"],
                        "halves_bytes": bool(r["size_ratio"] <= 0.5) if pd.notna(r["size_ratio"]) else None})
        rows.append(row)
    return pd.DataFrame(rows)


def size_ratios(table: pd.DataFrame, recommended: pd.DataFrame) -> pd.DataFrame:
    """Per engine, each model's index bytes against the smallest uncompressed model's, before (uncompressed)
    and after (each model at its recommended setting): does compression close the gap denser models open?"""
    rows = []
    none = table[(table["setting"] == "none") & (table["status"] == "ok")]
    after = recommended.set_index(["model", "engine"]) if not recommended.empty else None
    for engine, group in none.groupby("engine", sort=False):
        if len(group) < 2:
            continue
        smallest = group.sort_values("index_bytes").iloc[0]
        small_after = None
        if after is not None and (smallest["model"], engine) in after.index:
            small_after = after.loc[(smallest["model"], engine), "index_MB"]
        for _, r in group.iterrows():
            if r["model"] == smallest["model"]:
                continue
            mine_after = after.loc[(r["model"], engine), "index_MB"] if after is not None and \
                (r["model"], engine) in after.index else None
            rows.append({"engine": engine, "model": r["model"], "versus": smallest["model"],
                         "ratio_uncompressed": r["index_bytes"] / smallest["index_bytes"],
                         "ratio_recommended": mine_after / small_after if mine_after and small_after else None,
                         "ratio_model_compressed_only": mine_after * 1e6 / smallest["index_bytes"]
                         if mine_after else None})
    return pd.DataFrame(rows)


TABLE_COLUMNS = ["model", "setting", "engine", "index_MB", "size_ratio", "bytes_per_posting", "postings",
                 "mean_doc_nnz", "nDCG@10", "delta_nDCG@10_points", "R@1000", "accuracy@10", "retrieval_p50_ms",
                 "latency_ratio"]


def _report(out: Path, grid: Grid, table: pd.DataFrame, recommended: pd.DataFrame, sizes: pd.DataFrame,
            skipped: list[str], chosen_on: str, max_loss: float, held_out: bool) -> None:
    ok = table[table["status"] == "ok"]
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    blocks = [Block("h1", f"lilsr ablate compression: {grid.collection} ({grid.split})"),
              Block("text", environment_line(grid)),
              Block("text", "Each setting is applied to the document side only (the query table is the "
                            "model's own), then indexed by each engine. Store steps (top_k, mass, postings) "
                            "prune the store every engine indexes; value steps change what an index stores "
                            "(scale: Lucene impacts round(w x scale); bits: native forward-index values, "
                            "float16 or 8-bit per document; energy: native/Seismic summary energy) and exact "
                            "searches the values as stored (its bytes stay those of the float32 store). "
                            "accuracy@10: share of the uncompressed exact top 10 found. size_ratio, "
                            "latency_ratio and delta nDCG@10 (points, x100): against the same model and "
                            "engine uncompressed.")]
    if skipped:
        blocks.append(Block("text", "Not applicable (the engine has no such parameter): " + "; ".join(skipped) + "."))
    how = (f"chosen on the '{chosen_on}' split, reported on '{grid.split}'" if held_out else
           f"chosen and reported on '{grid.split}' (no --tune-split: optimistic)")
    blocks += [Block("h2", "Recommended settings"),
               Block("table", recommended if not recommended.empty else pd.DataFrame({"note": ["no setting qualifies"]}),
                     f"Per model and engine, the smallest index within {max_loss:g} points of nDCG@10 of the "
                     f"uncompressed one ({how}). halves_bytes: size_ratio <= 0.5.")]
    if not sizes.empty:
        blocks += [Block("h2", "Index size across models"),
                   Block("table", sizes, "ratio_uncompressed: model's index bytes / the smallest model's, both "
                                         "uncompressed; ratio_recommended: both at their recommended settings; "
                                         "ratio_model_compressed_only: the model compressed, the other not.")]
    if not ok.empty:
        blocks += [Block("h2", "Size vs effectiveness"),
                   Block("image", plots.size_pareto(ok, figures / "compression.png", "nDCG@10",
                                                    title="Index size vs nDCG@10"),
                         "Index bytes against nDCG@10, one line per engine and model (its Pareto frontier); "
                         "markers: compression family.")]
    blocks += [Block("h2", "All cells"), Block("table", ok[[c for c in TABLE_COLUMNS if c in ok.columns]])]
    failed = table[table["status"] != "ok"]
    if not failed.empty:
        blocks += [Block("h2", "Failed cells"), Block("table", failed[["cell", "error"]],
                                                      "Fix and re-run: only these cells are computed again.")]
    blocks += [Block("h2", "Files"), Block("text", "compression.csv (one row per cell), recommended.csv, "
                                                   "runs/ and cells/ (per cell), artifacts/ (compressed stores, "
                                                   "indexes, tables, queries); tune-<split>/ (cells and runs on "
                                                   "the tuning split).")]
    write_report(blocks, out, f"lilsr ablate compression: {grid.collection}")
