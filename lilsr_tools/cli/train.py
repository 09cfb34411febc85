"""``lilsr train`` and ``lilsr sweep``."""

from __future__ import annotations

import click

from . import options


def training_options(func):
    """Options shared by train and sweep; None means 'take it from the profile, preset or defaults'."""
    for option in reversed([
        click.option("--profile", type=click.Choice(["cpu", "gpu"]), default=None,
                     help="Machine-sized settings: cpu (splade-tiny, length 128, ~1 s/step on 2 cores, 1200 steps) "
                          "or gpu (MiniLM with a tied MLM head, length 256, larger batches)."),
        click.option("--base", default=None, help="Base checkpoint: a preset (splade-tiny, minilm) or a masked-LM folder."),
        click.option("--query-side", type=click.Choice(["static", "contextual"]), default=None,
                     help="static: Li-LSR lookup table (default); contextual: plain SPLADE queries (ablation)."),
        click.option("--head-init", type=click.Choice(["untrained", "idf"]), default=None,
                     help="Start of the Li-LSR head: untrained (binary-like, default) or fitted to the base model's idf."),
        click.option("--split", default=None, help="Qrels split to train on (default: train)."),
        click.option("--teacher", default=None,
                     help="Dense bi-encoder (minilm, or a sentence-transformers folder) or a 'qid docid score' file."),
        click.option("--teacher-max-length", type=int, default=None,
                     help="Token limit of a dense teacher (default its own: 256 for MiniLM; 128 halves its time)."),
        click.option("--teacher-temperature", type=float, default=None,
                     help="Teacher logits = score / T (default 0.05 for a dense teacher, 1 for a score file)."),
        click.option("--negatives", type=click.Choice(["exact", "bm25", "scores"]), default=None,
                     help="Negative mining: the base model's exact search (default), the bm25 engine, or the "
                          "candidates of a --teacher score file."),
        click.option("--negatives-depth", type=int, default=None, help="Mined pool per query (default 50)."),
        click.option("--n-negatives", type=int, default=None, help="Negatives per query in a batch."),
        click.option("--triples", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Reuse a triples.jsonl of an earlier run instead of mining."),
        click.option("--mine-vectors", type=click.Path(exists=True, file_okay=False), default=None,
                     help="An existing vector store of the base model to mine negatives with."),
        click.option("--loss", type=click.Choice(["kl", "margin-mse"]), default=None, help="Ranking loss (default kl)."),
        click.option("--ce-weight", type=float, default=None,
                     help="Add this x cross-entropy with the qrels positive as label (default 0)."),
        click.option("--regularizer", type=click.Choice(["l1", "flops"]), default=None, help="Default l1."),
        click.option("--lambda-d", type=float, default=None, help="Document regularization weight."),
        click.option("--lambda-q", type=float, default=None, help="Query regularization weight."),
        click.option("--reg-warmup-steps", type=int, default=None,
                     help="Steps over which the lambdas ramp up as (t/T)^2 (default: a third of the steps)."),
        click.option("--steps", type=int, default=None,
                     help="Optimizer steps (default 1200); the learning-rate warm-up (--warmup-steps) and the "
                          "lambda ramp (--reg-warmup-steps) count within them."),
        click.option("--batch-size", type=int, default=None, help="Queries per micro-batch."),
        click.option("--grad-accum", type=int, default=None, help="Micro-batches per optimizer step."),
        click.option("--lr", type=float, default=None, help="Encoder learning rate."),
        click.option("--head-lr", type=float, default=None, help="Li-LSR head learning rate."),
        click.option("--warmup-steps", type=int, default=None, help="Linear learning-rate warm-up."),
        click.option("--grad-clip", type=float, default=None,
                     help="Clip the gradient's global L2 norm to this value (default 1.0)."),
        click.option("--seed", type=int, default=None,
                     help="Random seed of sampling, negatives and initialisation (default 0)."),
        click.option("--bf16/--no-bf16", default=None, help="bfloat16 autocast (CPU or CUDA)."),
        click.option("--max-length", type=int, default=None, help="Document token limit."),
        click.option("--query-max-length", type=int, default=None, help="Query token limit."),
        click.option("--save-every", type=int, default=None, help="Checkpoint every N steps."),
        click.option("--device", default=None, help="cpu or cuda."),
        options.threads,
    ]):
        func = option(func)
    return func


def build_config(collection, profile, preset, **values):
    from ..training.config import make_config

    return make_config(profile=profile, preset=preset, collection=collection, **values)


@click.command("train")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--preset", type=click.Choice(["big", "medium", "small"]), default=None,
              help="Regularization strength: big (lambda 1e-5), medium (1e-4), small (1e-3).")
