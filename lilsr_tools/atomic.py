"""Write-then-rename helpers, so that an interrupted write never leaves a loadable artefact.

Every artefact of the toolkit is a folder with a ``manifest.json``; it is built in a hidden sibling
folder and renamed into place only when complete. Single files (runs, reports) go the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from .errors import LilsrError


def _sibling(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def check_can_write(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless asked to."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise LilsrError(f"{path} already exists; pass --overwrite to replace it or choose another path")
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` when the block finishes without error."""
    path = check_can_write(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_path(tmp, path)


def replace_path(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``, replacing a previous ``dst`` (a file or a folder)."""
    if dst.exists():
        old = _sibling(dst, "old")
        dst.rename(old)
        src.rename(dst)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        src.rename(dst)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", overwrite: bool = True, encoding: str | None = "utf-8"):
    """Open a temporary file that replaces ``path`` when the block finishes without error."""
    path = check_can_write(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    kwargs = {} if "b" in mode else {"encoding": encoding}
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
