"""``lilsr index <engine>``: each engine contributes its own build command."""

from __future__ import annotations

import importlib

import click

# modules defining a click command named ``command``; an engine missing from this checkout is skipped
INDEX_COMMANDS = ("lilsr_tools.engines.lucene.cli", "lilsr_tools.engines.native.cli",
                  "lilsr_tools.engines.pisa.cli", "lilsr_tools.engines.milvus.cli", "lilsr_tools.engines.index_cli")


@click.group("index")
def command():
    """Build an index from a vector store (one command per engine) or from raw text (bm25)."""


for _module_name in INDEX_COMMANDS:
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as _exc:
        if not _module_name.startswith(str(_exc.name)):
            raise
        continue
    for _command in getattr(_module, "commands", [getattr(_module, "command", None)]):
        if _command is not None:
            command.add_command(_command)
