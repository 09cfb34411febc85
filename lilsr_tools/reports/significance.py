"""Paired significance of per-query effectiveness against a baseline cell."""

from __future__ import annotations

import numpy as np
from scipy import stats


def paired_test(per_query: dict[str, float], baseline: dict[str, float], method: str = "t-test",
                rounds: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value over the queries both cells were judged on.

    ``t-test``: paired Student t-test (scipy.stats.ttest_rel). ``randomization``: Fisher's paired
    randomization test (sign flips of the per-query differences)."""
    shared = sorted(set(per_query) & set(baseline))
    if len(shared) < 2:
        return float("nan")
    a = np.array([per_query[q] for q in shared])
    b = np.array([baseline[q] for q in shared])
    diff = a - b
    if not np.any(diff):
        return 1.0
    if method == "t-test":
        return float(stats.ttest_rel(a, b).pvalue)
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(rounds, diff.size))
    observed = abs(diff.mean())
    return float((np.abs((signs * diff).mean(axis=1)) >= observed).mean())


def mark(delta: float, p_value: float, alpha: float = 0.05) -> str:
    """▲ significantly better, ▼ significantly worse, nothing otherwise."""
    if not np.isfinite(p_value) or p_value >= alpha:
        return ""
    return "▲" if delta > 0 else "▼"
