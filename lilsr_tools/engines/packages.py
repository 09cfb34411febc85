"""What the engines that wrap a compiled package (BMP, kANNolo) share: importing the package with an error
that names the make target installing it, turning a Rust panic into a ``LilsrError``, and refusing queries
whose vocabulary is not the index's."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import re
import sys
import tempfile
from importlib import metadata

from ..errors import LilsrError

# a batch of queries with more than this share of its tokens unknown to the index was encoded for another
# vocabulary (a query encoder of the same model never produces a token outside the model's vocabulary)
FOREIGN_VOCAB_SHARE = 0.5


def import_package(module: str, engine: str, distribution: str, threads: int | None = None):
    """``import module``; a missing package becomes one line naming ``make venv`` (the ``engines`` extra).
    ``threads`` sizes the Rayon pool, which Rust packages read once, when first imported."""
    if module not in sys.modules and threads:
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LilsrError(f"the {engine} engine needs the {distribution} package ({exc}); run 'make venv', which "
                         f"installs the engines extra (or pip install '{distribution}')") from None


def package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def call_rust(what: str, fn, *args, **kwargs):
    """Run a call into a Rust extension, turning a panic (pyo3's ``PanicException``, a ``BaseException``)
    or a conversion error into a ``LilsrError``."""
    try:
        return fn(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: B036 - pyo3's PanicException derives from BaseException
        if is_rust_error(exc):
            raise rust_error(what, exc) from None
        raise


def call_rust_quiet(what: str, fn, *args, **kwargs):
    """``call_rust`` for builds: Rust's panic hook writes a backtrace to file descriptor 2 before the panic
    reaches us; it is held back (the error keeps its first line) so that a failure stays one line, and
    shown as it was when the call succeeds. A full disk reported by Rust becomes an ``OSError`` (ENOSPC), for
    the atomic writer to name the output."""
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            result = call_rust(what, fn, *args, **kwargs)
            failed = False
        except LilsrError as exc:
            if _STORAGE_FULL.search(str(exc)):
                raise OSError(errno.ENOSPC, f"{what}: {os.strerror(errno.ENOSPC)}") from None
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not failed:
                captured.seek(0)
                with contextlib.suppress(OSError):
                    os.write(2, captured.read())
    return result


_STORAGE_FULL = re.compile(r"StorageFull|code: 28\b|No space left on device")


def is_rust_error(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException" or isinstance(exc, (ValueError, TypeError, OSError))


def rust_error(what: str, exc: BaseException) -> LilsrError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return LilsrError(f"{what} failed: {first}")


def check_query_vocab(unknown: int, total: int, where) -> None:
    """Refuse a query batch most of whose tokens the index has never seen: it was encoded with another
    model's vocabulary, and searching it would silently return near-empty results."""
    if total and unknown > FOREIGN_VOCAB_SHARE * total:
        raise LilsrError(f"{unknown} of {total} query tokens are not in the vocabulary of {where}: the queries "
                         "were encoded for another model; encode them with the model that made the index")