@training_options
@click.option("--evaluate/--no-evaluate", "run_eval", default=True, show_default=True,
              help="Encode the collection with the trained model and evaluate every query encoder.")
@click.option("--eval-split", default="test", show_default=True, help="Qrels split of the final evaluation.")
@click.option("--eval-max-length", type=int, default=None, help="Document length for evaluation (default: training's).")
@options.overwrite
def train(collection, out, preset, profile, run_eval, eval_split, eval_max_length, overwrite, **values):
    """Train a Li-LSR model on COLLECTION's train split into OUT (re-run the same command to resume).

    OUT/model is a Hugging Face checkpoint with lilsr_head.safetensors, OUT/table the query table; with
    --evaluate, OUT/eval/results.json holds nDCG@10 of the table, idf, binary and contextual encoders."""
    from pathlib import Path

    from ..training.evaluation import evaluate_model, format_results
    from ..training.loop import train as run_training

    config = build_config(collection, profile, preset, **values)
    result = run_training(config, out, overwrite=overwrite)
    click.echo(f"{out}: {result.steps} steps in {result.seconds / 60:.1f} min "
               f"({result.seconds / max(1, result.steps):.2f} s/step); final loss {result.last.get('loss', 0):.4f}, "
               f"doc non-zeros {result.last.get('doc_nnz', 0):.0f}; model {result.model}, table {result.table}")
    if run_eval:
        results = evaluate_model(result.model, result.table, collection, Path(out) / "eval", split=eval_split,
                                 max_length=eval_max_length or config.max_length)
        click.echo(format_results(results))


@click.command("sweep")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--presets", default="big,medium,small", show_default=True, help="Comma-separated presets to train.")
@click.option("--lambdas", default=None, help="Or: comma-separated lambda_d values (lambda_q = lambda_d).")
@training_options
@click.option("--eval-split", default="test", show_default=True, help="Qrels split of the final evaluation.")
@click.option("--eval-max-length", type=int, default=None, help="Document length for evaluation (default: training's).")
@options.overwrite
def sweep(collection, out, presets, lambdas, profile, eval_split, eval_max_length, overwrite, **values):
    """Train one model per preset (or lambda) on COLLECTION and tabulate non-zeros, FLOPS and nDCG@10.

    Writes OUT/<run>/ per model and OUT/sweep.csv, OUT/sweep.md; re-run to resume."""
    from ..errors import LilsrError
    from ..training.sweep import format_sweep, run_sweep

    try:
        lambda_list = [float(v) for v in lambdas.split(",")] if lambdas else None
    except ValueError:
        raise LilsrError(f"--lambdas expects comma-separated numbers, got {lambdas!r}") from None
    values = {k: v for k, v in values.items() if k not in ("lambda_d", "lambda_q")}
    config = build_config(collection, profile, None, **values)
    rows = run_sweep(config, out, presets=[p for p in presets.split(",") if p] if not lambda_list else None,
                     lambdas=lambda_list, eval_split=eval_split, eval_max_length=eval_max_length, overwrite=overwrite)
    click.echo(format_sweep(rows, config, eval_split))


commands = [train, sweep]
