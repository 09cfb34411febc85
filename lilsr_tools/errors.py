"""The one exception type users see.

A ``LilsrError`` carries a single line that says what is wrong, where (file and line when there is one)
and how to fix it. The CLI prints it without a traceback and exits with status 2.
"""


class LilsrError(Exception):
    """A user-facing error: bad input, a missing dependency, a refused operation."""


def where(path, line: int | None = None) -> str:
    """``path:line`` for error messages."""
    return f"{path}:{line}" if line is not None else str(path)


class DiskFull(LilsrError):
    """No space left where an output was being written (the partial output already removed)."""


class BadArgument(LilsrError, ValueError):
    """A bad value given to the Python API (``Searcher``, engines' methods): a ``ValueError`` for callers,
    and still one ``lilsr: error:`` line where the CLI meets it."""


class BadArgumentType(LilsrError, TypeError):
    """An argument of the wrong type given to the Python API: a ``TypeError`` for callers."""
