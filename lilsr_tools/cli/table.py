"""``lilsr table export`` and ``lilsr table inspect``."""

from __future__ import annotations

import click

from . import options


@click.group("table")
def command():
    """The Li-LSR query lookup table: export it from a checkpoint, inspect it."""


@command.command("export", short_help="Export the Li-LSR lookup table of a checkpoint (or an idf table).")
@click.argument("model")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--init", "init", type=click.Choice(["head", "idf", "vector-idf", "binary", "untrained"]), default="head",
              show_default=True,
              help="head: the checkpoint's trained Li-LSR head (w, b); idf: BM25 idf over the corpus text "
                   "of --collection; vector-idf: idf over the non-zeros of --vectors; binary: 1 per token; "
                   "untrained: a fresh head (binary-like table).")
@click.option("--collection", default=None,
              help="Collection (name, BEIR folder or corpus file) for --init idf (default: the corpus --vectors "
                   "was encoded from).")
@click.option("--vectors", type=click.Path(exists=True, file_okay=False), default=None,
              help="Document vector store (for --init vector-idf).")
@click.option("--seed", type=options.IntRange(min=0, why="numpy seeds are non-negative"), default=0, show_default=True,
              help="Seed of the untrained head.")
@options.overwrite
def export_command(model, out, init, collection, vectors, seed, overwrite):
    """Compute the table s(x) = log(1 + ReLU(w . E_W(x) + b)) for MODEL's vocabulary and save it at OUT."""
    from ..atomic import check_can_write
    from ..models.table import save_table
    from ..models.table_export import export_table

    check_can_write(out, overwrite)
    weights, vocab, tokenizer, params = export_table(model, init, vectors=vectors, corpus=collection, seed=seed)
    save_table(out, weights, vocab, tokenizer, source=model, params=params, overwrite=overwrite)
    nonzero = int((weights > 0).sum())
    click.echo(f"{out}: {len(vocab)} tokens, {nonzero} non-zero ({init}); files table.npy, idf.json, vocab.json")


@command.command("inspect")
@click.argument("table", type=click.Path(exists=True, file_okay=False))
@click.option("--top", type=options.positive_int("show at least one token"), default=20, show_default=True,
              help="How many top and bottom tokens to show.")
@click.option("--queries", default=None, help="A collection or queries file: report the table's coverage of it.")
@options.split
def inspect_command(table, top, queries, split):
    """Show TABLE's top and bottom tokens, zero fraction and (with --queries) coverage."""
    from ..models.table import load_table
    from ..models.table_export import coverage

    loaded = load_table(table)
    stats = loaded.stats(top)
    click.echo(f"{table}: {stats['vocab_size']} tokens, {stats['nonzero']} non-zero "
               f"(zero fraction {stats['zero_fraction']:.3f}), mean non-zero weight {stats['mean_nonzero_weight']:.3f}")
    click.echo("top:    " + ", ".join(f"{t} {w:.3f}" for t, w in stats["top"]))
    click.echo("bottom: " + ", ".join(f"{t} {w:.3f}" for t, w in stats["bottom"]))
    if queries:
        from .common import read_query_texts

        _, texts = read_query_texts(queries, split)
        cov = coverage(loaded, texts)
        click.echo(f"coverage of {len(texts)} queries: {cov['token_coverage']:.3f} of query tokens have a non-zero "
                   f"weight; {cov['queries_all_zero']} queries are all zeros")
