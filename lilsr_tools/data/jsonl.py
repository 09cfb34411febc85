"""Line-by-line JSONL reading with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..errors import LilsrError


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 text file (newline removed). A line that is not
    UTF-8 raises ``LilsrError`` naming the file, line and column, instead of a UnicodeDecodeError."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LilsrError(f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                 "convert the file to UTF-8") from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]  # a byte-order mark is not part of the first field
            yield number, line.rstrip("\r\n")


def read_utf8(path: str | Path) -> str:
    """A whole UTF-8 text file (a byte-order mark dropped); a bad byte raises ``LilsrError`` naming the file,
    line and column, as ``read_lines`` does, never replacement characters."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LilsrError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); "
                         "convert the file to UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_jsonl(path: str | Path, start: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; malformed lines raise ``LilsrError``.
    ``start``: skip that many non-blank lines first, without parsing them (one shard of a big file)."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        if start:
            start -= 1
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LilsrError(f"{path}:{number}: malformed JSON ({exc.msg} at column {exc.colno}); "
                             "fix or remove that line") from None
        except RecursionError:
            raise LilsrError(f"{path}:{number}: JSON nested too deeply") from None
        if not isinstance(obj, dict):
            raise LilsrError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def require_field(obj: dict, field: str, path, number: int, kinds=(str, int)):
    if field not in obj:
        raise LilsrError(f"{path}:{number}: missing field '{field}'")
    value = obj[field]
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise LilsrError(f"{path}:{number}: field '{field}' has type {type(value).__name__}")
    return value
