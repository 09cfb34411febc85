"""Effectiveness through ir_measures.

Judged queries that the run does not answer count as zero in every average (as ``trec_eval -c`` does);
ir_measures alone would average only over the queries present in the run and flatter a run that drops
queries. The summary says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import ir_measures

from ..data.qrels import Qrels
from ..data.trec import Run
from .measure_names import MEASURE_HELP, Measure, parse_measures  # noqa: F401 (re-exported)

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000")

@dataclass
class Evaluation:
    aggregates: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    judged_queries: int = 0
    run_queries: int = 0
    missing_from_run: list[str] = field(default_factory=list)  # judged, but absent from the run
    unjudged_in_run: int = 0  # in the run, but absent from the qrels (ignored)
    warnings: list[str] = field(default_factory=list)  # e.g. a graded measure on binary judgments

    def summary(self) -> dict:
        summary = {"judged_queries": self.judged_queries, "run_queries": self.run_queries,
                   "judged_missing_from_run": len(self.missing_from_run),
                   "missing_examples": self.missing_from_run[:10], "unjudged_in_run": self.unjudged_in_run}
        if self.warnings:
            summary["warnings"] = list(self.warnings)
        return summary


def graded_measure_warnings(measures: Sequence[Measure], qrels: Qrels) -> list[str]:
    """One line per measure that counts only grades above the qrels' highest: it is 0 for every query, which
    looks like a result (``nDCG(rel=2)@10`` on SciFact's binary judgments)."""
    top = max((rel for docs in qrels.values() for rel in docs.values()), default=0)
    return [f"measure {m.name!r} counts grades >= {m.rel} as relevant, but the highest grade in the qrels is "
            f"{top}: it is 0 for every query" for m in measures if m.rel > max(top, 1)]


def evaluate(run: Run, qrels: Qrels, measures: Sequence[str] = DEFAULT_MEASURES) -> Evaluation:
    parsed = parse_measures(measures)
    names = list(dict.fromkeys(m.name for m in parsed))
    judged = [qid for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())]
    in_run = set(run)
    missing = [qid for qid in judged if qid not in in_run or not run[qid]]
    run_rows = [ir_measures.ScoredDoc(qid, docid, score)
                for qid in judged if qid in in_run for docid, score in run[qid]]
    per_query: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in names} for qid in judged}
    for min_rel in dict.fromkeys(m.min_rel for m in parsed):
        group: dict = {}  # one measure may carry several names (nDCG@10 and ndcg_cut.10)
        for m in parsed:
            if m.min_rel == min_rel:
                group.setdefault(m.measure, []).append(m.name)
        qrels_rows = [ir_measures.Qrel(qid, docid, rel if min_rel is None or rel >= min_rel else 0)
                      for qid in judged for docid, rel in qrels[qid].items()]
        for metric in ir_measures.iter_calc(list(group), qrels_rows, run_rows):
            for name in group[metric.measure]:
                per_query[metric.query_id][name] = float(metric.value)
    count = len(judged)
    aggregates = {name: (sum(q[name] for q in per_query.values()) / count if count else 0.0) for name in names}
    return Evaluation(aggregates, per_query, count, len(in_run), missing,
                      len(in_run - set(qrels)), graded_measure_warnings(parsed, qrels))


def accuracy_at_k(run: Run, exact: Run, k: int = 10) -> float:
    """Mean share of the exact top-k that the run's top-k contains. Tie-aware: a returned document whose
    exact score equals the k-th exact score is a hit, also when the exact engine ranked it just past k; so
    ``exact`` must list those ties after its top k (``ExactEngine`` with ``ties=true``; ``Workspace.exact_run``).
    Ties fill only the places left below the scores above the k-th: finding two ties does not make up for
    missing a better document. Scores compare as a TREC run holds them (6 decimals)."""
    if not exact:
        return 0.0
    shares = []
    for qid, exact_rows in exact.items():
        truth = exact_rows[:k]
        if not truth:
            continue
        kth = truth[-1][1]
        above = {doc for doc, score in exact_rows if score > kth}  # each must be found itself
        tied = {doc for doc, score in exact_rows if score == kth}  # interchangeable for the remaining places
        found = {doc for doc, _ in run.get(qid, [])[:k]}
        hits = len(found & above) + min(len(found & tied), len(truth) - len(above))
        shares.append(hits / len(truth))
    return sum(shares) / len(shares) if shares else 0.0
