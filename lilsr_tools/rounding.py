"""Floats rounded for the JSON a user reads: 10 significant digits.

Averages of per-query values come out as 0.15800000000000036; no measure or timing here carries more than
10 significant digits of information, and the extra digits make equal results look different.
"""

from __future__ import annotations

import math

SIGNIFICANT_DIGITS = 10


def round_floats(value, digits: int = SIGNIFICANT_DIGITS):
    """``value`` with every float (numpy's included) inside dicts, lists and tuples rounded to ``digits``
    significant digits; NaN and infinities, ints, bools and strings as they were."""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float) or type(value).__name__ in ("float16", "float32", "float64"):
        number = float(value)
        return number if not math.isfinite(number) else float(f"{number:.{digits}g}")
    if isinstance(value, dict):
        return {key: round_floats(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(item, digits) for item in value]
    return value
