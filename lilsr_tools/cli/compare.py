"""``lilsr compare`` and ``lilsr ablate``."""

from __future__ import annotations

from pathlib import Path

import click

from ..engines import ENGINES
from ..models.query_encoders import QUERY_ENCODERS
from . import options


def _model_spec(item: str):
    from ..reports.grid import parse_model_spec

    return parse_model_spec(item)


def _encoder_specs(values):
    from ..models.query_encoders import parse_encoder_spec

    for value in values:
        try:
            name, _ = parse_encoder_spec(value)
        except Exception as exc:  # LilsrError: a malformed cut
            raise click.BadParameter(str(exc), param_hint="--encoder") from None
        if name not in QUERY_ENCODERS:
            raise click.BadParameter(f"{value!r}: choose from {', '.join(QUERY_ENCODERS)} (or NAME:topT)",
                                     param_hint="--encoder")
    return values


@click.command("compare")
@click.argument("grid_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (re-runs reuse it).")
@click.option("--collection", "collections", multiple=True,
              help="The collection (repeatable: several make one table per collection and a BEIR-style table; "
                   "NAME or NAME:SPLIT).")
@click.option("--split", default=None, help="Qrels split (default test).")
@click.option("--model", "models", multiple=True,
              help="Without GRID_FILE: NAME=CHECKPOINT or NAME=VECTOR_STORE (repeatable).")
@click.option("--encoder", "encoders", multiple=True, callback=lambda ctx, param, value: _encoder_specs(value),
              help="Query encoders (repeatable; default table and contextual); NAME:topT keeps each query's T "
                   "highest-weighted tokens, e.g. table:top6.")
@click.option("--engine", "engines", multiple=True, type=click.Choice(list(ENGINES)),
              help="Engines with default parameters (repeatable).")
@click.option("-k", "--k", "k", type=options.positive_int("a run holds at least one result per query"), default=None,
              help="Results per query (default 1000).")
@click.option("--threads", type=options.THREADS, default=None, help="Search threads (default 1: single-thread latency).")
@click.option("--baseline", default=None, help="Cell id for significance (default bm25, else the first cell).")
@click.option("--significance", type=click.Choice(["t-test", "randomization"]), default="t-test", show_default=True,
              help="Paired test of each cell's per-query first measure against the baseline.")
@options.partial
def compare_command(grid_file, out, collections, split, models, encoders, engines, k, threads, baseline,
                    significance, partial):
    """Run a grid of models x query encoders x engines on one collection and write a report.

    The grid comes from GRID_FILE (TOML or YAML; see docs/compare.md) or from the flags; flags given
    with a file override its values. Cells already computed in OUT are reused."""
    from ..errors import LilsrError
    from ..reports.compare import compare
    from ..reports.grid import EngineSpec, grid_from_dict, load_grid

    if grid_file:
        grid = load_grid(grid_file)
    else:
        if not collections or not engines:
            raise LilsrError("without a grid file, give --collection and at least one --engine (and --model)")
        grid = grid_from_dict({"collections": list(collections), "engines": {e: {} for e in engines},
                               "models": [{"name": "_", "vectors": "_"}] if models else []})
        grid.models = [_model_spec(m) for m in models]
    if grid_file and engines:
        grid.engines = [EngineSpec(e) for e in engines]
    if grid_file and models:
        grid.models = [_model_spec(m) for m in models]
    if collections:
        grid.collection, grid.collections = collections[0], list(collections) if len(collections) > 1 else []
    for attr, value in (("split", split), ("k", k), ("threads", threads), ("baseline", baseline)):
        if value is not None:
            setattr(grid, attr, value)
    if encoders:
        grid.encoders = list(encoders)
    grid.partial = grid.partial or partial
    result = compare(grid, out, significance=significance)
    _echo_coverage(result.workspace.coverage_notes())
    ok = (result.frame["status"] == "ok").sum()
    click.echo(f"{len(result.frame)} cells ({ok} ok, {len(result.frame) - ok} failed, "
               f"{sum(bool(r.get('reused')) for r in result.records)} reused)")
    click.echo(f"results: {Path(out) / 'results.csv'}")
    click.echo(f"report:  {result.report_html}")


