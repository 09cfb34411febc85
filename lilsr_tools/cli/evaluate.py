"""``lilsr evaluate``."""

from __future__ import annotations

import click

from ..evaluation.metrics import DEFAULT_MEASURES, MEASURE_HELP


@click.command("evaluate")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False), default=None, help="Qrels file (BEIR TSV or TREC).")
@click.option("--collection", default=None, help="Or: a collection name/folder, with --split.")
@click.option("--split", default="test", show_default=True, help="Qrels split of --collection.")
@click.option("-m", "--measure", "measures", multiple=True,
              help=f"Measure (repeatable): {MEASURE_HELP}; default: {' '.join(DEFAULT_MEASURES)}.")
@click.option("--per-query", is_flag=True, help="Also print one line per query and measure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(run, qrels, collection, split, measures, per_query, as_json):
    """Score a TREC RUN against relevance judgments with ir_measures.

    Judged queries missing from the run count as zero and are reported."""
    import json

    from ..data.collection import resolve_collection
    from ..data.qrels import read_qrels
    from ..data.trec import read_run
    from ..errors import LilsrError
    from ..evaluation.metrics import evaluate, parse_measures

    if bool(qrels) == bool(collection):
        raise LilsrError("give exactly one of --qrels FILE or --collection NAME (with --split)")
    parse_measures(measures or DEFAULT_MEASURES)  # a bad name is refused before any file is read
    judgments = read_qrels(qrels) if qrels else resolve_collection(collection).qrels(split)
    result = evaluate(read_run(run), judgments, measures or DEFAULT_MEASURES)
    if as_json:
        payload = {"aggregates": result.aggregates, "summary": result.summary()}
        if per_query:
            payload["per_query"] = result.per_query
        click.echo(json.dumps(payload, indent=1))
        return
    width = max(10, *(len(name) for name in result.aggregates))
    for name, value in result.aggregates.items():
        click.echo(f"{name:<{width}} {value:.4f}")
    summary = result.summary()
    click.echo(f"queries: {summary['judged_queries']} judged, {summary['run_queries']} in run, "
               f"{summary['judged_missing_from_run']} judged but missing from the run (scored 0), "
               f"{summary['unjudged_in_run']} in the run without judgments (ignored)")
    if summary["judged_missing_from_run"]:
        click.echo(f"missing from run, e.g.: {' '.join(summary['missing_examples'])}")
    if per_query:
        for qid, values in result.per_query.items():
            for name, value in values.items():
                click.echo(f"{name}\t{qid}\t{value:.4f}")
