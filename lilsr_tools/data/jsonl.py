"""Line-by-line JSONL reading with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..errors import LilsrError


def read_jsonl(path: str | Path, start: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; malformed lines raise ``LilsrError``.
    ``start``: skip that many non-blank lines first, without parsing them (one shard of a big file)."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
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
            if not isinstance(obj, dict):
                raise LilsrError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj


def require_field(obj: dict, field: str, path, number: int, kinds=(str, int)):
    if field not in obj:
        raise LilsrError(f"{path}:{number}: missing field '{field}'")
    value = obj[field]
    if not isinstance(value, kinds):
        raise LilsrError(f"{path}:{number}: field '{field}' has type {type(value).__name__}")
    return value