@click.group("ablate")
def ablate_command():
    """Ablations: the lambda sweep through Lucene and the native index; static vs contextual queries;
    document-side compression."""


@ablate_command.command("lambda")
@click.option("--model", "models", multiple=True, required=True,
              help="NAME=CHECKPOINT or NAME=VECTOR_STORE, one per lambda (repeatable).")
@click.option("--lambda", "lambdas", multiple=True, help="NAME=LAMBDA_D for the table and plot (repeatable; read from the training run's config.json "
                   "when not given).")
@click.option("--collection", "collections", multiple=True, required=True,
              help="Collection (repeatable: one table per collection and a BEIR-style table).")
@click.option("--split", default="test", show_default=True)
@click.option("--engine", "engines", multiple=True, type=click.Choice(list(ENGINES)),
              help="Engines (default lucene and native; with --docs every vector engine).")
@click.option("--encoder", default="table", show_default=True, type=click.Choice(QUERY_ENCODERS))
@click.option("-k", "--k", "k", type=options.positive_int("a run holds at least one result per query"), default=1000,
              show_default=True, help="Results per query (with --docs: both 10 and 1000).")
@click.option("--threads", type=options.THREADS, default=1, show_default=True)
@click.option("--docs", type=click.IntRange(min=1), default=None,
              help="Grow each model's vectors to N synthetic documents ('lilsr vectors synth') and measure every "
                   "engine there: latency at k=10 and 1000, accuracy@10 against exact, index size, build time "
                   "and peak memory.")
