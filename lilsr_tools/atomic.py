"""Write-then-rename helpers, so that an interrupted write never leaves a loadable artefact.

Every artefact of the toolkit is a folder with a ``manifest.json``; it is built in a hidden sibling
folder (``.NAME.tmp-PID-XXXXXXXX``) and renamed into place only when complete. Single files (runs, latency
files, reports) go the same way. A previous version is swapped out in one step (``renameat2`` with
``RENAME_EXCHANGE`` on Linux), so the final path always holds either the old or the new complete output.

A process killed with SIGKILL cannot clean up after itself: its temporary sibling stays. The next write of
the same path removes every sibling whose owning process (the PID in its name) is gone.

``check_can_write`` is the one gate for every output a command writes: it refuses an existing output
without ``--overwrite`` and an unwritable location (a read-only folder, a path under a regular file,
``/proc``), before any work is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from .errors import DiskFull, LilsrError


def _sibling(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def check_can_write(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless asked to, and refuse a location that cannot be written."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise LilsrError(f"{path} already exists; pass --overwrite to replace it or choose another path")
    _check_location(path)
    return path


def check_outputs(paths, overwrite: bool) -> list[Path]:
    """``check_can_write`` for every output of a command at once, before any of them is written."""
    checked = [check_can_write(path, overwrite) for path in paths if path is not None]
    names = [p.resolve() for p in checked]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise LilsrError(f"{checked[i]} is given as two different outputs; choose distinct paths")
    return checked


def _check_location(path: Path) -> None:
    """The nearest existing folder above ``path`` must be a folder we can create files in (tried for real:
    permission bits say nothing to root, and /proc or a read-only mount refuse what access() allows)."""
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LilsrError(f"{path}: cannot write there, {ancestor} is a file, not a folder")
    probe = ancestor / f".lilsr-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise LilsrError(f"{path}: cannot write there ({exc.strerror} in {ancestor}); choose another path") from None
    os.unlink(probe)


# --- stale temporaries --------------------------------------------------------------------------------------

def _stale_pattern(path: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(path.name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale(path: str | Path) -> list[Path]:
    """Remove the temporary siblings of ``path`` left by processes that no longer run; returns them."""
    path = Path(path)
    pattern = _stale_pattern(path)
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# --- atomic writers -----------------------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` when the block finishes without error."""
    path = check_can_write(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = _sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        fault_point("atomic:rename")
    except Exception as exc:  # DiskFull: a file inside (a manifest) filled it; name the output
        written = _bytes_in(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, DiskFull) or is_disk_full(exc):
            raise disk_full(path, written) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_path(tmp, path)


# --- a full disk --------------------------------------------------------------------------------------------

_NUMPY_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
# compiled engines report ENOSPC in their own words and exception types: Rust's io::Error (Seismic:
# 'Encode(Io { ... code: 28, kind: StorageFull, message: "No space left on device" })')
_ENGINE_NO_SPACE = re.compile(r"No space left on device|StorageFull|os error 28\b")


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, numpy's short write ("N requested and M written", no errno, no path), or a compiled
    engine's error saying the same (with a temporary path and no size)."""
    if isinstance(exc, OSError) and (exc.errno in (errno.ENOSPC, errno.EDQUOT)
                                     or _NUMPY_SHORT_WRITE.search(str(exc))):
        return True
    return isinstance(exc, Exception) and bool(_ENGINE_NO_SPACE.search(str(exc)))


def _bytes_in(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def free_bytes(path: str | Path) -> int | None:
    """Free bytes on the file system that holds ``path`` (its nearest existing ancestor)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full(path: str | Path, written: int, needed: int | None = None) -> DiskFull:
    """The one line for a full disk: the output, what it needs (or had written when the disk filled) and
    what is free once the partial output is removed."""
    free = free_bytes(Path(path).parent)
    need = f"it needs {_mib(needed)}" if needed else f"it needs more than the {_mib(written)} written when it filled"
    have = f", {_mib(free)} free" if free is not None else ""
    return DiskFull(f"{path}: no space left on the device ({need}{have}); nothing was written: free space or "
                    "choose another location")


def check_free_space(path: str | Path, needed: int, margin: float = 1.02) -> None:
    """Refuse before writing ``needed`` bytes at the output ``path`` when its file system has less free:
    memory-mapped writers die with SIGBUS, not an error, when a page finds no space."""
    free = free_bytes(Path(path).parent)
    if free is not None and needed * margin > free:
        raise disk_full(path, 0, needed)


def reserve(file: str | Path, size: int) -> None:
    """Allocate ``size`` bytes for ``file`` now (posix_fallocate), so that a full disk is an error here and not
    a SIGBUS when a memory map of it is written."""
    if not hasattr(os, "posix_fallocate") or size <= 0:
        return
    fd = os.open(file, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without it: the pre-check stands
            return
        raise
    finally:
        os.close(fd)


def replace_path(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``, replacing a previous ``dst`` (a file or a folder) in one step where the
    system allows it, so that ``dst`` is never missing or half-replaced."""
    src, dst = Path(src), Path(dst)
    if not (dst.exists() or dst.is_symlink()):
        src.rename(dst)
        return
    if not src.is_dir() and not dst.is_dir():
        os.replace(src, dst)
        return
    if _exchange(src, dst):  # src now holds the previous version
        _remove(src)
        return
    old = _sibling(dst, "old")
    dst.rename(old)
    src.rename(dst)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", overwrite: bool = True, encoding: str | None = "utf-8"):
    """Open a temporary file that replaces ``path`` when the block finishes without error."""
    path = check_can_write(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = _sibling(path, "tmp")
    kwargs = {} if "b" in mode else {"encoding": encoding}
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
    except OSError as exc:
        written = _bytes_in(tmp)
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full(path, written) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace_path(tmp, path)


# --- fault injection (tests) --------------------------------------------------------------------------------

def fault_point(name: str, **details) -> None:
    """A named point where the fault tests stop a real process: when ``$LILSR_FAULT_POINT`` is ``name``, the
    process writes its PID (and ``details``, e.g. a child's PID) to ``$LILSR_FAULT_MARKER`` and sleeps, for
    the test to kill it with SIGKILL (or, with ``$LILSR_FAULT_RESUME``, until that file exists: the race
    tests hold a writer there). Without the variable this is one dictionary look-up."""
    if os.environ.get("LILSR_FAULT_POINT") != name:
        return
    marker = os.environ.get("LILSR_FAULT_MARKER")
    if marker:
        text = " ".join([f"pid={os.getpid()}", *(f"{k}={v}" for k, v in details.items())])
        tmp = Path(marker + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, marker)
    resume = os.environ.get("LILSR_FAULT_RESUME")  # a file whose creation lets the process go on
    deadline = time.monotonic() + float(os.environ.get("LILSR_FAULT_SLEEP", "600"))
    while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
        time.sleep(0.05 if resume else max(0.0, deadline - time.monotonic()))
