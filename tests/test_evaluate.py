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


def _paired_runs(tmp_path):
    """12 judged queries; run B ranks the relevant document first on q1..q10 where A ranks it second, is
    worse on q0 and leaves q11 out; run C is A again."""
    (tmp_path / "qrels.txt").write_text("".join(f"q{i} 0 r{i} 1\n" for i in range(12)))
    a = "".join(f"q{i} Q0 {first} 1 2.0 a\nq{i} Q0 {second} 2 1.0 a\n"
                for i, (first, second) in ((i, (f"r{i}", "x") if i == 0 else ("x", f"r{i}")) for i in range(12)))
    b = "".join(f"q{i} Q0 {first} 1 2.0 b\nq{i} Q0 {second} 2 1.0 b\n"
                for i, (first, second) in ((i, ("x", f"r{i}") if i == 0 else (f"r{i}", "x")) for i in range(11)))
    for name, text in (("a.trec", a), ("b.trec", b), ("c.trec", a)):
        (tmp_path / name).write_text(text)


def test_evaluate_two_runs_prints_each_and_the_paired_test(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    _paired_runs(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "a.trec", "b.trec", "c.trec", "--qrels", "qrels.txt",
                                       "-m", "RR@10", "-m", "R@1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["a.trec", "b.trec", "c.trec"]
    assert lines[1].split() == ["RR@10", f"{6.5 / 12:.4f}", f"{10.5 / 12:.4f}", f"{6.5 / 12:.4f}"]
    assert "b.trec: queries: 12 judged, 11 in run, 1 judged but missing" in result.output
    # q11, which b leaves out, is not paired; b is better on 10 of the 11 others
    at = lines.index("paired t-test, b.trec against a.trec, over the 11 judged queries both answer:")
    measure, delta, p, *verdict = lines[at + 1].split()
    assert (measure, delta, " ".join(verdict)) == ("RR@10", f"+{(10.5 - 6) / 11:.4f}",
                                                 "b.trec better (significant at 0.05)")
    assert float(p.removeprefix("p=")) < 0.01
    assert lines.index("paired t-test, c.trec against a.trec, over the 12 judged queries both answer:") > at
    assert lines[-1].split() == ["R@1", "+0.0000", "p=1.0000", "equal"]
    payload = __import__("json").loads(CliRunner().invoke(main, ["evaluate", "a.trec", "b.trec", "--qrels",
                                                                 "qrels.txt", "-m", "RR@10", "--json"]).output)
    paired = payload["paired"][0]
    assert paired["queries"] == 11 and paired["measures"]["RR@10"]["better"] == "b.trec"
    assert paired["measures"]["RR@10"]["significant"] is True
    assert [r["run"] for r in payload["runs"]] == ["a.trec", "b.trec"]


def test_evaluate_one_run_prints_as_before(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    _paired_runs(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "b.trec", "--qrels", "qrels.txt", "-m", "RR@10"])
    assert result.output == ("RR@10      0.8750\nqueries: 12 judged, 11 in run, 1 judged but missing from the run "
                             "(scored 0), 0 in the run without judgments (ignored)\nmissing from run, e.g.: q11\n")


def test_graded_measure_on_binary_judgments_warns_on_stderr(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    _paired_runs(tmp_path)  # binary judgments: the highest grade is 1
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "a.trec", "--qrels", "qrels.txt", "-m", "nDCG(rel=2)@10",
                                       "-m", "R(rel=2)@100", "-m", "RR@10"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"lilsr: warning: measure {m!r} counts grades >= 2 as relevant, but the highest grade in the qrels is 1: "
        "it is 0 for every query" for m in ("nDCG(rel=2)@10", "R(rel=2)@100")]
    assert result.stdout.splitlines()[0].split() == ["nDCG(rel=2)@10", "0.0000"]
    # graded judgments: no warning
    (tmp_path / "qrels.txt").write_text("".join(f"q{i} 0 r{i} 2\n" for i in range(12)))
    result = CliRunner().invoke(main, ["evaluate", "a.trec", "--qrels", "qrels.txt", "-m", "nDCG(rel=2)@10"])
    assert result.exit_code == 0 and result.stderr == ""


def test_evaluate_json_rounds_floats(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    _paired_runs(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "a.trec", "--qrels", "qrels.txt", "-m", "RR@10", "--json"])
    assert '"RR@10": 0.5416666667' in result.output  # 6.5 / 12 at 10 significant digits, not 0.5416666666666666


def test_evaluate_into_a_closed_pipe_exits_quietly(tmp_path):
    """`lilsr evaluate ... | head` once ended with "lilsr: error: Broken pipe"."""
    import os
    import subprocess
    import sys

    (tmp_path / "qrels.txt").write_text("".join(f"q{i} 0 r{i} 1\n" for i in range(3000)))
    (tmp_path / "run.trec").write_text("".join(f"q{i} Q0 r{i} 1 1.0 t\n" for i in range(3000)))
    env = {**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-m", "lilsr_tools.cli", "evaluate", "run.trec", "--qrels", "qrels.txt",
                              "--per-query"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert child.stdout.readline().startswith(b"nDCG@10")
    child.stdout.close()  # as head does after its lines: 12,000 per-query lines are still to be written
    err = child.stderr.read().decode()
    child.wait(timeout=120)
    assert err == ""