@click.option("--synth-method", type=click.Choice(["mix", "templates"]), default="mix", show_default=True,
              help="With --docs: how the synthetic documents are made (docs/scale.md).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="With --docs: synth seed.")
@click.option("--reorder", type=click.Choice(["bp"]), default=None,
              help="With --docs: reorder each grown store's document ids (lilsr vectors reorder) before any engine "
                   "builds on it, as block-max engines (BMP, PISA) are run in their papers.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Timed passes per cell (per query the median).")
@click.option("--tune-split", default=None,
              help="With --docs: run approximate engines' tuning grids on this split's queries (train or dev, never "
                   "--split) and measure each model with the fastest setting reaching --accuracy-target there.")
@click.option("--accuracy-target", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True,
              help="With --tune-split: accuracy@10 against exact search that a chosen setting must reach.")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@options.partial
def ablate_lambda_command(models, lambdas, collections, split, engines, encoder, k, threads, docs, synth_method,
                          seed, reorder, repeat, tune_split, accuracy_target, out, partial):
    """Effectiveness, latency and index size per lambda_d model, on each engine (at scale with --docs)."""
    from ..errors import LilsrError
    from ..reports.ablate import LambdaModel, ablate_lambda

    values = {}
    for item in lambdas:
        name, _, value = item.partition("=")
        try:
            values[name] = float(value)
        except ValueError:
            raise LilsrError(f"--lambda {item!r}: expected NAME=NUMBER") from None
    specs = [_model_spec(m) for m in models]
    unknown = set(values) - {s.name for s in specs}
    if unknown:
        raise LilsrError(f"--lambda names {', '.join(sorted(unknown))} match no --model")
    if tune_split and not docs:
        raise LilsrError("--tune-split applies with --docs")
    if reorder and not docs:
        raise LilsrError("--reorder applies with --docs (reorder a real store with 'lilsr vectors reorder')")
    if tune_split and tune_split == split:
        raise LilsrError(f"--tune-split {tune_split} is the evaluation split: settings are never chosen on it")
    skipped = {}
    if not engines and docs:
        from ..reports.ablate import engines_at_scale

        engines, skipped = engines_at_scale(docs)
        for name, why in skipped.items():
            click.echo(f"lilsr: note: {name} not run ({why}); name it with --engine to run it anyway", err=True)
    elif not engines:
        engines = ("lucene", "native")
    elif docs and "bm25" in engines:
        raise LilsrError("--docs grows vectors, not text: bm25 cannot take part; drop --engine bm25")
    if (docs or tune_split) and len(collections) > 1:
        raise LilsrError("--docs and --tune-split take one --collection")
    collection = collections[0] if len(collections) == 1 else list(collections)
    table = ablate_lambda([LambdaModel(s, values.get(s.name)) for s in specs], collection, out, split=split,
                          engines=tuple(engines), encoder=encoder, k=k, threads=threads, docs=docs,
                          synth=({"method": synth_method, "seed": seed, **({"reorder": reorder} if reorder else {})}
                                 if docs else None), repeat=repeat,
                          tune_split=tune_split, accuracy_target=accuracy_target, skipped=skipped, partial=partial)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    _echo_coverage(_recorded_coverage(out))
    click.echo(f"report: {Path(out) / 'report.html'}")


@ablate_command.command("query-length")
@click.option("--model", "models", multiple=True, required=True,
              help="NAME=CHECKPOINT: a trained Li-LSR model, its table and its documents (repeatable).")
@click.option("--collection", required=True, help="Collection name or BEIR folder.")
@click.option("--tune-split", required=True,
              help="Where the cut is chosen: a dev split of the collection or a qrels file (e.g. a sweep run's "
                   "dev_qrels.tsv); never the evaluation split.")
@click.option("--split", default="test", show_default=True, help="Evaluation split, searched once.")
@click.option("--cuts", default="2,4,6,8,12,16", show_default=True,
              help="Comma-separated query lengths T (each query keeps its T heaviest tokens).")
@click.option("--encoder", default="table", show_default=True, type=click.Choice(["table", "idf", "contextual"]),
              help="The query side being cut.")
@click.option("--max-loss", type=click.FloatRange(0, 100, max_open=True), default=0.5, show_default=True,
              help="nDCG@10 points the chosen cut may lose against the uncut queries on the tuning split.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (re-runs reuse it).")
def ablate_query_length_command(models, collection, tune_split, split, cuts, encoder, max_loss, out):
    """Query non-zeros against nDCG@10 per cut; the cut chosen on --tune-split, reported on --split once."""
    from ..errors import LilsrError
    from ..reports.query_length import ablate_query_length

    parts = [p.strip() for p in cuts.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise LilsrError(f"--cuts expects comma-separated whole numbers >= 1 (e.g. 2,4,6), got {cuts!r}")
    tables = ablate_query_length([_model_spec(m) for m in models], collection, out, tune_split=tune_split,
                                 split=split, cuts=[int(p) for p in parts], base_encoder=encoder, max_loss=max_loss)
    click.echo(tables["tuning"].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(tables["chosen"].T.to_string(header=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"report: {Path(out) / 'report.html'}")


@ablate_command.command("context")
@click.option("--model", "model", required=True, help="NAME=CHECKPOINT (a trained Li-LSR model) or NAME=VECTOR_STORE.")
@click.option("--collection", required=True, help="Collection name or BEIR folder.")
@click.option("--split", default="test", show_default=True, help="Qrels split.")
@click.option("--top", type=options.positive_int("a table shows at least one row"), default=15, show_default=True,
              help="Rows per table.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (re-runs reuse it).")
@options.partial
def ablate_context_command(model, collection, split, top, out, partial):
    """Static (table) vs contextual query encoding: per query and per token."""
    from ..reports.ablate import ablate_context

    tables = ablate_context(_model_spec(model), collection, out, split=split, top=top, partial=partial)
    _echo_coverage(tables["coverage"])
    queries = tables["queries"]
    click.echo(f"static table: {tables['table']}")
    click.echo(f"static {queries['static'].mean():.4f} vs contextual {queries['contextual'].mean():.4f} "
               f"over {len(queries)} queries; static better on {(queries['delta'] > 0).sum()}, "
               f"worse on {(queries['delta'] < 0).sum()}")
    click.echo("largest static-contextual gaps: " + ", ".join(tables["tokens"].sort_values(
        "mean_abs_gap", ascending=False)["token"].head(10)))
    click.echo(f"report: {Path(out) / 'report.html'}")


def _echo_coverage(notes: list[str]) -> None:
    for note in notes:
        click.echo(f"coverage: {note}")


def _recorded_coverage(out: str) -> list[str]:
    """The incomplete stores an ablation's manifest recorded, as sentences."""
    from ..manifest import read_manifest
    from ..reports.coverage import coverage_notes, recorded_coverage

    return coverage_notes(recorded_coverage(read_manifest(out)))


def _grid_values(option: str, kind: str, text: str) -> tuple[str, ...]:
    """A comma-separated list of values for one compression kind ('' for none), each checked now, before
    any output exists."""
    from ..reports.compression import parse_step

    values = tuple(v.strip() for v in text.split(",") if v.strip())
    for value in values:
        parse_step(f"{kind}={value}", option)
    return values


@ablate_command.command("compression")
@click.option("--model", "models", multiple=True, required=True,
              help="NAME=CHECKPOINT or NAME=VECTOR_STORE (repeatable).")
@click.option("--collection", required=True)
@click.option("--split", default="test", show_default=True, help="Split the report's numbers come from.")
@click.option("--tune-split", default=None,
              help="Where the recommended settings are chosen: a split (e.g. train) or a qrels file (e.g. a training "
                   "run's held-out dev_qrels.tsv); never the --split queries.")
@click.option("--engine", "engines", multiple=True, type=click.Choice([e for e in ENGINES if e != "bm25"]),
              help="Engines (repeatable; default exact, native, lucene).")
@click.option("--top-k", "top_k", default="16,32,64,128", show_default=True,
              help="Per-document top-k term pruning: comma-separated k values ('' for none).")
@click.option("--mass", default="0.95,0.9,0.8", show_default=True,
              help="Per-document pruning to a share of the L1 mass: shares in (0, 1].")
@click.option("--postings", default="0.75,0.5,0.25", show_default=True,
              help="Static posting pruning: each posting list keeps this share of its largest entries.")
@click.option("--scale", default="10,100,1000", show_default=True, help="Lucene impact scales.")
@click.option("--value-bits", "value_bits", default="16,8", show_default=True,
              help="Native forward-index values: 16 (float16) and/or 8 (8-bit per document).")
@click.option("--summary-energy", "energy", default="0.05,0.1,0.2,0.3", show_default=True,
              help="Native (and Seismic) block-summary energies.")
@click.option("--also", multiple=True,
              help="Extra settings combining steps, e.g. 'top_k=128+energy=0.3' (repeatable).")
@click.option("--max-loss", type=float, default=0.5, show_default=True,
              help="Recommended setting: the smallest index within this many points of nDCG@10.")
@click.option("--encoder", default="table", show_default=True, type=click.Choice(QUERY_ENCODERS))
@click.option("-k", "--k", "k", type=int, default=1000, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@options.partial
def ablate_compression_command(models, collection, split, tune_split, engines, top_k, mass, postings, scale,
                               value_bits, energy, also, max_loss, encoder, k, threads, out, partial):
    """Document-side compressions (term pruning, value quantization, posting pruning) of each model, through
    each engine: index bytes, effectiveness, accuracy and latency per cell; one table and a Pareto plot."""
    from ..errors import LilsrError
    from ..reports.compression import ablate_compression, default_settings

    grid = {kind: _grid_values(option, kind, text) for option, kind, text in (
        ("--top-k", "top_k", top_k), ("--mass", "mass", mass), ("--postings", "postings", postings),
        ("--scale", "scale", scale), ("--value-bits", "bits", value_bits), ("--summary-energy", "energy", energy))}
    settings = default_settings(grid, tuple(also))
    if not max_loss >= 0:
        raise LilsrError(f"--max-loss must be >= 0 points, not {max_loss}")
    if k < 1 or threads < 1:
        raise LilsrError("-k and --threads must be at least 1")
    specs = [_model_spec(m) for m in models]
    tables = ablate_compression(specs, collection, out, split=split, tune_split=tune_split, settings=settings,
                                engines=tuple(engines) or ("exact", "native", "lucene"), encoder=encoder, k=k,
                                threads=threads, max_loss=max_loss, partial=partial)
    _echo_coverage(tables["coverage"])
    recommended = tables["recommended"]
    if not recommended.empty:
        click.echo(recommended.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"cells: {Path(out) / 'compression.csv'}")
    click.echo(f"report: {Path(out) / 'report.html'}")


commands = [compare_command, ablate_command]
