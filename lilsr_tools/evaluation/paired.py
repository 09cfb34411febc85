"""Two evaluated runs compared query by query: a paired t-test per measure, and which run is better.

Only the queries both runs answer are paired: a judged query one run leaves out scores 0 in that run's
average (see ``metrics``), but pairing it would test the missing answer, not the ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..reports.significance import paired_test
from .metrics import Evaluation

ALPHA = 0.05


@dataclass(frozen=True)
class PairedMeasure:
    measure: str
    baseline_mean: float  # both means over the paired queries only
    mean: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.mean - self.baseline_mean

    @property
    def significant(self) -> bool:
        return self.p_value == self.p_value and self.p_value < ALPHA  # NaN (fewer than 2 queries) is not

    def verdict(self, name: str, baseline_name: str) -> str:
        """Which run is better, and whether the difference is significant at ``ALPHA``."""
        if self.delta == 0:
            return "equal"
        better = name if self.delta > 0 else baseline_name
        return f"{better} better" + (f" (significant at {ALPHA})" if self.significant else
                                     f" (not significant at {ALPHA})")


def answered(evaluation: Evaluation) -> set[str]:
    """The judged queries the run answers."""
    return set(evaluation.per_query) - set(evaluation.missing_from_run)


def paired_comparison(evaluation: Evaluation, baseline: Evaluation) -> tuple[int, list[PairedMeasure]]:
    """(number of queries paired, one ``PairedMeasure`` per measure of ``evaluation``), paired t-test."""
    shared = sorted(answered(evaluation) & answered(baseline))
    rows = []
    for measure in evaluation.aggregates:
        ours = {q: evaluation.per_query[q][measure] for q in shared}
        theirs = {q: baseline.per_query[q][measure] for q in shared}
        count = len(shared) or 1
        rows.append(PairedMeasure(measure, sum(theirs.values()) / count, sum(ours.values()) / count,
                                  paired_test(ours, theirs, "t-test")))
    return len(shared), rows
