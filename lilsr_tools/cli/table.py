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
@click.option("--min-weight", type=float, default=None,
              help="Static prune: tokens weighing less than this get weight 0 in table.npy and idf.json (recorded "
                   "in the manifest); a cut that leaves no weighted token is refused.")
@options.overwrite
def export_command(model, out, init, collection, vectors, seed, min_weight, overwrite):
    """Compute the table s(x) = log(1 + ReLU(w . E_W(x) + b)) for MODEL's vocabulary and save it at OUT."""
    from ..atomic import check_can_write
    from ..models.table import save_table
    from ..models.table_export import export_table

    from ..models.table_export import check_min_weight

    if min_weight is not None:
        check_min_weight(min_weight)
    check_can_write(out, overwrite)
    weights, vocab, tokenizer, params = export_table(model, init, vectors=vectors, corpus=collection, seed=seed,
                                                     min_weight=min_weight)
    save_table(out, weights, vocab, tokenizer, source=model, params=params, overwrite=overwrite)
    nonzero = int((weights > 0).sum())
    pruned = params.get("prune")
    cut = f", {pruned['tokens_zeroed']} zeroed by --min-weight {min_weight:g}" if pruned else ""
    click.echo(f"{out}: {len(vocab)} tokens, {nonzero} non-zero ({init}{cut}); files table.npy, idf.json, vocab.json")


@command.command("inspect")
@click.argument("table", type=click.Path(exists=True, file_okay=False))
@click.option("--top", type=options.positive_int("show at least one token"), default=20, show_default=True,
              help="How many top and bottom tokens to show.")
@click.option("--queries", default=None, help="A collection or queries file: report the table's coverage of it.")
@click.option("--collection", default=None,
              help="A collection (name, BEIR folder or corpus file) whose text defines the stopwords: the table's "
                   "weight on its most frequent tokens, side by side with that collection's text-idf table.")
@click.option("--stopwords", type=options.positive_int("count at least one stopword"), default=100,
              show_default=True, help="How many of the collection's most frequent tokens count as stopwords.")
@options.split
def inspect_command(table, top, queries, collection, stopwords, split):
    """Show TABLE's top and bottom tokens, zero fraction, (with --queries) coverage and (with --collection) the
    weight it gives the collection's stopwords against text idf."""
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
    if collection:
        _stopword_lines(loaded, collection, stopwords, queries, split)


def _stopword_lines(loaded, collection, n, queries, split) -> None:
    """The table beside text idf on COLLECTION: stopwords' weights, their share of the mass, rank agreement."""
    from ..models.table_export import table_tokenizer
    from ..models.table_profile import stopword_profile
    from ..models.text_idf import text_idf

    tokenizer = table_tokenizer(loaded)
    counted = text_idf(collection, tokenizer)
    ids = None
    if queries:
        from .common import read_query_texts

        _, texts = read_query_texts(queries, split)
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    idf = counted.weights[: len(loaded.weights)]
    rows = [("table", stopword_profile(loaded.weights, counted.df, counted.n_docs, n=n, query_token_ids=ids)),
            ("text idf", stopword_profile(idf, counted.df, counted.n_docs, n=n, query_token_ids=ids))]
    names = ", ".join(f"{loaded.vocab[i]} {loaded.weights[i]:.3f}" for i in rows[0][1]["top_stopwords"][:8])
    click.echo(f"stopwords: the {rows[0][1]['stopwords']} tokens in most documents of {counted.corpus} "
               f"({counted.n_docs} documents): {names}, ...")
    click.echo(f"{'':9s} {'stopword median':>15s} {'rest median':>11s} {'stop < rest median':>18s} "
               f"{'stop mass share':>15s} {'spearman vs idf':>15s}" + (f" {'query weight on stop':>20s} "
                                                                        f"{'query nnz':>9s}" if ids else ""))
    for label, p in rows:
        click.echo(f"{label:9s} {p['stopword_median_weight']:15.3f} {p['rest_median_weight']:11.3f} "
                   f"{p['stopwords_below_rest_median']:18.0%} {p['stopword_mass_share']:15.1%} "
                   f"{p['spearman_with_idf']:15.3f}" + (f" {p['query_weight_on_stopwords']:20.1%} "
                                                        f"{p['query_nonzeros_mean']:9.1f}" if ids else ""))
