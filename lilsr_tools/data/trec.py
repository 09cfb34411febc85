"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

from ..atomic import atomic_file
from ..errors import LilsrError
from .jsonl import read_lines

# {qid: [(docid, score), ...]} in rank order
Run = dict[str, list[tuple[str, float]]]

TAG_LIMIT = 60
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._=+:,@-]+")


def run_tag(text: str, limit: int = TAG_LIMIT) -> str:
    """A TREC run tag for ``text`` (a cell id, say): readable, no whitespace, at most ``limit`` characters.
    Longer texts keep their head and end in ``~`` plus 8 hex digits of a hash of the whole text, so two
    texts that differ anywhere (``query_cut=10`` vs ``query_cut=20`` at the end) never share a tag."""
    tag = _TAG_UNSAFE.sub("_", text.replace("/", ".")).strip("_") or "run"
    if len(tag) <= limit:
        return tag
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{tag[:limit - 9]}~{digest}"


def check_tag(tag: str) -> str:
    """A user's ``--tag``: one non-empty word (the run file's last column)."""
    if not tag or any(c.isspace() for c in tag):
        raise LilsrError(f"run tag {tag!r} must be one non-empty word without whitespace")
    return tag


def write_run(path: str | Path, qids: Sequence[str], doc_ids: Sequence[Sequence[str]],
              scores: Sequence[Iterable[float]], tag: str = "lilsr", overwrite: bool = True) -> int:
    """Write a run atomically; returns the number of lines. Rows must already be sorted by score."""
    lines = 0
    with atomic_file(path, overwrite=overwrite) as out:
        for qid, ids, values in zip(qids, doc_ids, scores):
            for rank, (docid, score) in enumerate(zip(ids, values), start=1):
                out.write(f"{qid} Q0 {docid} {rank} {float(score):.6f} {tag}\n")
                lines += 1
    return lines


def read_run(path: str | Path) -> Run:
    """Read a run; rows are re-sorted by descending score (ties by docid, as trec_eval does)."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such run file")
    run: Run = {}
    for number, line in read_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise LilsrError(f"{path}:{number}: expected 'qid Q0 docid rank score tag', got {len(parts)} columns")
        try:
            score = float(parts[4])
        except ValueError:
            raise LilsrError(f"{path}:{number}: score {parts[4]!r} is not a number") from None
        if not math.isfinite(score):
            raise LilsrError(f"{path}:{number}: score is {parts[4]}, not a finite number")
        run.setdefault(parts[0], []).append((parts[2], score))
    for qid, rows in run.items():
        if len({doc for doc, _ in rows}) != len(rows):
            _duplicate(path, qid)
        rows.sort(key=lambda row: (-row[1], row[0]))
    return run


def _duplicate(path: Path, qid: str) -> None:
    """Name the lines of a document listed twice for ``qid`` (a second pass, on the error path only)."""
    first: dict[str, int] = {}
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) == 6 and parts[0] == qid:
            if parts[2] in first:
                raise LilsrError(f"{path}:{number}: document {parts[2]!r} appears twice for query {qid!r} "
                                 f"(first on line {first[parts[2]]})")
            first[parts[2]] = number
