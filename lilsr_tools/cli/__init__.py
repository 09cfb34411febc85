"""The ``lilsr`` command line: a thin layer over the library.

Each sub-module defines one command (or group) named ``command``, or a list of them named ``commands``. Heavy imports (torch, the JVM) happen
inside the commands, so ``lilsr --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import LilsrError

COMMAND_MODULES = ("encode", "table", "vectors", "index", "search", "evaluate", "train", "compare")


class LilsrGroup(click.Group):
    """Turns ``LilsrError`` into one line on stderr and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LilsrError as exc:
            click.echo(f"lilsr: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("lilsr: interrupted; partial outputs were discarded (re-run to resume)", err=True)
            ctx.exit(130)


@click.group(cls=LilsrGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="lilsr")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bars (they show only on a terminal anyway; LILSR_PROGRESS=1 forces them).")
def main(quiet):
    """Learned sparse retrieval with inference-free (Li-LSR) queries: encode, index, search, train, compare."""
    if quiet:
        import os

        os.environ["LILSR_PROGRESS"] = "0"


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f".{_name}", __name__)
    except ModuleNotFoundError as _exc:  # a stage that is not installed in this checkout
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    for _command in getattr(_module, "commands", None) or [_module.command]:
        main.add_command(_command)


if __name__ == "__main__":
    sys.exit(main())
