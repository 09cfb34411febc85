"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

from ..atomic import atomic_file
from ..errors import LilsrError
from .jsonl import read_lines

# {qid: [(docid, score), ...]} in rank order
Run = dict[str, list[tuple[str, float]]]


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
