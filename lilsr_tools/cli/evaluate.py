"""``lilsr evaluate``."""

from __future__ import annotations

import click

from ..evaluation.metrics import DEFAULT_MEASURES, MEASURE_HELP


@click.command("evaluate")
@click.argument("runs", nargs=-1, required=True, metavar="RUN [RUN ...]",
                type=click.Path(exists=True, dir_okay=False))
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False), default=None, help="Qrels file (BEIR TSV or TREC).")
@click.option("--collection", default=None, help="Or: a collection name/folder, with --split.")
@click.option("--split", default="test", show_default=True, help="Qrels split of --collection.")
@click.option("-m", "--measure", "measures", multiple=True,
              help=f"Measure (repeatable): {MEASURE_HELP}; default: {' '.join(DEFAULT_MEASURES)}.")
@click.option("--per-query", is_flag=True, help="Also print one line per query and measure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(runs, qrels, collection, split, measures, per_query, as_json):
    """Score TREC runs against relevance judgments with ir_measures.

    Judged queries missing from a run count as zero and are reported. With two or more runs, each run
    after the first is compared with the first: a paired t-test per measure over the queries both answer."""
    from ..data.collection import resolve_collection
    from ..data.qrels import read_qrels
    from ..data.trec import read_run
    from ..errors import LilsrError
    from ..evaluation.metrics import evaluate, parse_measures

    if bool(qrels) == bool(collection):
        raise LilsrError("give exactly one of --qrels FILE or --collection NAME (with --split)")
    parse_measures(measures or DEFAULT_MEASURES)  # a bad name is refused before any file is read
    judgments = read_qrels(qrels) if qrels else resolve_collection(collection).qrels(split)
    results = [evaluate(read_run(run), judgments, measures or DEFAULT_MEASURES) for run in runs]
    for warning in results[0].warnings:  # the same for every run: they come from the measures and the qrels
        click.echo(f"lilsr: warning: {warning}", err=True)
    if len(runs) == 1:
        _print_one(results[0], per_query, as_json)
    else:
        _print_several(list(runs), results, per_query, as_json)


def _print_one(result, per_query: bool, as_json: bool) -> None:
    import json

    from ..rounding import round_floats

    if as_json:
        payload = {"aggregates": result.aggregates, "summary": result.summary()}
        if per_query:
            payload["per_query"] = result.per_query
        click.echo(json.dumps(round_floats(payload), indent=1))
        return
    width = max(10, *(len(name) for name in result.aggregates))
    for name, value in result.aggregates.items():
        click.echo(f"{name:<{width}} {value:.4f}")
    click.echo(_queries_line(result.summary()))
    if result.summary()["judged_missing_from_run"]:
        click.echo(f"missing from run, e.g.: {' '.join(result.summary()['missing_examples'])}")
    if per_query:
        for qid, values in result.per_query.items():
            for name, value in values.items():
                click.echo(f"{name}\t{qid}\t{value:.4f}")


def _print_several(runs: list[str], results: list, per_query: bool, as_json: bool) -> None:
    """Every run's measures side by side, then each later run paired with the first."""
    import json

    from ..evaluation.paired import ALPHA, paired_comparison
    from ..rounding import round_floats

    comparisons = [paired_comparison(result, results[0]) for result in results[1:]]
    if as_json:
        payload = {"runs": [], "paired": []}
        for run, result in zip(runs, results):
            entry = {"run": run, "aggregates": result.aggregates, "summary": result.summary()}
            if per_query:
                entry["per_query"] = result.per_query
            payload["runs"].append(entry)
        for run, (count, rows) in zip(runs[1:], comparisons):
            payload["paired"].append({
                "run": run, "baseline": runs[0], "test": "paired t-test", "alpha": ALPHA, "queries": count,
                "measures": {r.measure: {"baseline_mean": r.baseline_mean, "mean": r.mean, "delta": r.delta,
                                         "p_value": r.p_value, "significant": r.significant,
                                         "better": None if r.delta == 0 else (run if r.delta > 0 else runs[0])}
                             for r in rows}})
        click.echo(json.dumps(round_floats(payload), indent=1))
        return
    names = list(results[0].aggregates)
    width = max(10, *(len(name) for name in names))
    columns = [max(8, len(run)) for run in runs]
    click.echo(f"{'':<{width}} " + "  ".join(f"{run:>{w}}" for run, w in zip(runs, columns)))
    for name in names:
        click.echo(f"{name:<{width}} " + "  ".join(f"{r.aggregates[name]:>{w}.4f}" for r, w in zip(results, columns)))
    for run, result in zip(runs, results):
        summary = result.summary()
        click.echo(f"{run}: {_queries_line(summary)}")
        if summary["judged_missing_from_run"]:
            click.echo(f"{run}: missing from run, e.g.: {' '.join(summary['missing_examples'])}")
    for run, (count, rows) in zip(runs[1:], comparisons):
        click.echo(f"paired t-test, {run} against {runs[0]}, over the {count} judged queries both answer:")
        for r in rows:
            p = "p=n/a" if r.p_value != r.p_value else f"p={r.p_value:.4f}"
            click.echo(f"{r.measure:<{width}} {r.delta:+.4f}  {p:<8}  {r.verdict(run, runs[0])}")
    if per_query:
        for run, result in zip(runs, results):
            for qid, values in result.per_query.items():
                for name, value in values.items():
                    click.echo(f"{run}\t{name}\t{qid}\t{value:.4f}")


def _queries_line(summary: dict) -> str:
    return (f"queries: {summary['judged_queries']} judged, {summary['run_queries']} in run, "
            f"{summary['judged_missing_from_run']} judged but missing from the run (scored 0), "
            f"{summary['unjudged_in_run']} in the run without judgments (ignored)")
