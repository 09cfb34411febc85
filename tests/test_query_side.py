"""The query side's sparsity: a static prune at export, a per-query cut at encoding, a lambda_q grid, and the
table's stopword profile. Real parts: splade-tiny's tokenizer and tables, SciFact text, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.errors import LilsrError


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def idf_table(small_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables") / "idf"
    result = run_cli("table", "export", "splade-tiny", out, "--init", "idf", "--collection", small_corpus)
    assert result.exit_code == 0, result.output
    return out


def test_min_weight_prunes_table_and_idf_json_alike_and_the_manifest_says_so(idf_table, small_corpus, tmp_path):
    full = np.load(idf_table / "table.npy")
    cut = float(np.quantile(full[full > 0], 0.5))
    out = tmp_path / "pruned"
    result = run_cli("table", "export", "splade-tiny", out, "--init", "idf", "--collection", small_corpus,
                     "--min-weight", cut)
    assert result.exit_code == 0, result.output
    pruned = np.load(out / "table.npy")
    exported = json.loads((out / "idf.json").read_text())
    vocab = json.loads((out / "vocab.json").read_text())
    assert np.array_equal(pruned, np.where(full >= np.float32(cut), full, 0))
    assert all(exported[token] == float(pruned[i]) for i, token in enumerate(vocab))
    prune = json.loads((out / "manifest.json").read_text())["params"]["prune"]
    assert prune["min_weight"] == cut
    assert prune["nonzero_before"] == int((full > 0).sum()) and prune["nonzero_after"] == int((pruned > 0).sum())
    assert prune["tokens_zeroed"] > 0 and f"{prune['tokens_zeroed']} zeroed" in result.output


@pytest.mark.parametrize("value, message", [("-0.5", "finite number >= 0"), ("nan", "finite number >= 0"),
                                            ("inf", "finite number >= 0"), ("1000", "leaves no token")])
def test_bad_or_emptying_min_weight_is_one_line_and_writes_nothing(small_corpus, tmp_path, value, message):
    out = tmp_path / "t"
    result = CliRunner().invoke(main, ["table", "export", "splade-tiny", str(out), "--init", "idf", "--collection",
                                       str(small_corpus), "--min-weight", value])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_query_top_k_keeps_each_querys_heaviest_tokens(idf_table, small_corpus, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "top3"
    assert run_cli("encode", "queries", small_corpus, full, "--encoder", "table", "--table", idf_table).exit_code == 0
    result = run_cli("encode", "queries", small_corpus, cut, "--encoder", "table", "--table", idf_table,
                     "--query-top-k", 3)
    assert result.exit_code == 0, result.output
    read = lambda p: [json.loads(line) for line in (p / "queries.jsonl").read_text().splitlines()]  # noqa: E731
    pairs = list(zip(read(full), read(cut)))
    assert pairs and any(len(a["vector"]) > 3 for a, _ in pairs)
    for a, b in pairs:
        assert a["qid"] == b["qid"] and len(b["vector"]) == min(3, len(a["vector"]))
        kept = sorted(a["vector"].values(), reverse=True)[:3]
        assert sorted(b["vector"].values(), reverse=True) == kept
        assert all(a["vector"][t] == w for t, w in b["vector"].items())
    assert json.loads((cut / "manifest.json").read_text())["params"]["query_top_k"] == 3


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_query_top_k_out_of_range_is_refused(idf_table, small_corpus, tmp_path, value):
    result = CliRunner().invoke(main, ["encode", "queries", str(small_corpus), str(tmp_path / "q"), "--encoder",
                                       "table", "--table", str(idf_table), "--query-top-k", value])
    assert result.exit_code == 2 and "--query-top-k" in result.output
    assert not (tmp_path / "q").exists()


def test_encoder_specs_name_a_cut():
    from lilsr_tools.models.query_encoders import parse_encoder_spec

    assert parse_encoder_spec("table") == ("table", None)
    assert parse_encoder_spec("contextual:top6") == ("contextual", 6)
    for bad in ("table:top0", "table:6", "table:topx"):
        with pytest.raises(LilsrError, match="NAME:topT"):
            parse_encoder_spec(bad)


def test_lambda_q_grid_crosses_the_lambda_d_runs_and_refuses_non_numbers():
    from lilsr_tools.training.sweep import parse_lambdas, variants

    assert variants(None, [1e-5], [0.0, 1e-3]) == [("lambda-1e-05-q0", 1e-5, 0.0), ("lambda-1e-05-q0.001", 1e-5, 1e-3)]
    assert [v[0] for v in variants(["big", "small"], None, [1e-4])] == ["big-q0.0001", "small-q0.0001"]
    assert variants(["big"], None) == [("big", 1e-5, None)]
    for text, message in (("1e-4,abc", "comma-separated numbers"), ("-1", ">= 0"), ("nan", ">= 0"),
                          ("1e-4,1e-4", "twice")):
        with pytest.raises(LilsrError, match=message):
            parse_lambdas(text, "--lambda-q")


def test_sweep_cli_refuses_a_bad_lambda_q_grid_before_training(tmp_path):
    result = CliRunner().invoke(main, ["sweep", "scifact", str(tmp_path / "s"), "--lambda-q", "1e-4,x"])
    assert result.exit_code == 2 and "--lambda-q" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["sweep", "scifact", str(tmp_path / "s"), "--lambda-q", "1e-4,1e-3",
                                       "--tie-lambda-q"])
    assert result.exit_code == 2 and "not both" in result.output
    assert not (tmp_path / "s").exists()


def test_stopword_profile_tells_idf_from_an_inverted_table():
    from lilsr_tools.models.table_profile import stopword_profile

    rng = np.random.default_rng(0)
    df = np.concatenate([np.full(10, 900), rng.integers(1, 50, size=490)])  # 10 stopwords in 900 of 1000 docs
    idf = np.log1p((1000 - df + 0.5) / (df + 0.5))
    good = stopword_profile(idf, df, 1000, n=10, query_token_ids=[[0, 20, 30], [1, 40]])
    inverted = stopword_profile(1.0 / idf, df, 1000, n=10, query_token_ids=[[0, 20, 30], [1, 40]])
    assert good["stopwords_below_rest_median"] == 1.0 and inverted["stopwords_below_rest_median"] == 0.0
    assert good["spearman_with_idf"] == pytest.approx(1.0) and inverted["spearman_with_idf"] < -0.9
    assert good["query_weight_on_stopwords"] < 0.1 < inverted["query_weight_on_stopwords"]
    assert math.isclose(good["query_nonzeros_mean"], 2.5)


def test_table_inspect_shows_the_stopword_share_beside_text_idf(small_corpus, tmp_path):
    untrained = tmp_path / "untrained"
    assert run_cli("table", "export", "splade-tiny", untrained, "--init", "untrained").exit_code == 0
    result = run_cli("table", "inspect", untrained, "--collection", small_corpus, "--queries", small_corpus)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("stopwords: the 100 tokens in most documents") for line in lines)
    table_row = next(line for line in lines if line.startswith("table ")).split()
    idf_row = next(line for line in lines if line.startswith("text idf ")).split()[1:]
    # columns: stopword median, rest median, stop < rest median, stop mass share, spearman, query share, nnz
    assert idf_row[3] == "100%" and float(idf_row[5]) == pytest.approx(1.0)
    assert table_row[3] != "100%" and abs(float(table_row[5])) < 0.5  # near-constant weights: no idf order
    assert float(table_row[6].rstrip("%")) > float(idf_row[6].rstrip("%"))  # more query weight on stopwords
