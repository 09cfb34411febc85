"""The lambda_d sweep: one training run per document regularization strength, chosen on dev, tested once.

A sweep folder holds one run folder per variant (``big``, ``medium``, ``small`` or ``lambda-1e-05``...),
each with its ``eval/results.json``, and the table of all of them: ``sweep.csv``, ``sweep.md`` and
``manifest.json`` (kind ``lilsr.sweep``). Only lambda_d varies (the query side keeps the base config's
``--reg-q``/``--lambda-q``) unless ``tie_lambda_q`` asks lambda_q to follow.

Every variant is evaluated on its dev set first (carved from the training queries, the same queries for
every variant since the carve is seeded); the best variant is chosen there. Only when every variant is
trained are the test targets evaluated, once, and reported beside the dev figures, labelled. Re-running
the same command skips finished runs and evaluations and resumes an interrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from ..atomic import atomic_file
from ..errors import LilsrError
from ..manifest import write_manifest
from .config import PRESETS, TrainConfig
from .evaluation import ENCODERS, evaluate_targets, run_targets
from .loop import train


def parse_lambdas(text: str, option: str) -> list[float]:
    """Comma-separated regularization weights: finite, non-negative numbers, at least one, no repeats."""
    import math

    values = []
    for part in str(text).split(","):
        try:
            value = float(part)
        except ValueError:
            raise LilsrError(f"{option} expects comma-separated numbers (e.g. 1e-5,1e-4), got {part.strip()!r}") from None
        if not math.isfinite(value) or value < 0:
            raise LilsrError(f"{option}: {part.strip()} is not a finite number >= 0")
        values.append(value)
    if len(set(values)) != len(values):
        raise LilsrError(f"{option} lists a value twice: {text}")
    return values


def variants(presets: Sequence[str] | None, lambdas: Sequence[float] | None,
             lambdas_q: Sequence[float] | None = None) -> list[tuple[str, float, float | None]]:
    """(name, lambda_d, lambda_q or None for the base config's) per run; a lambda_q grid crosses the lambda_d runs."""
    if lambdas:
        runs = [(f"lambda-{value:g}", float(value)) for value in lambdas]
    else:
        names = list(presets or PRESETS)
        unknown = [n for n in names if n not in PRESETS]
        if unknown:
            raise LilsrError(f"unknown preset {unknown[0]!r}; choose from {', '.join(PRESETS)}")
        runs = [(name, PRESETS[name]["lambda_d"]) for name in names]
    if not lambdas_q:
        return [(name, lambda_d, None) for name, lambda_d in runs]
    return [(f"{name}-q{lq:g}", lambda_d, float(lq)) for name, lambda_d in runs for lq in lambdas_q]


def run_sweep(base: TrainConfig, out: str | Path, *, presets: Sequence[str] | None = None,
              lambdas: Sequence[float] | None = None, lambdas_q: Sequence[float] | None = None,
              tie_lambda_q: bool = False, eval_max_length: int | None = None,
              encoders: Sequence[str] = ENCODERS, progress: bool = True, overwrite: bool = False) -> list[dict]:
    out = Path(out)
    if (out / "manifest.json").is_file() and not overwrite:
        raise LilsrError(f"{out} holds a finished sweep; pass --overwrite to run it again")
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    if lambdas_q and tie_lambda_q:
        raise LilsrError("tie_lambda_q lets lambda_q follow lambda_d: give it or a lambda_q grid, not both")
    for name, lambda_d, lambda_q in variants(presets, lambdas, lambdas_q):
        lambda_q = lambda_d if tie_lambda_q else (base.lambda_q if lambda_q is None else lambda_q)
        config = base.replace(lambda_d=lambda_d, lambda_q=lambda_q,
                              preset=name if name in PRESETS else None).validate()
        run = out / name
        if not (run / "manifest.json").is_file() or overwrite:
            result = train(config, run, overwrite=overwrite and (run / "manifest.json").is_file(), progress=progress)
            for warning in result.warnings if result is not None else ():
                print(f"{name}: {warning}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        _evaluate(run, config, ("dev",), encoders, eval_max_length, progress, overwrite)
        runs.append((name, config, time.perf_counter() - started))
    rows = []
    for name, config, dev_seconds in runs:  # test: once, after every choice is made
        run = out / name
        started = time.perf_counter()
        results = _evaluate(run, config, ("test",), ("table",), eval_max_length, progress, False)
        manifest = json.loads((run / "manifest.json").read_text())
        rows.append(sweep_row(name, config, manifest, results, dev_seconds + time.perf_counter() - started))
        rows[-1]["checkpoint"] = str((run / "model").resolve())
    best = max(rows, key=lambda r: r["dev_nDCG@10"])
    for row in rows:
        row["best_on_dev"] = row is best
    write_sweep(out, rows, base, presets, lambdas, tie_lambda_q, lambdas_q)
    return rows


def _evaluate(run: Path, config: TrainConfig, roles, encoders, eval_max_length, progress, overwrite) -> dict:
    eval_dir = run / "eval"
    if overwrite and (eval_dir / "results.json").is_file() and "dev" in roles:
        (eval_dir / "results.json").unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    return evaluate_targets(run / "model", run / "table", run_targets(run), eval_dir, encoders=encoders,
                            max_length=eval_max_length or config.max_length, heldout=manifest.get("heldout"),
                            roles=roles, progress=progress)


def sweep_row(name: str, config: TrainConfig, manifest: dict, results: dict, eval_seconds: float) -> dict:
    main = "table" if config.query_side == "static" else "contextual"
    targets = results["targets"]
    dev = next(r for r in targets.values() if r["role"] == "dev")
    encoders = dev["encoders"]
    counts = manifest.get("counts", {})
    row = {"name": name, "lambda_d": config.lambda_d, "lambda_q": config.lambda_q,
           "doc_nnz": round(dev["doc_nnz"], 1), "query_nnz": round(encoders[main]["query_nnz"], 2),
           "flops": encoders[main]["flops"], "dev_nDCG@10": encoders[main]["nDCG@10"],
           "train_minutes": round(counts.get("train_seconds", 0) / 60, 1),
           "eval_minutes": round(eval_seconds / 60, 1), "seconds_per_step": counts.get("seconds_per_step")}
    for kind in ("idf", "binary", "contextual"):
        row[f"dev_{kind}_nDCG@10"] = encoders.get(kind, {}).get("nDCG@10")
    row["test"] = {label: {"nDCG@10": r["encoders"].get(main, {}).get("nDCG@10"),
                           "judged_docs_seen_in_training": r.get("judged_docs_seen_in_training")}
                   for label, r in targets.items() if r["role"] == "test"}
    return row


COLUMNS = ("name", "lambda_d", "lambda_q", "doc_nnz", "query_nnz", "flops", "dev_nDCG@10", "dev_idf_nDCG@10",
           "dev_binary_nDCG@10", "dev_contextual_nDCG@10", "best_on_dev", "train_minutes", "eval_minutes",
           "seconds_per_step", "checkpoint")


def write_sweep(out: Path, rows: list[dict], base: TrainConfig, presets, lambdas, tie_lambda_q,
                lambdas_q=None) -> None:
    labels = sorted({label for r in rows for label in r["test"]})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *(f"test {label} nDCG@10" for label in labels)])
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: r.get(k) for k in COLUMNS},
                         **{f"test {label} nDCG@10": r["test"].get(label, {}).get("nDCG@10") for label in labels}})
    with atomic_file(out / "sweep.csv") as handle:
        handle.write(buffer.getvalue())
    with atomic_file(out / "sweep.md") as handle:
        handle.write(format_sweep(rows, base) + "\n")
    write_manifest(out, "lilsr.sweep", params={**base.to_dict(), "presets": presets, "lambdas": lambdas,
                                               "lambdas_q": lambdas_q, "tie_lambda_q": tie_lambda_q},
                   counts={"runs": len(rows)}, rows=rows, hash_files=["sweep.csv"])


