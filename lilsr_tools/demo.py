"""``make demo``: SciFact end to end with the offline splade-tiny model, within a quarter of an hour on 2 cores.

1. encode SciFact with splade-tiny (the untrained-for-Li-LSR baseline; its table is idf over its vectors);
2. train two Li-LSR models briefly on SciFact train (KL distillation from MiniLM + L1), the Small preset
   (lambda_d 1e-3: sparse documents) and the Big one (1e-5: dense), their negatives mined from the
   vectors of step 1 (no second encoding; the teacher's embeddings and the mined pools are cached, so the
   second run prepares in seconds);
3. compare BM25, splade-tiny and the two Li-LSR models (table and contextual queries) on Lucene, the native
   index and exact search, and write the report, whose Findings say how the denser model's documents
   moved each engine's latency: the project's question, at demo scale (docs/scale.md for 1M documents).

Everything lands in ``demo-output/`` (or ``$LILSR_DEMO_OUT``); a re-run reuses what is finished (a
finished training run of the same config is read back, not trained again).
``LILSR_DEMO_STEPS`` sets each model's training steps (default 150; each is about 1.1 s on 2 cores).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .errors import LilsrError
from .data.collection import resolve_collection
from .reports.compare import compare
from .reports.findings import DENSITY
from .reports.grid import EngineSpec, Grid, ModelSpec
from .reports.headers import readable
from .reports.workspace import Workspace

# Two models in the time one 200-step model left to spare (that demo measured 7.3-9.0 min in all):
# 2 x 150 steps is about 2 minutes more of training, the second model's corpus encoding and cells an
# estimated 2 more (to be re-measured with `make demo`).
DEMO_STEPS = int(os.environ.get("LILSR_DEMO_STEPS", "150"))
DEMO_PRESETS = ("small", "big")  # sparse, then dense documents: the two ends of the lambda sweep
BASE = ModelSpec("splade-tiny", checkpoint="splade-tiny", max_length=256)
SHOWN = ["cell", "nDCG@10", "sig", "R@1000", "accuracy@10", "mean_doc_nnz", "encode_mean_ms", "retrieval_p50_ms"]


def training_config(preset: str, mine_vectors: Path, steps: int = DEMO_STEPS):
    """A brief Li-LSR run (CPU profile) of ``preset``; the presets differ in lambda_d alone.

    Sized for the demo's time: negatives mined from the splade-tiny vectors the comparison uses anyway,
    a 20-deep pool (about 4,100 distinct documents for the teacher instead of 4,900) and the teacher read
    at 128 tokens (half its time at 256)."""
    from .training.config import make_config

    return make_config(profile="cpu", preset=preset, steps=steps, collection="scifact", save_every=steps,
                       mine_vectors=str(mine_vectors), negatives_depth=20, teacher_max_length=128)


def finished_model(run: Path, config) -> Path | None:
    """The model of a finished run in ``run`` made with ``config`` (a re-run of the demo); None when the run
    is not finished. A finished run of another config (say, other ``LILSR_DEMO_STEPS``) is refused:
    the demo never retrains over a finished run silently."""
    import json

    from .training.loop import _comparable

    if not (run / "manifest.json").is_file() or not (run / "model").is_dir():
        return None
    try:
        previous = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        previous = None
    current = _comparable(config.to_dict())
    if previous is None or {k: previous.get(k) for k in current} != current:
        changed = sorted(k for k in current if previous is None or previous.get(k) != current[k])
        raise LilsrError(f"{run} holds a finished training run of another config ({', '.join(changed)} differ); "
                         "remove it, or set LILSR_DEMO_OUT to another folder")
    return run / "model"


def train_demo_models(out: Path, mine_vectors: Path, presets=DEMO_PRESETS) -> list[ModelSpec]:
    """One Li-LSR model per preset (``lilsr-small``, ``lilsr-big``), trained or read back when finished."""
    try:
        from .training.loop import train
    except ImportError as exc:  # training not installed in this checkout
        print(f"demo: skipping the trained models ({exc})", file=sys.stderr)
        return []
    models = []
    for preset in presets:
        config = training_config(preset, mine_vectors)
        run = out / f"lilsr-{preset}"
        model = finished_model(run, config)
        if model is None:
            result = train(config, run)  # resumes an interrupted run of the same config
            model = result.model if result is not None else None
        if model is not None:
            models.append(ModelSpec(f"lilsr-{preset}", checkpoint=str(model), max_length=256))
    return models


def demo_grid(models: list[ModelSpec]) -> Grid:
    """BM25 and every model (table and contextual queries) on Lucene, the native index and exact search;
    significance against BM25 and between the models at the same engine and encoder."""
    return Grid(collection="scifact", split="test", k=1000, threads=1, baseline="bm25", models=models,
                encoders=["table", "contextual"],
                engines=[EngineSpec("bm25"), EngineSpec("lucene"), EngineSpec("native"), EngineSpec("exact")])


def missing_answer(findings: list[str], models: list[ModelSpec]) -> str | None:
    """A line for the terminal when the report cannot answer the demo's question: the two trained models
    missing, or their documents of about the same density (no density findings)."""
    trained = [m.name for m in models if m.name.startswith("lilsr-")]
    if len(trained) < 2:
        return "demo: fewer than two trained models, so the report cannot say how density moved latency"
    if not any(sentence.startswith(DENSITY) for sentence in findings):
        return (f"demo: {' and '.join(trained)} ended at about the same document density, so the report has no "
                "density findings; raise LILSR_DEMO_STEPS (each model trains that many steps)")
    return None


def main() -> int:
    out = Path(os.environ.get("LILSR_DEMO_OUT", "demo-output")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        # the comparison's own splade-tiny vectors, encoded first so that training mines with them
        workspace = Workspace(out / "compare", resolve_collection("scifact"), "test")
        base_vectors = Path(workspace.vectors(BASE).path)
        models = [BASE, *train_demo_models(out / "train", base_vectors)]
        result = compare(demo_grid(models), out / "compare")
    except LilsrError as exc:
        print(f"lilsr: error: {exc}", file=sys.stderr)
        return 2
    frame = result.frame
    ok = frame[frame["status"] == "ok"]
    print()
    shown = ok[[c for c in SHOWN if c in ok.columns]]
    print(shown.rename(columns=readable).to_string(index=False, na_rep="",
                                                   float_format=lambda v: f"{v:.4f}"))
    failed = frame[frame["status"] != "ok"]
    for _, row in failed.iterrows():
        print(f"failed: {row['cell']}: {row['error']}")
    if result.findings:
        print("\nFindings:")
        for sentence in result.findings:
            print(f"- {sentence}")
    note = missing_answer(result.findings, models)
    if note:
        print(note, file=sys.stderr)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min")
    print(f"report: {result.report_html}")
    return 0 if failed.empty else 1


if __name__ == "__main__":
    sys.exit(main())
