"""Latency summaries from per-query nanosecond timings."""

from __future__ import annotations

import numpy as np


def summarize_ns(times_ns) -> dict:
    """mean, p50, p90, p99 and max in milliseconds, plus the count."""
    times = np.asarray(times_ns, dtype=np.float64) / 1e6
    if times.size == 0:
        return {"n": 0}
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"n": int(times.size), "mean_ms": float(times.mean()), "p50_ms": float(p50), "p90_ms": float(p90),
            "p99_ms": float(p99), "max_ms": float(times.max())}
