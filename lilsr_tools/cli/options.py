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
        click.option("--encoder", type=click.Choice(["table", "contextual", "idf", "binary"]), default=None,
                     help="Query encoder (needed when QUERIES is raw text and the engine searches vectors)."),
        click.option("--table", "table", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Li-LSR table folder (for --encoder table)."),
        click.option("--vectors", "vectors", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Document vector store (idf counts for --encoder idf)."),
        click.option("--dup", type=click.Choice(["sum", "max", "binary"]), default="sum", show_default=True,
                     help="How a token repeated in a query counts (static encoders)."),
        click.option("--query-max-length", type=click.IntRange(min=1), default=128, show_default=True,
                     help="Token limit of the contextual query encoder."),
        click.option("--topic-field", type=click.Choice(["title", "desc", "narr"]), default="title",
                     show_default=True, help="Which field of a TREC topic file is the query text."),
    ]):
        func = option(func)
    return func


query_batch_size = click.option(
    "--query-batch-size", type=click.IntRange(min=1), default=1, show_default=True,
    help="Contextual encoder: queries per batch (1: each query alone, its own latency; larger: throughput, "
         "each query timed as its batch's time / batch size).")
