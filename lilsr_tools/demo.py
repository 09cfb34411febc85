"""``make demo``: SciFact end to end with the offline splade-tiny model, in about a quarter of an hour on 2 cores.

1. encode SciFact with splade-tiny (the untrained-for-Li-LSR baseline; its table is idf over its vectors);
2. train a Li-LSR model briefly on SciFact train (KL distillation from MiniLM + L1, the Big preset), its
   negatives mined from the vectors of step 1 (no second encoding);
3. compare BM25, splade-tiny (table and contextual queries) and the Li-LSR model on Lucene, the native
   index and exact search, and write the report.

Everything lands in ``demo-output/`` (or ``$LILSR_DEMO_OUT``); a re-run reuses what is finished.
``LILSR_DEMO_STEPS`` sets the training steps (default 200; each is about 1.1 s on 2 cores).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .errors import LilsrError
from .data.collection import resolve_collection
from .reports.compare import compare
from .reports.grid import EngineSpec, Grid, ModelSpec
from .reports.workspace import Workspace

DEMO_STEPS = int(os.environ.get("LILSR_DEMO_STEPS", "200"))


def train_demo_model(out: Path, mine_vectors: Path) -> Path | None:
    """A brief Li-LSR run (CPU profile, Big preset). Returns the checkpoint folder.

    Sized for the demo's time: negatives mined from the splade-tiny vectors the comparison uses anyway,
    a 20-deep pool (about 4,100 distinct documents for the teacher instead of 4,900) and the teacher read
    at 128 tokens (half its time at 256)."""
    try:
        from .training.config import make_config
        from .training.loop import train
    except ImportError as exc:  # training not installed in this checkout
        print(f"demo: skipping the trained model ({exc})", file=sys.stderr)
        return None
    config = make_config(profile="cpu", preset="big", steps=DEMO_STEPS, collection="scifact",
                         save_every=DEMO_STEPS, mine_vectors=str(mine_vectors), negatives_depth=20,
                         teacher_max_length=128)
    result = train(config, out / "lilsr-big")
    return result.model if result is not None else None


def main() -> int:
    out = Path(os.environ.get("LILSR_DEMO_OUT", "demo-output")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    models = [ModelSpec("splade-tiny", checkpoint="splade-tiny", max_length=256)]
    try:
        # the comparison's own splade-tiny vectors, encoded first so that training mines with them
        workspace = Workspace(out / "compare", resolve_collection("scifact"), "test")
        base_vectors = Path(workspace.vectors(models[0]).path)
        checkpoint = train_demo_model(out / "train", base_vectors)
        if checkpoint is not None:
            models.append(ModelSpec("lilsr-big", checkpoint=str(checkpoint), max_length=256))
        grid = Grid(collection="scifact", split="test", k=1000, threads=1, baseline="bm25", models=models,
                    encoders=["table", "contextual"],
                    engines=[EngineSpec("bm25"), EngineSpec("lucene"), EngineSpec("native"), EngineSpec("exact")])
        result = compare(grid, out / "compare")
    except LilsrError as exc:
        print(f"lilsr: error: {exc}", file=sys.stderr)
        return 2
    frame = result.frame
    ok = frame[frame["status"] == "ok"]
    print()
    print(ok[["cell", "nDCG@10", "R@1000", "accuracy@10", "encode_mean_ms", "retrieval_mean_ms"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    failed = frame[frame["status"] != "ok"]
    for _, row in failed.iterrows():
        print(f"failed: {row['cell']}: {row['error']}")
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min")
    print(f"report: {result.report_html}")
    return 0 if failed.empty else 1


if __name__ == "__main__":
    sys.exit(main())
