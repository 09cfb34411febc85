"""Effectiveness through ir_measures, accuracy@k, and latency summaries."""

import pytest

from lilsr_tools.errors import LilsrError
from lilsr_tools.evaluation import accuracy_at_k, evaluate, summarize_ns

QRELS = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}, "q3": {"d9": 0}}


def test_missing_judged_queries_count_as_zero_and_are_reported():
    run = {"q1": [("d1", 3.0), ("d2", 1.0)], "q4": [("d1", 1.0)]}
    result = evaluate(run, QRELS, ["nDCG@10", "RR@10"])
    assert result.per_query["q1"] == {"nDCG@10": 1.0, "RR@10": 1.0}
    assert result.per_query["q2"] == {"nDCG@10": 0.0, "RR@10": 0.0}
    # q3 has no relevant document: not a judged query; q2 is judged but missing from the run
    assert result.aggregates == {"nDCG@10": 0.5, "RR@10": 0.5}
    assert result.missing_from_run == ["q2"] and result.unjudged_in_run == 1


def test_rank_order_follows_scores_and_graded_gain():
    run = {"q1": [("d2", 2.0), ("d1", 1.0)], "q2": [("d3", 1.0)]}
    result = evaluate(run, QRELS, ["RR@10", "nDCG@10", "R@1000"])
    assert result.per_query["q1"]["RR@10"] == 0.5
    assert result.per_query["q2"]["nDCG@10"] == 1.0
    assert result.aggregates["R@1000"] == 1.0


def test_unknown_measure_is_a_clear_error():
    with pytest.raises(LilsrError, match="unknown measure 'nDCG@ten'"):
        evaluate({}, QRELS, ["nDCG@ten"])


def test_accuracy_at_k_counts_ties_at_the_cut():
    exact = {"q": [("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", 1.0)]}
    assert accuracy_at_k({"q": [("a", 3.0), ("c", 2.0)]}, exact, k=2) == 1.0
    assert accuracy_at_k({"q": [("a", 3.0), ("d", 1.0)]}, exact, k=2) == 0.5
    assert accuracy_at_k({}, exact, k=2) == 0.0


def test_latency_summary_in_milliseconds():
    summary = summarize_ns([1_000_000, 2_000_000, 3_000_000])
    assert summary["n"] == 3 and summary["mean_ms"] == 2.0 and summary["p50_ms"] == 2.0 and summary["max_ms"] == 3.0