def format_sweep(rows: list[dict], base: TrainConfig) -> str:
    main = "table" if base.query_side == "static" else "contextual"
    labels = sorted({label for r in rows for label in r["test"]})
    lines = [f"Sweep of lambda_d on {base.collection} ({base.base}, query side {base.query_side}, "
             f"{base.reg_q} lambda_q {base.lambda_q:g} unless tied or gridded: see each row); exact engine, "
             f"queries encoded with '{main}'. Chosen on dev (* best); test evaluated once after all runs, never chosen on.", "",
             "| run | lambda_d | lambda_q | doc non-zeros | query non-zeros | FLOPS | dev nDCG@10 | dev idf | "
             "dev binary | dev contextual | " + " | ".join(f"TEST {label} nDCG@10" for label in labels) +
             (" | " if labels else "") + "train min | eval min |",
             "|---" * (12 + len(labels)) + "|"]
    for r in rows:
        cells = [r["name"] + (" *" if r.get("best_on_dev") else ""), f"{r['lambda_d']:g}", f"{r['lambda_q']:g}",
                 f"{r['doc_nnz']:.1f}", f"{r['query_nnz']:.2f}", f"{r['flops']:.2f}", f"{r['dev_nDCG@10']:.4f}"]
        cells += [f"{r[k]:.4f}" if r.get(k) is not None else "-"
                  for k in ("dev_idf_nDCG@10", "dev_binary_nDCG@10", "dev_contextual_nDCG@10")]
        for label in labels:
            test = r["test"].get(label, {})
            value = test.get("nDCG@10")
            seen = test.get("judged_docs_seen_in_training")
            cells.append("-" if value is None else f"{value:.4f}" + (f" (saw {seen} judged)" if seen else ""))
        cells += [f"{r['train_minutes']:.1f}", f"{r['eval_minutes']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
