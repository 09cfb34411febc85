"""Relevance judgments: BEIR TSV (``query-id<TAB>corpus-id<TAB>score`` with a header) or TREC qrels."""

from __future__ import annotations

from pathlib import Path

from ..errors import LilsrError

Qrels = dict[str, dict[str, int]]


def read_qrels(path: str | Path) -> Qrels:
    """Return ``{qid: {docid: relevance}}``. Accepts 3 columns (BEIR) or 4 (TREC: qid iter docid rel)."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such qrels file")
    qrels: Qrels = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 3:
                qid, docid, rel = parts
            elif len(parts) == 4:
                qid, _, docid, rel = parts
            else:
                raise LilsrError(f"{path}:{number}: expected 'qid docid rel' or 'qid 0 docid rel', got {len(parts)} columns")
            try:
                relevance = int(float(rel))
            except ValueError:
                if number == 1 and len(parts) == 3:  # BEIR header: query-id corpus-id score
                    continue
                raise LilsrError(f"{path}:{number}: relevance {rel!r} is not a number") from None
            qrels.setdefault(qid, {})[docid] = relevance
    if not qrels:
        raise LilsrError(f"{path}: no judgments found")
    return qrels
