"""``lilsr train`` and ``lilsr sweep``."""

from __future__ import annotations

import click

from . import options


LAMBDA_Q_GRID = click.option(
    "--lambda-q", default=None,
    help="Query regularization weight: one value, or comma-separated values, a grid crossed with the lambda_d "
         "runs (default 1e-4; presets leave it alone).")


def training_options(func=None, *, lambda_q_grid: bool = False):
    """Options shared by train and sweep; None means 'take it from the profile, preset or defaults'. With
    ``lambda_q_grid`` (sweep), --lambda-q takes comma-separated values."""
    if func is None:
        return lambda f: training_options(f, lambda_q_grid=lambda_q_grid)
    for option in reversed([
        click.option("--profile", type=click.Choice(["cpu", "gpu"]), default=None,
                     help="Machine-sized settings: cpu (splade-tiny, length 128, ~1 s/step on 2 cores, 1200 steps) "
                          "or gpu (MiniLM with a tied MLM head, length 256, larger batches)."),
        click.option("--base", default=None, help="Base checkpoint: a preset (splade-tiny, minilm) or a masked-LM folder."),
        click.option("--query-side", type=click.Choice(["static", "contextual"]), default=None,
                     help="static: Li-LSR lookup table (default); contextual: plain SPLADE queries (ablation)."),
        click.option("--head-init", type=click.Choice(["untrained", "idf"]), default=None,
                     help="Start of the Li-LSR head: untrained (binary-like, default) or fitted to BM25 idf over "
                          "the collection's text."),
        click.option("--head-center/--no-head-center", "head_center", default=None,
                     help="The head reads the word embeddings minus their vocabulary mean (the same table family; "
                          "the common component no longer moves every token alike; docs/training.md)."),
        click.option("--query-dup", type=click.Choice(["sum", "max"]), default=None,
                     help="How a repeated query token counts in training and in the table's lookup: sum (each "
                          "time, default) or max (once); recorded in the table's manifest."),
        click.option("--split", default=None, help="Qrels split to train on (default: train)."),
        click.option("--eval", "evals", multiple=True,
                     help="Evaluation target COLLECTION:SPLIT (repeatable; default the collection's test split; "
                          "'none' for no target). Documents judged in a target on the same corpus never train "
                          "the model."),
        click.option("--allow-eval-docs", is_flag=True, default=None,
                     help="Let documents judged in the evaluation targets be training positives, teacher "
                          "candidates and negatives (recorded; reports state the overlap)."),
        click.option("--dev-fraction", type=float, default=None,
                     help="Share of the training queries carved out as dev, seeded by --seed (default 0.1; "
                          "in (0, 0.5]). Built-in evaluation and sweep choose on dev."),
        click.option("--dev-split", default=None, help="Or: a named qrels split of the collection as dev."),
        click.option("--allow-dev-docs", is_flag=True, default=None,
                     help="Let documents judged for dev queries train the model (by default they are held out "
                          "like test documents, so that dev measures what test will)."),
        click.option("--teacher", default=None,
                     help="Dense bi-encoder (minilm, or a sentence-transformers folder), a cross-encoder (a local "
                          "sequence-classification folder), or a score file: 'qid docid score' lines, a TREC run, "
                          "or MS MARCO-style JSON lines with positives/negatives and their scores."),
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
        click.option("--in-batch/--no-in-batch", "in_batch_negatives", default=None,
                     help="The positive cross-entropy also over the other queries' candidates of the batch "
                          "(in-batch negatives; needs --ce-weight > 0)."),
        click.option("--reg-d", type=click.Choice(["l1", "flops"]), default=None,
                     help="Document-side regularizer (default l1)."),
        click.option("--reg-q", type=click.Choice(["l1", "flops"]), default=None,
                     help="Query-side regularizer, on the table weights of the batch's queries (default l1)."),
        click.option("--lambda-d", type=float, default=None,
                     help="Document regularization weight (presets: big 1e-5, medium 1e-4, small 1e-3)."),
        LAMBDA_Q_GRID if lambda_q_grid else click.option(
            "--lambda-q", type=float, default=None,
            help="Query regularization weight (default 1e-4; presets leave it alone)."),
        click.option("--reg-warmup-steps", type=int, default=None,
                     help="Steps over which the lambdas ramp up as (t/T)^2 (default: a third of the steps)."),
        click.option("--steps", type=int, default=None,
                     help="Optimizer steps (profile cpu: 1200, gpu: 800); the learning-rate warm-up "
                          "(--warmup-steps) and the lambda ramp (--reg-warmup-steps) count within them."),
        click.option("--batch-size", type=int, default=None, help="Queries per micro-batch."),
        click.option("--grad-accum", type=int, default=None, help="Micro-batches per optimizer step."),
        click.option("--lr", type=float, default=None, help="Encoder learning rate."),
        click.option("--head-lr", type=float, default=None, help="Li-LSR head learning rate."),
        click.option("--warmup-steps", type=int, default=None, help="Linear learning-rate warm-up."),
        click.option("--grad-clip", type=float, default=None,
                     help="Clip the gradient's global L2 norm to this value (default 1.0)."),
        click.option("--seed", type=int, default=None,
                     help="Seed of the head, the batches, the negatives and the dev carve (default 0)."),
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

    evals = values.pop("evals", ())
    values["evals"] = ([] if list(evals) == ["none"] else list(evals)) if evals else None
    return make_config(profile=profile, preset=preset, collection=collection, **values)


@click.command("train")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--preset", type=click.Choice(["big", "medium", "small"]), default=None,
              help="Document regularization lambda_d: big 1e-5, medium 1e-4, small 1e-3 (the query side "
                   "keeps --lambda-q).")
@training_options
@click.option("--evaluate/--no-evaluate", "run_eval", default=True, show_default=True,
              help="Encode the evaluation collections with the trained model and evaluate every query encoder: "
                   "dev first, then each --eval target once.")
@click.option("--dev-only", is_flag=True,
              help="Evaluate on dev only and leave the test targets unseen (while tuning settings).")
@click.option("--eval-max-length", type=int, default=None, help="Document length for evaluation (default: training's).")
@options.overwrite
def train(collection, out, preset, profile, run_eval, dev_only, eval_max_length, overwrite, **values):
    """Train a Li-LSR model on COLLECTION's train split into OUT (re-run the same command to resume).

    Documents judged in the evaluation targets (--eval, default COLLECTION:test) and for the dev queries
    never train the model. OUT/model is a Hugging Face checkpoint with lilsr_head.safetensors, OUT/table the
    query table; with --evaluate, OUT/eval/results.json holds nDCG@10 of the table, idf, binary and
    contextual encoders on dev and on each target (labelled TEST)."""
    import json
    from pathlib import Path

    from ..training.evaluation import evaluate_targets, format_results, run_targets
    from ..training.loop import TrainResult, check_run_folder
    from ..training.loop import train as run_training

    config = build_config(collection, profile, preset, **values)
    out_path = Path(out)
    finished = (out_path / "manifest.json").is_file() and not overwrite
    if finished:  # training done: finish an interrupted evaluation, or say it is all done
        previous = json.loads((out_path / "config.json").read_text()) if (out_path / "config.json").is_file() else {}
        manifest = json.loads((out_path / "manifest.json").read_text())
        targets = run_targets(out_path)
        results_file = out_path / "eval" / "results.json"
        done = set(json.loads(results_file.read_text()).get("targets", {})) if results_file.is_file() else set()
        same = {k: previous.get(k) for k in config.to_dict() if k != "threads"} == \
            {k: v for k, v in config.to_dict().items() if k != "threads"}
        wanted = {t.label for t in targets if t.role == "dev" or not dev_only}
        if not same or not run_eval or wanted <= done:
            check_run_folder(out_path, config, overwrite)  # raises: a finished run
        counts = manifest.get("counts", {})
        result = TrainResult(out_path, counts.get("steps", 0), counts.get("train_seconds", 0.0),
                             manifest.get("final", {}), tuple(manifest.get("warnings", ())))
        click.echo(f"{out}: training finished earlier; completing its evaluation")
    else:
        result = run_training(config, out, overwrite=overwrite)
        click.echo(f"{out}: {result.steps} steps in {result.seconds / 60:.1f} min "
                   f"({result.seconds / max(1, result.steps):.2f} s/step); final loss "
                   f"{result.last.get('loss', 0):.4f}, doc non-zeros {result.last.get('doc_nnz', 0):.0f}; "
                   f"model {result.model}, table {result.table}")
    for warning in result.warnings:
        click.echo(warning, err=True)
    if run_eval:
        manifest = json.loads((out_path / "manifest.json").read_text())
        targets = run_targets(out_path)
        options = dict(max_length=eval_max_length or config.max_length, heldout=manifest.get("heldout"))
        results = evaluate_targets(result.model, result.table, targets, out_path / "eval", roles=("dev",), **options)
        if not dev_only:
            results = evaluate_targets(result.model, result.table, targets, out_path / "eval", roles=("test",),
                                       **options)
        click.echo(format_results(results))


@click.command("sweep")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--presets", default="big,medium,small", show_default=True,
              help="Comma-separated presets to train (each sets lambda_d).")
