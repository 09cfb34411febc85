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
        click.option("--query-max-length", type=int, default=128, show_default=True,
                     help="Token limit of the contextual query encoder."),
    ]):
        func = option(func)
    return func
