"""``lilsr compare`` and ``lilsr ablate``."""

from __future__ import annotations

from pathlib import Path

import click

from ..engines import ENGINES
from ..models.query_encoders import QUERY_ENCODERS


def _model_spec(item: str):
    from ..errors import LilsrError
    from ..manifest import MANIFEST, read_manifest
    from ..reports.grid import ModelSpec

    name, sep, value = item.partition("=")
    if not sep:
        name, value = Path(item).name or item, item
    path = Path(value)
    if (path / MANIFEST).is_file() and read_manifest(path).get("kind") == "lilsr.vectors":
        return ModelSpec(name=name, vectors=str(path))
    if not value:
        raise LilsrError(f"--model {item!r}: expected NAME=CHECKPOINT or NAME=VECTOR_STORE")
    return ModelSpec(name=name, checkpoint=value)


@click.command("compare")
@click.argument("grid_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (re-runs reuse it).")
@click.option("--collection", "collections", multiple=True,
              help="The collection (repeatable: several make one table per collection and a BEIR-style table; "
                   "NAME or NAME:SPLIT).")
@click.option("--split", default=None, help="Qrels split (default test).")
@click.option("--model", "models", multiple=True,
              help="Without GRID_FILE: NAME=CHECKPOINT or NAME=VECTOR_STORE (repeatable).")
@click.option("--encoder", "encoders", multiple=True, type=click.Choice(QUERY_ENCODERS),
              help="Query encoders (repeatable; default table and contextual).")
@click.option("--engine", "engines", multiple=True, type=click.Choice(list(ENGINES)),
              help="Engines with default parameters (repeatable).")
@click.option("-k", "--k", "k", type=int, default=None, help="Results per query (default 1000).")
@click.option("--threads", type=int, default=None, help="Search threads (default 1: single-thread latency).")
@click.option("--baseline", default=None, help="Cell id for significance (default bm25, else the first cell).")
@click.option("--significance", type=click.Choice(["t-test", "randomization"]), default="t-test", show_default=True)
def compare_command(grid_file, out, collections, split, models, encoders, engines, k, threads, baseline,
                    significance):
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
    result = compare(grid, out, significance=significance)
    ok = (result.frame["status"] == "ok").sum()
    click.echo(f"{len(result.frame)} cells ({ok} ok, {len(result.frame) - ok} failed, "
               f"{sum(bool(r.get('reused')) for r in result.records)} reused)")
    click.echo(f"results: {Path(out) / 'results.csv'}")
    click.echo(f"report:  {result.report_html}")


@click.group("ablate")
def ablate_command():
    """Ablations: the lambda sweep through Lucene and the native index; static vs contextual queries."""


@ablate_command.command("lambda")
@click.option("--model", "models", multiple=True, required=True,
              help="NAME=CHECKPOINT or NAME=VECTOR_STORE, one per lambda (repeatable).")
@click.option("--lambda", "lambdas", multiple=True, help="NAME=LAMBDA_D for the table and plot (repeatable; read from the training run's config.json "
                   "when not given).")
@click.option("--collection", "collections", multiple=True, required=True,
              help="Collection (repeatable: one table per collection and a BEIR-style table).")
@click.option("--split", default="test", show_default=True)
@click.option("--engine", "engines", multiple=True, type=click.Choice(list(ENGINES)),
              help="Engines (default lucene and native).")
@click.option("--encoder", default="table", show_default=True, type=click.Choice(QUERY_ENCODERS))
@click.option("-k", "--k", "k", type=int, default=1000, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
def ablate_lambda_command(models, lambdas, collections, split, engines, encoder, k, threads, out):
    """Effectiveness, latency and index size per lambda_d model, on each engine."""
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
    collection = collections[0] if len(collections) == 1 else list(collections)
    table = ablate_lambda([LambdaModel(s, values.get(s.name)) for s in specs], collection, out, split=split,
                          engines=tuple(engines) or ("lucene", "native"), encoder=encoder, k=k, threads=threads)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"report: {Path(out) / 'report.html'}")


@ablate_command.command("context")
@click.option("--model", "model", required=True, help="NAME=CHECKPOINT (a trained Li-LSR model) or NAME=VECTOR_STORE.")
@click.option("--collection", required=True)
@click.option("--split", default="test", show_default=True)
@click.option("--top", type=int, default=15, show_default=True, help="Rows per table.")
@click.option("--out", type=click.Path(file_okay=False), required=True)
def ablate_context_command(model, collection, split, top, out):
    """Static (table) vs contextual query encoding: per query and per token."""
    from ..reports.ablate import ablate_context

    tables = ablate_context(_model_spec(model), collection, out, split=split, top=top)
    queries = tables["queries"]
    click.echo(f"static {queries['static'].mean():.4f} vs contextual {queries['contextual'].mean():.4f} "
               f"over {len(queries)} queries; static better on {(queries['delta'] > 0).sum()}, "
               f"worse on {(queries['delta'] < 0).sum()}")
    click.echo("largest static-contextual gaps: " + ", ".join(tables["tokens"].sort_values(
        "mean_abs_gap", ascending=False)["token"].head(10)))
    click.echo(f"report: {Path(out) / 'report.html'}")


commands = [compare_command, ablate_command]
