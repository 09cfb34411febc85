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


GRADED = {"q1": {"a": 1, "b": 3, "c": 2}, "q2": {"x": 1, "y": 2}}
GRADED_RUN = {"q1": [("a", 3.0), ("b", 2.0), ("z", 1.0)], "q2": [("x", 2.0), ("w", 1.0)]}


def test_trec_eval_names_keep_their_parameters():
    # trec_eval-style names once dropped "(rel=2)" and printed plain nDCG@10 / recall under the graded name
    result = evaluate(GRADED_RUN, GRADED, ["ndcg_cut.10(rel=2)", "nDCG(rel=2)@10", "nDCG@10",
                                           "recall.1000(rel=2)", "R(rel=2)@1000", "R@1000", "P_5(rel=2)", "P(rel=2)@5"])
    values = result.aggregates
    assert values["ndcg_cut.10(rel=2)"] == values["nDCG(rel=2)@10"] < values["nDCG@10"]
    assert values["recall.1000(rel=2)"] == values["R(rel=2)@1000"] < values["R@1000"]
    assert values["P_5(rel=2)"] == values["P(rel=2)@5"]


def test_trec_eval_name_with_several_cutoffs_gives_one_measure_each():
    result = evaluate(GRADED_RUN, GRADED, ["P.5,10", "ndcg_cut.5,10(rel=2)"])
    assert list(result.aggregates) == ["P@5", "P@10", "nDCG(rel=2)@5", "nDCG(rel=2)@10"]
    assert result.aggregates["P@5"] == pytest.approx(2 * result.aggregates["P@10"])


@pytest.mark.parametrize("name, says", [
    ("ndcg_cut.10xyz", "unknown measure 'ndcg_cut.10xyz'"),
    ("recall.0", "measure 'recall.0': the cut-off must be a positive integer, not 0"),
    ("R(rel=0)@10", "measure 'R(rel=0)@10': rel (the lowest relevant grade) must be a positive integer, not 0"),
    ("nDCG(rel=0)@10", "measure 'nDCG(rel=0)@10': rel"),
    ("P(rel=1,rel=2)@5", "measure 'P(rel=1,rel=2)@5': parameter rel given more than once"),
    ("P(rel=2)@5.5", "the cut-off must be a positive integer, not 5.5"),
    ("recip_rank.10", "recip_rank takes no cut-off"),
    ("ndcg_cut.10(rel=2", "unknown measure"),
    ("nDCG@10 + 1", "unknown measure"),
    ("P(2)@5", "parameters must be named"),
    ("P(rel=x)@5", "plain numbers or strings"),
])
def test_measure_names_not_understood_in_full_are_refused(name, says):
    from lilsr_tools.evaluation.measure_names import parse_measures

    with pytest.raises(LilsrError) as error:
        parse_measures([name])
    assert says in str(error.value) and "\n" not in str(error.value)


def test_accuracy_at_k_counts_ties_at_the_cut():
    exact = {"q": [("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", 1.0)]}
    assert accuracy_at_k({"q": [("a", 3.0), ("c", 2.0)]}, exact, k=2) == 1.0
    assert accuracy_at_k({"q": [("a", 3.0), ("d", 1.0)]}, exact, k=2) == 0.5
    assert accuracy_at_k({}, exact, k=2) == 0.0


def test_latency_summary_in_milliseconds():
    summary = summarize_ns([1_000_000, 2_000_000, 3_000_000])
    assert summary["n"] == 3 and summary["mean_ms"] == 2.0 and summary["p50_ms"] == 2.0 and summary["max_ms"] == 3.0
