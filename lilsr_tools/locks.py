"""One writer per output: an exclusive lock beside the output, held for the whole command.

Two ``lilsr encode corpus`` runs into one output with different parameters used to interleave: each reset
the other's work folder and reused its shards, one exited 0 with a manifest stating its parameters over
the other's vectors; two index builds both exited 0 (last wins). Now every command that writes an output
(encode, synth, merge, index builds, train) first takes ``fcntl.flock`` on ``.NAME.lock`` beside it (the
work or shard folder ``.NAME.shards`` is covered by the same lock), and a second writer is refused at once
naming the holder's PID and command. The kernel drops the lock when the holder dies, even by kill -9;
the file itself holds only the holder's identity, for the message.

Locks are re-entrant within a process (``encode_corpus`` takes the lock, then ``save_vectors`` asks for it
again), counted per output path.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Iterator

from .errors import LilsrError

_HELD: dict[Path, int] = {}  # output path -> depth, for this process


def lock_path(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _holder(file: Path) -> str:
    try:
        text = file.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "another process"
    return text.replace("\n", ", ") or "another process"


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold the lock of output ``out`` for the block; refuse (``LilsrError``) if another process holds it."""
    out = Path(out).absolute()
    if out in _HELD:
        _HELD[out] += 1
        try:
            yield
        finally:
            _HELD[out] -= 1
        return
    file = lock_path(out)
    while True:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # the same words as atomic.check_can_write, which would refuse it next
            raise LilsrError(f"{out}: cannot write there ({exc.strerror} in {file.parent}); choose another path") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LilsrError(f"{out} is being written by another lilsr process ({_holder(file)}); wait for it to "
                             "finish or choose another output") from None
        # the holder before us may have removed the file after we opened it: then our lock guards nothing
        try:
            same = os.fstat(fd).st_ino == os.stat(file).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode("utf-8", "replace"))
        _HELD[out] = 1
        yield
    finally:
        _HELD.pop(out, None)
        with contextlib.suppress(OSError):
            os.unlink(file)  # still holding the lock: nobody can hold this inode meanwhile
        os.close(fd)


def locks_output(argument: str = "out"):
    """Decorate a function that writes the output named by its argument ``argument``: the lock is held for
    the whole call."""
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            out = signature.bind_partial(*args, **kwargs).arguments.get(argument)
            if out is None:
                return fn(*args, **kwargs)
            with output_lock(out):
                return fn(*args, **kwargs)
        return locked
    return decorate
