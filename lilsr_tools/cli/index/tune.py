"""``lilsr index tune``: a native index's own search defaults per k, chosen on tuning queries."""

from __future__ import annotations

import click

from .. import options


@click.command("tune")
@click.argument("index", type=click.Path(exists=True, file_okay=False))
@click.argument("queries")
@click.option("--store", type=click.Path(exists=True, file_okay=False), required=True,
              help="The vector store INDEX was built from (exact search over it is the reference).")
@click.option("-k", "--k", "ks", multiple=True, default=(10, 1000), show_default=True,
              type=options.positive_int("a search returns at least one result"),
              help="Results per query to choose a setting for (repeatable): each k is tuned on its own.")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True,
              help="accuracy@k against exact top-k that the chosen setting must reach (else the most accurate).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed passes per setting; a setting's latency is the p50 of each query's median.")
@click.option("--split", default="train", show_default=True,
              help="Qrels split whose queries tune, when QUERIES is a collection (never the test split).")
@options.model
@options.query_encoder_options
@options.query_batch_size
@options.overwrite
def command(index, queries, store, ks, target, repeat, split, model, encoder, table, vectors, dup, query_max_length,
            topic_field, query_top_k, query_batch_size, overwrite):
    """Choose INDEX's search defaults (query_cut, heap_factor) at each k on QUERIES and write them into its
    manifest; later searches use them for any parameter not given with -p.

    Each setting of the native tuning grid is searched warm, --repeat times, on the call clock; the fastest
    reaching accuracy@k >= --target against exact search over --store wins (a choice on the grid's edge gets
    one more round past it). QUERIES as for 'lilsr search': a collection (its --split queries), a queries
    file or encoded queries; tune on train or dev queries, never on the queries you report."""
    from pathlib import Path

    from ...errors import LilsrError
    from ...manifest import MANIFEST
    from ...reports.index_defaults import tune_index
    from ..common import load_query_batch

    path = Path(queries)
    collection = not path.is_file() and not (path / MANIFEST).is_file()  # a name or a collection folder
    if collection and split == "test":
        raise LilsrError("--split test: settings are never chosen on the evaluation split; tune on train or dev "
                         "queries (--split train)")
    batch = load_query_batch(queries, split, encoder=encoder, model=model, table=table, vectors=vectors, dup=dup,
                             max_length=query_max_length, need_vectors=True, topic_field=topic_field,
                             batch_size=query_batch_size, top_k=query_top_k)
    record = tune_index(index, store, batch, ks, target=target, repeat=repeat, overwrite=overwrite,
                        source=f"{queries} ({split} queries)" if collection else queries,
                        progress=lambda line: click.echo(line, err=True))
    for entry in record["by_k"]:
        setting = ", ".join(f"{name}={value}" for name, value in entry["params"].items())
        click.echo(f"k={entry['k']}: {setting}: accuracy@{entry['k']} {entry['accuracy']:.3f}, "
                   f"p50 {entry['p50_ms']:.3f} ms ({entry['settings_tried']} settings"
                   + ("" if entry["reaches_target"] else f"; none reaches {target}: the most accurate") + ")")
    click.echo(f"{index}: search defaults written to its manifest (tuned on {record['queries']} queries)")
