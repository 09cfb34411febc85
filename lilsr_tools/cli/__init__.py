"""The ``lilsr`` command line: a thin layer over the library.

Each sub-module defines one command (or group) named ``command``, or a list of them named ``commands``. Heavy imports (torch, the JVM) happen
inside the commands, so ``lilsr --help`` stays fast.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from .. import __version__
from ..errors import LilsrError

COMMAND_MODULES = ("encode", "table", "vectors", "index", "search", "evaluate", "train", "compare")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every clean-up (temporary folders, child JVMs) runs."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit] + " ..."


class LilsrGroup(click.Group):
    """Turns every error a user can cause into one line on stderr and exit status 2: ``LilsrError``, a bad
    option (click's usage errors, normally three lines), an operating-system error (a full disk, a file that
    vanished) and an exception thrown inside the JVM. Anything else is a bug and keeps its traceback."""

    def invoke(self, ctx):
        import signal

        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (an embedding application): leave signals alone
            pass
        try:
            return super().invoke(ctx)
        except LilsrError as exc:
            click.echo(f"lilsr: error: {_one_line(exc, 2000)}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"lilsr: error: {_one_line(exc.format_message())}{hint}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `lilsr evaluate ... | head`: the reader left; click exits quietly
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"lilsr: error: {where}{exc.strerror or _one_line(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as exc:
            what = "terminated" if isinstance(exc, Terminated) else "interrupted"
            click.echo(f"lilsr: {what}; partial outputs were discarded (re-run to resume)", err=True)
            ctx.exit(143 if isinstance(exc, Terminated) else 130)
        except Exception as exc:
            if type(exc).__name__ != "JavaException":  # pyjnius' exception, matched by name: no JVM import
                raise
            click.echo(f"lilsr: error: Java: {_one_line(exc)}", err=True)
            ctx.exit(2)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


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
