"""Choosing an approximate engine's setting per k: the selection rule and the widening of a grid's edges."""

from __future__ import annotations

import pytest

from lilsr_tools.engines.param_specs import NATIVE
from lilsr_tools.reports.tuning import grid_axes, pick, widen

SEISMIC_STYLE_BOUNDS = NATIVE.tuning_bounds()


def table(rows):
    return [{"setting": s, "accuracy": a, "latency_ms": t} for s, a, t in rows]


def test_the_fastest_setting_reaching_the_target_wins_else_the_most_accurate():
    rows = table([({"query_cut": 5}, 0.90, 1.0), ({"query_cut": 10}, 0.96, 2.0), ({"query_cut": 20}, 0.99, 3.0)])
    choice, reaches = pick(rows, 0.95)
    assert choice["setting"] == {"query_cut": 10} and reaches
    choice, reaches = pick(rows, 0.995)
    assert choice["setting"] == {"query_cut": 20} and not reaches


def test_targets_are_per_k_the_same_settings_choose_differently_at_k_1000():
    settings = [{"query_cut": qc} for qc in (5, 10, 20)]
    at_10 = table(zip(settings, (0.90, 0.96, 0.99), (1.0, 2.0, 3.0)))
    at_1000 = table(zip(settings, (0.70, 0.93, 0.97), (1.5, 2.5, 3.5)))  # accuracy@1000 against exact top-1000
    assert pick(at_10, 0.95)[0]["setting"] == {"query_cut": 10}
    assert pick(at_1000, 0.95)[0]["setting"] == {"query_cut": 20}


def test_a_choice_on_the_low_heap_factor_edge_widens_one_step_below_it():
    grid = NATIVE.tuning_grid()  # heap_factor 0.6 .. 1.0, query_cut 5 .. 40
    assert grid_axes(grid) == {"query_cut": [5, 10, 20, 40], "heap_factor": [0.6, 0.7, 0.8, 0.9, 1.0]}
    # the 1M Big case: qc 20 / hf 0.6 chosen; a faster setting may lie below the grid's heap_factor floor
    assert widen(grid, {"query_cut": 20, "heap_factor": 0.6}, SEISMIC_STYLE_BOUNDS) == [
        {"query_cut": 20, "heap_factor": 0.5}]


def test_a_corner_widens_on_both_axes_inside_their_bounds():
    grid = NATIVE.tuning_grid()
    assert widen(grid, {"query_cut": 5, "heap_factor": 0.6}, SEISMIC_STYLE_BOUNDS) == [
        {"query_cut": 1, "heap_factor": 0.6}, {"query_cut": 5, "heap_factor": 0.5}]  # 5 - 5 = 0 < 1: clamped
    # the upper corner: query_cut grows by the last gap; heap_factor 1.0 is already its bound
    assert widen(grid, {"query_cut": 40, "heap_factor": 1.0}, SEISMIC_STYLE_BOUNDS) == [
        {"query_cut": 60, "heap_factor": 1.0}]


def test_an_inner_choice_or_an_already_tried_step_does_not_widen():
    grid = NATIVE.tuning_grid()
    assert widen(grid, {"query_cut": 10, "heap_factor": 0.8}, SEISMIC_STYLE_BOUNDS) == []
    wider = list(grid) + [{"query_cut": 20, "heap_factor": 0.5}]
    assert widen(wider, {"query_cut": 20, "heap_factor": 0.5}, SEISMIC_STYLE_BOUNDS) == [
        {"query_cut": 20, "heap_factor": 0.4}]
    # a categorical parameter has no edge
    assert widen([{"query_algorithm": "maxscore"}, {"query_algorithm": "block_max_wand"}],
                 {"query_algorithm": "maxscore"}) == []


def test_widening_then_choosing_finds_the_faster_setting_past_the_edge():
    """The whole loop on a table: the grid's floor is chosen; one step past it reaches the target faster."""
    measured = {0.4: (0.90, 0.8), 0.5: (0.953, 1.35), 0.6: (0.97, 2.38), 0.7: (0.98, 2.9), 0.8: (0.99, 3.5)}
    grid = [{"heap_factor": hf} for hf in (0.6, 0.7, 0.8)]
    rows = table((s, *measured[s["heap_factor"]]) for s in grid)
    choice, _ = pick(rows, 0.95)
    assert choice["setting"] == {"heap_factor": 0.6}
    extra = widen(grid, choice["setting"], {"heap_factor": (0.05, 1.0)})
    assert extra == [{"heap_factor": 0.5}]
    rows += table((s, *measured[s["heap_factor"]]) for s in extra)
    choice, reaches = pick(rows, 0.95)
    assert choice["setting"] == {"heap_factor": 0.5} and reaches and choice["latency_ms"] == pytest.approx(1.35)


def test_ablate_tunes_each_k_on_the_dev_split_and_reports_accuracy_at_that_k(small_corpus, small_vectors, tmp_path):
    """native tuned on a dev split at k=10 and k=1000 separately; each k's rows use that k's choice and
    carry accuracy@k (accuracy@1000 at k=1000)."""
    import shutil

    import pandas as pd
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    collection = tmp_path / "collection"
    shutil.copytree(small_corpus, collection)
    shutil.copy(collection / "qrels" / "test.tsv", collection / "qrels" / "train.tsv")  # a dev side to tune on
    out = tmp_path / "ablate"
    result = CliRunner().invoke(main, ["ablate", "lambda", "--model", f"m={small_vectors.path}", "--collection",
                                       str(collection), "--docs", "600", "--tune-split", "train", "--engine",
                                       "exact", "--engine", "native", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "lambda.csv")
    native = table[table["engine"] == "native"].set_index("k")
    assert set(native.index) == {10, 1000} and native["accuracy@k"].notna().all()
    assert native["dev_accuracy@k"].notna().all()
    tune_rows = {k: pd.read_csv(out / "tune" / f"k{k}" / "results.csv") for k in (10, 1000)}
    for k, rows in tune_rows.items():
        rows = rows[rows["engine"] == "native"]
        assert (rows["k"] == k).all() and rows["accuracy@k"].notna().all()
        reaching = rows[rows["accuracy@k"] >= 0.95]
        want = (reaching.loc[reaching["retrieval_p50_ms"].idxmin()] if not reaching.empty
                else rows.loc[rows["accuracy@k"].idxmax()])
        widened = out / "tune" / f"k{k}-widened" / "results.csv"
        if not widened.is_file():  # without a widening round the choice is the first round's
            assert native.loc[k, "search"] == want["search"]
    assert (table.loc[table["engine"] == "exact", "accuracy@k"] == 1.0).all()
