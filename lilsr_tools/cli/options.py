"""Options shared by several commands, defined once, and the range types every numeric option uses."""

from __future__ import annotations

import math

import click


class _WithReason:
    """A click range type whose refusal says why the range is what it is."""

    def __init__(self, *args, why: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.why = why

    def convert(self, value, param, ctx):
        try:
            converted = super().convert(value, param, ctx)
        except click.BadParameter as exc:
            if self.why:
                exc.message = f"{exc.message.rstrip('.')}: {self.why}"
            raise
        if isinstance(converted, float) and not math.isfinite(converted):
            self.fail(f"{value!r} is not a finite number" + (f": {self.why}" if self.why else ""), param, ctx)
        return converted


class IntRange(_WithReason, click.IntRange):
    """``click.IntRange`` with a reason: ``IntRange(min=1, why="a batch holds at least one document")``."""


class FloatRange(_WithReason, click.FloatRange):
    """``click.FloatRange`` with a reason; NaN and infinities are refused too."""


def positive_int(why: str) -> IntRange:
    return IntRange(min=1, why=why)


THREADS = positive_int("a thread count is at least 1 (leave the option out for all cores)")

overwrite = click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
threads = click.option("--threads", type=THREADS, default=None, help="CPU threads (default: all cores).")
model = click.option("--model", "model", default=None,
                     help="Checkpoint folder, hub name, or preset (splade-tiny, minilm).")
split = click.option("--split", default="test", show_default=True, help="Qrels split of the collection.")
partial = click.option("--partial", is_flag=True,
                       help="Accept a vector store that lacks some of the collection's documents (refused otherwise: "
                            "they can never be retrieved); the coverage is printed and recorded in the report.")
verify = click.option("--verify", is_flag=True,
                      help="Re-check every file's sha256 (and run Lucene's CheckIndex) before using it.")


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
        click.option("--query-max-length", type=positive_int("a query keeps at least one token"), default=128,
                     show_default=True,
                     help="Token limit of the contextual query encoder (at most the model's position limit)."),
        click.option("--topic-field", type=click.Choice(["title", "desc", "narr"]), default="title",
                     show_default=True, help="Which field of a TREC topic file is the query text."),
        click.option("--query-top-k", type=positive_int("a query keeps at least one token"), default=None,
                     help="Keep each query's T highest-weighted tokens (any encoder; default: all). The cut "
                          "is part of the encoding time."),
    ]):
        func = option(func)
    return func


query_batch_size = click.option(
    "--query-batch-size", type=click.IntRange(min=1), default=1, show_default=True,
    help="Contextual encoder: queries per batch (1: each query alone, its own latency; larger: throughput, "
         "each query timed as its batch's time / batch size).")
