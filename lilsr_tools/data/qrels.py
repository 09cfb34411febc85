"""Relevance judgments: BEIR TSV (``query-id<TAB>corpus-id<TAB>score`` with a header) or TREC qrels."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import LilsrError
from .jsonl import read_lines

Qrels = dict[str, dict[str, int]]


TREC_FIELDS = "qid iter docid rel"
BEIR_FIELDS = "query-id corpus-id score"


def read_qrels(path: str | Path) -> Qrels:
    """Return ``{qid: {docid: relevance}}``. The format is decided once per file, by its first line: TREC
    (4 fields: qid iter docid rel) or BEIR TSV (a header line ``query-id corpus-id score``, then 3 fields);
    a line with another number of fields is refused, so that a TREC line missing a field (``1 0 31715818``)
    is never read as document "0" judged 31715818. Relevance must be an integer (0.6 is refused, not
    truncated to 0); a pair judged twice must get the same grade both times (a conflict is refused, naming
    both lines)."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such qrels file")
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    fields = None  # 4 (TREC) or 3 (BEIR), from the first line
    for number, line in read_lines(path):
        parts = line.split()
        if not parts:
            continue
        if fields is None:
            fields = _detect_format(path, number, parts)
            if fields == 3:
                continue  # the BEIR header
        if len(parts) != fields:
            expected = f"'{TREC_FIELDS}' (TREC)" if fields == 4 else f"'{BEIR_FIELDS}' (BEIR TSV)"
            raise LilsrError(f"{path}:{number}: {len(parts)} fields, but this file's first line makes it "
                             f"{expected}, {fields} fields a line")
        if fields == 3:
            qid, docid, rel = parts
        else:
            qid, _, docid, rel = parts
        if not _is_number(rel):
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


def _detect_format(path: Path, number: int, parts: list[str]) -> int:
    """4 for TREC, 3 for BEIR TSV (whose first line is its header)."""
    if len(parts) == 4:
        return 4
    if len(parts) == 3 and not _is_number(parts[2]):
        return 3
    if len(parts) == 3:
        raise LilsrError(f"{path}:{number}: 3 fields and no BEIR header: a TREC qrels line has 4 "
                         f"({TREC_FIELDS}); a BEIR TSV file starts with the header line '{BEIR_FIELDS}' "
                         "(tab-separated)")
    raise LilsrError(f"{path}:{number}: expected 4 columns '{TREC_FIELDS}' (TREC) or a BEIR TSV header "
                     f"'{BEIR_FIELDS}' then 3 columns, got {len(parts)} columns")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
