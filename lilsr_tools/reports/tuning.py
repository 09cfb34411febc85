"""Choosing an approximate engine's setting on dev queries, separately at each k.

A candidate is a measured setting: its accuracy@k against exact top-k (tie-aware) and its p50 latency (the
per-query median of >= 3 timed repeats). The choice is the fastest candidate reaching the target, else the
most accurate. A choice on the edge of its grid may only be the best of a grid too narrow (the 1M study's
heap_factor floor of 0.6 hid a faster setting reaching 0.95): ``widen`` proposes one more step beyond every
edge the choice sits on, for one more round.
"""

from __future__ import annotations

from numbers import Real
from typing import Sequence

# a parameter's widest range where its engine declares none: numbers stay positive
DEFAULT_BOUNDS = (0.0, None)


def pick(candidates: Sequence[dict], target: float) -> tuple[dict, bool]:
    """(the chosen candidate, whether it reaches ``target``); candidates hold "accuracy" and "latency_ms"."""
    if not candidates:
        raise ValueError("no candidate settings to choose from")
    reaching = [c for c in candidates if c["accuracy"] >= target]
    if reaching:
        return min(reaching, key=lambda c: (c["latency_ms"], -c["accuracy"])), True
    return max(candidates, key=lambda c: (c["accuracy"], -c["latency_ms"])), False


def grid_axes(settings: Sequence[dict]) -> dict[str, list]:
    """Each numeric parameter's values across ``settings``, ascending (other parameters have no edge)."""
    axes: dict[str, set] = {}
    for setting in settings:
        for name, value in setting.items():
            if isinstance(value, Real) and not isinstance(value, bool):
                axes.setdefault(name, set()).add(value)
    return {name: sorted(values) for name, values in axes.items()}


def _step_beyond(values: list, edge_low: bool, bounds: tuple) -> Real | None:
    """One step past the low or high edge of ``values``, by the gap to the edge's neighbour, inside
    ``bounds`` (exclusive low end 0.0 for positive-only parameters); None where no new value fits."""
    if len(values) < 2:
        return None
    low, high = bounds
    if edge_low:
        edge, gap = values[0], values[1] - values[0]
        new = edge - gap
    else:
        edge, gap = values[-1], values[-1] - values[-2]
        new = edge + gap
    if all(isinstance(v, int) for v in values):
        new = int(round(new))
    else:
        new = round(float(new), 6)
    if low is not None:
        if new < low or (low == 0.0 and new <= 0):
            new = low if low > 0 else None
    if new is not None and high is not None and new > high:
        new = high
    if new is None or new in values:
        return None
    return new


def widen(settings: Sequence[dict], chosen: dict, bounds: dict[str, tuple] | None = None) -> list[dict]:
    """New settings one step beyond each grid edge that ``chosen`` sits on: per such parameter, ``chosen``
    with that parameter moved past the edge (the other parameters kept). Empty when ``chosen`` is inside
    the grid on every axis or no step fits the parameter's bounds."""
    bounds = bounds or {}
    tried = [dict(s) for s in settings]
    new: list[dict] = []
    for name, values in grid_axes(settings).items():
        value = chosen.get(name)
        if value is None or len(values) < 2:
            continue
        for edge_low in (True, False):
            if value != (values[0] if edge_low else values[-1]):
                continue
            step = _step_beyond(values, edge_low, bounds.get(name, DEFAULT_BOUNDS))
            if step is None:
                continue
            candidate = {**chosen, name: step}
            if candidate not in tried and candidate not in new:
                new.append(candidate)
    return new
