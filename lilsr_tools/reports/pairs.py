"""The pairs of cells a reader compares, each with its paired significance test.

Two kinds: every cell against the baseline (the ▲/▼ of ``results.csv``), and model against model where
nothing else differs (same engine, query encoder, build and search parameters), which is how a reader
asks "is the denser model better?" without the engine or the query side moving too.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from .significance import mark, paired_test

BASELINE = "vs baseline"
SAME_SETTING = "model vs model, same engine and encoder"
COLUMNS = ["cell", "other", "pair", "measure", "value", "other_value", "difference", "p", "sig"]


def setting_of(record: dict) -> tuple:
    """What a model-vs-model pair holds fixed: everything of the cell but its model."""
    return (record["engine"], record.get("encoder"), repr(sorted((record.get("build") or {}).items())),
            repr(sorted((record.get("search") or {}).items())))


def comparable_pairs(records: list[dict], baseline: str | None) -> list[tuple[dict, dict, str]]:
    """(cell, other, kind) for every pair to test, each pair once, in grid order. Only cells that ran and
    were judged per query take part."""
    ok = [r for r in records if r["status"] == "ok" and r.get("per_query")]
    pairs, seen = [], set()
    base = next((r for r in ok if r["cell"] == baseline), None)
    if base is not None:
        for r in ok:
            if r is not base:
                pairs.append((r, base, BASELINE))
                seen.add(frozenset((r["cell"], base["cell"])))
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        if r.get("model"):
            groups.setdefault(setting_of(r), []).append(r)
    for group in groups.values():
        for a, b in combinations(group, 2):
            if frozenset((a["cell"], b["cell"])) not in seen:
                pairs.append((a, b, SAME_SETTING))
                seen.add(frozenset((a["cell"], b["cell"])))
    return pairs


def pairwise_table(records: list[dict], measure: str, baseline: str | None, method: str = "t-test") -> pd.DataFrame:
    """One row per compared pair: both values of ``measure`` (the one tested per query), their difference
    (cell - other), the two-sided p-value and ▲/▼ (cell significantly better/worse than other, p < 0.05)."""
    rows = []
    for a, b, kind in comparable_pairs(records, baseline):
        p = paired_test(a["per_query"], b["per_query"], method)
        difference = a["metrics"][measure] - b["metrics"][measure]
        rows.append({"cell": a["cell"], "other": b["cell"], "pair": kind, "measure": measure,
                     "value": a["metrics"][measure], "other_value": b["metrics"][measure],
                     "difference": difference, "p": p, "sig": mark(difference, p)})
    return pd.DataFrame(rows, columns=COLUMNS)
