"""Relevance judgments: BEIR TSV (``query-id<TAB>corpus-id<TAB>score`` with a header) or TREC qrels."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import LilsrError
from .jsonl import read_lines

Qrels = dict[str, dict[str, int]]


def read_qrels(path: str | Path) -> Qrels:
    """Return ``{qid: {docid: relevance}}``. Accepts 3 columns (BEIR, an optional header on line 1) or 4
    (TREC: qid iter docid rel). Relevance must be an integer (0.6 is refused, not truncated to 0); a pair
    judged twice must get the same grade both times (a conflict is refused, naming both lines)."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such qrels file")
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, line in read_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 3:
            qid, docid, rel = parts
        elif len(parts) == 4:
            qid, _, docid, rel = parts
        else:
            raise LilsrError(f"{path}:{number}: expected 'qid docid rel' or 'qid 0 docid rel', got {len(parts)} columns")
        if not _is_number(rel):
            if number == 1 and len(parts) == 3:  # BEIR header: query-id corpus-id score
                continue
            raise LilsrError(f"{path}:{number}: relevance {rel!r} is not a number")
        value = float(rel)
        if not value.is_integer():  # ir_measures would truncate 0.6 to 0: a relevant document lost silently
            raise LilsrError(f"{path}:{number}: relevance {rel!r} is not an integer; grades are 0, 1, 2, ...")
        relevance = int(value)
        pair = (qid, docid)
        if pair in first_line and qrels[qid][docid] != relevance:
            raise LilsrError(f"{path}:{number}: query {qid!r}, document {docid!r} judged {relevance} here and "
                             f"{qrels[qid][docid]} on line {first_line[pair]}; keep one grade")
        first_line.setdefault(pair, number)
        qrels.setdefault(qid, {})[docid] = relevance
    if not qrels:
        raise LilsrError(f"{path}: no judgments found")
    return qrels


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