@click.option("--lambdas", default=None, help="Or: comma-separated lambda_d values.")
@click.option("--tie-lambda-q", is_flag=True, help="Let lambda_q follow lambda_d (default: only lambda_d varies).")
@training_options(lambda_q_grid=True)
@click.option("--eval-max-length", type=int, default=None, help="Document length for evaluation (default: training's).")
@options.overwrite
def sweep(collection, out, presets, lambdas, tie_lambda_q, profile, eval_max_length, overwrite, **values):
    """Train one model per lambda_d on COLLECTION; choose on dev; evaluate the test targets once at the end.

    Writes OUT/<run>/ per model and OUT/sweep.csv, OUT/sweep.md; re-run to resume."""
    from ..errors import LilsrError
    from ..training.sweep import format_sweep, run_sweep

    from ..training.sweep import parse_lambdas

    lambda_list = parse_lambdas(lambdas, "--lambdas") if lambdas else None
    lambda_q_list = parse_lambdas(values.pop("lambda_q"), "--lambda-q") if values.get("lambda_q") else None
    if lambda_q_list and tie_lambda_q:
        raise LilsrError("--tie-lambda-q lets lambda_q follow lambda_d: give it or a --lambda-q grid, not both")
    values = {k: v for k, v in values.items() if k not in ("lambda_d", "lambda_q")}
    if lambda_q_list and len(lambda_q_list) == 1:
        values["lambda_q"], lambda_q_list = lambda_q_list[0], None
    config = build_config(collection, profile, None, **values)
    rows = run_sweep(config, out, presets=[p for p in presets.split(",") if p] if not lambda_list else None,
                     lambdas=lambda_list, lambdas_q=lambda_q_list, tie_lambda_q=tie_lambda_q,
                     eval_max_length=eval_max_length, overwrite=overwrite)
    click.echo(format_sweep(rows, config))


commands = [train, sweep]
