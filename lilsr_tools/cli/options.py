"""Options shared by several commands, defined once."""

from __future__ import annotations

import click

overwrite = click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
threads = click.option("--threads", type=int, default=None, help="CPU threads (default: all cores).")
model = click.option("--model", "model", default=None,
                     help="Checkpoint folder, hub name, or preset (splade-tiny, minilm).")
split = click.option("--split", default="test", show_default=True, help="Qrels split of the collection.")


def query_encoder_options(func):
    """--encoder and what each encoder needs."""
    for option in reversed([
        click.option("--encoder", type=click.Choice(["table", "contextual", "idf", "vector-idf", "binary"]),
                     default=None,
                     help="Query encoder (needed when QUERIES is raw text and the engine searches vectors): idf "
                          "is BM25 idf over the corpus text (of --vectors' corpus, else the collection queried), "
                          "vector-idf idf over the non-zeros of --vectors."),
        click.option("--table", "table", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Li-LSR table folder (for --encoder table)."),
        click.option("--vectors", "vectors", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Document vector store (its corpus for --encoder idf; its non-zeros for vector-idf)."),
        click.option("--dup", type=click.Choice(["sum", "max", "binary"]), default=None,
                     help="How a token repeated in a query counts (static encoders). Default: the table's "
                          "recorded mode (a trained table: as trained), sum for idf, once for binary."),
        click.option("--query-max-length", type=int, default=128, show_default=True,
                     help="Token limit of the contextual query encoder."),
    ]):
        func = option(func)
    return func
