"""``lilsr index <engine>``: one build command per engine, over the engines' library calls (the engines
know nothing of the CLI)."""

from __future__ import annotations

import click

from . import compiled, lucene, milvus, native, pisa, tune


@click.group("index")
def command():
    """Build an index from a vector store (one command per engine) or from raw text (bm25)."""


for _command in (lucene.lucene_command, lucene.bm25_command, native.command, tune.command, pisa.command,
                 milvus.command, *compiled.commands):
    command.add_command(_command)
