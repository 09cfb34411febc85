"""How many threads numba's parallel loops use: one rule for every compiled stage (native build and search,
BP reordering)."""

from __future__ import annotations


def use_numba_threads(threads: int | None) -> int:
    """Set numba's parallel loops to ``threads`` (None or 0: every thread numba has), never more than numba
    has nor fewer than one; returns the count set."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    count = max(1, min(threads or available, available))
    numba.set_num_threads(count)
    return count
