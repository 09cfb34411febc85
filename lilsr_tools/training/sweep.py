"""The lambda sweep: one training run per regularization strength, each encoded and evaluated.

A sweep folder holds one run folder per variant (``big``, ``medium``, ``small`` or ``lambda-1e-05``...),
each with its ``eval/results.json``, and the table of all of them: ``sweep.csv``, ``sweep.md`` and
``manifest.json`` (kind ``lilsr.sweep``). Re-running the same command skips finished runs and
evaluations and resumes an interrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Sequence

from ..atomic import atomic_file
from ..errors import LilsrError
from ..manifest import write_manifest
from .config import PRESETS, TrainConfig
from .evaluation import ENCODERS, evaluate_model
from .loop import train

COLUMNS = ("name", "lambda_d", "lambda_q", "doc_nnz", "query_nnz", "flops", "nDCG@10", "idf_nDCG@10",
           "binary_nDCG@10", "contextual_nDCG@10", "train_minutes", "eval_minutes", "seconds_per_step")


def variants(presets: Sequence[str] | None, lambdas: Sequence[float] | None) -> list[tuple[str, float, float]]:
    """(name, lambda_d, lambda_q) per run; explicit lambdas use lambda_q = lambda_d."""
    if lambdas:
        return [(f"lambda-{value:g}", float(value), float(value)) for value in lambdas]
    names = list(presets or PRESETS)
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise LilsrError(f"unknown preset {unknown[0]!r}; choose from {', '.join(PRESETS)}")
    return [(name, PRESETS[name]["lambda_d"], PRESETS[name]["lambda_q"]) for name in names]


def run_sweep(base: TrainConfig, out: str | Path, *, presets: Sequence[str] | None = None,
              lambdas: Sequence[float] | None = None, eval_split: str = "test", eval_max_length: int | None = None,
              encoders: Sequence[str] = ENCODERS, progress: bool = True, overwrite: bool = False) -> list[dict]:
    out = Path(out)
    if (out / "manifest.json").is_file() and not overwrite:
        raise LilsrError(f"{out} holds a finished sweep; pass --overwrite to run it again")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, lambda_d, lambda_q in variants(presets, lambdas):
        config = base.replace(lambda_d=lambda_d, lambda_q=lambda_q,
                              preset=name if name in PRESETS else None).validate()
        run = out / name
        if not (run / "manifest.json").is_file() or overwrite:
            train(config, run, overwrite=overwrite and (run / "manifest.json").is_file(), progress=progress)
        manifest = json.loads((run / "manifest.json").read_text())
        results_file = run / "eval" / "results.json"
        eval_started = time.perf_counter()
        if results_file.is_file() and not overwrite:
            results = json.loads(results_file.read_text())
        else:
            results = evaluate_model(run / "model", run / "table", base.collection, run / "eval", split=eval_split,
                                     encoders=encoders, max_length=eval_max_length or config.max_length,
                                     progress=progress)
        rows.append(sweep_row(name, config, manifest, results, time.perf_counter() - eval_started))
    write_sweep(out, rows, base, presets, lambdas, eval_split)
    return rows


def sweep_row(name: str, config: TrainConfig, manifest: dict, results: dict, eval_seconds: float) -> dict:
    encoders = results["encoders"]
    main = "table" if config.query_side == "static" else "contextual"
    counts = manifest.get("counts", {})
    row = {"name": name, "lambda_d": config.lambda_d, "lambda_q": config.lambda_q,
           "doc_nnz": round(results["doc_nnz"], 1), "query_nnz": round(encoders[main]["query_nnz"], 2),
           "flops": encoders[main]["flops"], "nDCG@10": encoders[main]["nDCG@10"],
           "train_minutes": round(counts.get("train_seconds", 0) / 60, 1),
           "eval_minutes": round(results.get("eval_seconds", eval_seconds) / 60, 1),
           "seconds_per_step": counts.get("seconds_per_step")}
    for kind in ("idf", "binary", "contextual"):
        row[f"{kind}_nDCG@10"] = encoders.get(kind, {}).get("nDCG@10")
    return row


def write_sweep(out: Path, rows: list[dict], base: TrainConfig, presets, lambdas, split: str) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_file(out / "sweep.csv") as handle:
        handle.write(buffer.getvalue())
    with atomic_file(out / "sweep.md") as handle:
        handle.write(format_sweep(rows, base, split) + "\n")
    write_manifest(out, "lilsr.sweep", params={**base.to_dict(), "presets": presets, "lambdas": lambdas,
                                               "eval_split": split},
                   counts={"runs": len(rows)}, rows=rows, hash_files=["sweep.csv"])


def format_sweep(rows: list[dict], base: TrainConfig, split: str) -> str:
    main = "table" if base.query_side == "static" else "contextual"
    lines = [f"Sweep on {base.collection} ({base.base}, query side {base.query_side}); effectiveness on "
             f"'{split}' with the exact engine, queries encoded with '{main}'.", "",
             "| run | lambda_d | lambda_q | doc non-zeros | query non-zeros | FLOPS | nDCG@10 | idf nDCG@10 | "
             "binary nDCG@10 | contextual nDCG@10 | train min | eval min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["name"], f"{r['lambda_d']:g}", f"{r['lambda_q']:g}", f"{r['doc_nnz']:.1f}", f"{r['query_nnz']:.2f}",
                 f"{r['flops']:.2f}", f"{r['nDCG@10']:.4f}"]
        cells += [f"{r[k]:.4f}" if r.get(k) is not None else "-"
                  for k in ("idf_nDCG@10", "binary_nDCG@10", "contextual_nDCG@10")]
        cells += [f"{r['train_minutes']:.1f}", f"{r['eval_minutes']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
