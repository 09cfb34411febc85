"""Readable column headers with units for the reports' tables (``encode_mean_ms`` -> ``encode mean (ms)``).

Only what a reader sees changes: ``results.csv`` and the other CSV files keep the machine names, which
scripts read. Names are mapped by a few explicit entries, then by their unit suffix.
"""

from __future__ import annotations

# whole names whose plain-words form is not their suffix rule's
NAMES = {
    "mean_doc_nnz": "doc non-zeros (mean)",
    "mean_query_nnz": "query non-zeros (mean)",
    "p_vs_baseline": "p vs baseline",
    "sig": "sig",
    "index_bytes": "index (bytes)",
    "posting_p99": "posting list p99 (docs)",
    "unknown_query_tokens": "unknown query tokens",
    "table_source": "table source",
    "lambda_d": "lambda_d",
    "docs_truncated": "docs truncated",
    "tokens_cut_share": "tokens cut (share)",
}

# unit suffixes, longest first: "_p50_ms" is a "_ms" column
UNITS = {"_ms": "ms", "_MB": "MB", "_GiB": "GiB", "_GB": "GB", "_s": "s", "_bytes": "bytes", "_points": "points"}

# words a reader says differently from the code
WORDS = {"retrieval": "retrieve", "nnz": "non-zeros", "rss": "RSS"}


def readable(name: str) -> str:
    """The header a reader sees for column ``name``. Measures (``nDCG@10``) and names without an
    underscore are kept as they are."""
    name = str(name)
    if name in NAMES:
        return NAMES[name]
    if "_" not in name:
        return name
    unit = ""
    for suffix in sorted(UNITS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            name, unit = name[: -len(suffix)], UNITS[suffix]
            break
    words = " ".join(WORDS.get(word, word) for word in name.split("_") if word)
    return f"{words} ({unit})" if unit else words
