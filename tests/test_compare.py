"""``lilsr compare`` on a small SciFact grid: the report, a failing cell that does not stop the others,
re-runs that reuse finished cells, and the ablations."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.reports.compare import compare
from lilsr_tools.reports.grid import EngineSpec, Grid, ModelSpec, grid_from_dict, load_grid
from lilsr_tools.errors import LilsrError


@pytest.fixture(scope="module")
def grid(small_corpus, small_vectors):
    return Grid(collection=str(small_corpus), k=100,
                models=[ModelSpec("tiny", checkpoint="splade-tiny", vectors=str(small_vectors.path))],
                encoders=["table", "binary"], engines=[EngineSpec("exact"), EngineSpec("native")])


def test_grid_report_and_reuse(grid, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    first = compare(grid, out, progress=False)
    frame = pd.read_csv(out / "results.csv")
    assert list(frame["cell"]) == ["tiny/table/exact", "tiny/binary/exact", "tiny/table/native", "tiny/binary/native"]
    assert (frame["status"] == "ok").all()
    exact = frame.set_index("cell").loc["tiny/table/exact"]
    assert exact["accuracy@10"] == 1.0 and 0.5 < exact["nDCG@10"] <= 1.0
    assert exact["table_source"] == "idf"  # splade-tiny has no trained head: the idf table stands in
    # the baseline is the first cell; the others carry a p-value against it
    assert frame["p_vs_baseline"].notna().sum() == 3
    for cell in frame["cell"]:
        slug = cell.replace("/", "__")
        assert (out / "runs" / f"{slug}.trec").is_file() and (out / "runs" / f"{slug}.latency.json").is_file()
    html = (out / "report.html").read_text().replace("<wbr>", "")  # break points in long cell ids
    assert html.count("data:image/png;base64,") == 3 and "tiny/binary/native" in html
    assert "tiny/table/exact" in (out / "report.md").read_text()
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"cells": 4, "ok": 4, "failed": 0, "reused": 0}

    # a re-run reuses every finished cell: the engines are never searched again
    def no_search(*args, **kwargs):
        raise AssertionError("a finished cell was searched again")

    monkeypatch.setattr("lilsr_tools.reports.cells.run_search", no_search)
    again = compare(grid, out, progress=False)
    assert all(r["reused"] for r in again.records)
    assert again.frame["nDCG@10"].tolist() == first.frame["nDCG@10"].tolist()


def test_a_failing_cell_is_reported_and_the_others_run(grid, tmp_path, monkeypatch):
    monkeypatch.setenv("LILSR_JAVA_HOME", str(tmp_path / "no-java"))
    broken = Grid(collection=grid.collection, k=10, models=grid.models, encoders=["binary"],
                  engines=[EngineSpec("lucene"), EngineSpec("exact")])
    result = compare(broken, tmp_path / "cmp", progress=False)
    status = dict(zip(result.frame["cell"], result.frame["status"]))
    assert status == {"tiny/binary/lucene": "failed", "tiny/binary/exact": "ok"}
    error = result.frame.set_index("cell").loc["tiny/binary/lucene", "error"]
    assert "java" in error.lower()
    assert "Failed cells" in (tmp_path / "cmp" / "report.md").read_text()


def test_grid_files_are_validated(tmp_path, small_corpus):
    path = tmp_path / "grid.toml"
    path.write_text(f'collection = "{small_corpus}"\nencoders = ["table"]\n'
                    '[[models]]\nname = "tiny"\ncheckpoint = "splade-tiny"\n'
                    '[engines.native]\nbuild = {n_postings = 500}\n'
                    'search = [{query_cut = 5}, {query_cut = 10}]\n')
    grid = load_grid(path)
    assert [c.id for c in grid.cells()] == ["tiny/table/native/n_postings=500/query_cut=5",
                                            "tiny/table/native/n_postings=500/query_cut=10"]
    with pytest.raises(LilsrError, match="unknown engine 'elastic'"):
        grid_from_dict({"collection": "x", "models": [{"name": "m", "checkpoint": "c"}], "engines": {"elastic": {}}})
    with pytest.raises(LilsrError, match="needs 'checkpoint' or 'vectors'"):
        grid_from_dict({"collection": "x", "models": [{"name": "m"}], "engines": {"exact": {}}})
    path.write_text("collection = [unclosed\n")
    with pytest.raises(LilsrError, match="invalid TOML"):
        load_grid(path)


def test_grid_measures_are_parsed_before_any_cell_runs():
    spec = {"collection": "x", "models": [{"name": "m", "checkpoint": "c"}], "engines": {"exact": {}}}
    grid = grid_from_dict({**spec, "measures": ["ndcg_cut.10(rel=2)", "P.5,10"]})
    assert grid.measures == ["ndcg_cut.10(rel=2)", "P@5", "P@10"]  # the keys results are stored under
    with pytest.raises(LilsrError, match=r"grid: measure 'recall.0': the cut-off must be a positive integer"):
        grid_from_dict({**spec, "measures": ["nDCG@10", "recall.0"]})


def test_the_documented_example_grid_loads():
    grid = load_grid(Path(__file__).parents[1] / "docs" / "examples" / "scifact.toml")
    ids = [c.id for c in grid.cells()]
    assert len(ids) == 9 and ids[0] == "bm25"
    assert "splade-tiny/table/native/heap_factor=1.0/query_cut=20" in ids


def test_ablate_context_cli(small_corpus, small_vectors, tmp_path):
    result = CliRunner().invoke(main, ["ablate", "context", "--model", f"tiny={small_vectors.path}",
                                       "--collection", str(small_corpus), "--out", str(tmp_path / "ctx")])
    assert result.exit_code == 0, result.output
    queries = pd.read_csv(tmp_path / "ctx" / "context_queries.csv")
    assert len(queries) == len(set(queries["qid"])) > 10
    assert ((queries["delta"] - (queries["static"] - queries["contextual"])).abs() < 1e-9).all()
    tokens = pd.read_csv(tmp_path / "ctx" / "context_tokens.csv")
    assert {"token", "static_weight", "contextual_mean", "mean_abs_gap"} <= set(tokens.columns)
    assert "Polysemy candidates" in (tmp_path / "ctx" / "report.md").read_text()
    # a vector store has no trained head: the static side is an idf table, and the output names it
    assert "static table: BM25 text idf over" in result.output
    assert "artifacts/tables/tiny-idf-" in result.output


def test_ablate_lambda_reads_lambda_from_the_training_run(tmp_path):
    from lilsr_tools.reports.ablate import trained_lambda

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text('{"hidden_size": 128}')  # the HF config: no lambda
    (run / "config.json").write_text('{"lambda_d": 1e-05, "preset": "big"}')
    assert trained_lambda(ModelSpec("big", checkpoint=str(run / "model"))) == 1e-05
    assert trained_lambda(ModelSpec("big", checkpoint=str(run))) == 1e-05
    assert trained_lambda(ModelSpec("tiny", checkpoint="splade-tiny")) is None


def test_token_disagreement_and_polysemy_candidates():
    from lilsr_tools.reports.ablate import polysemy_candidates, token_disagreement

    static = [{"cell": 1.0, "the": 0.5}, {"cell": 1.0, "the": 0.5}, {"cell": 1.0, "the": 0.5}]
    contextual = [{"cell": 0.2}, {"cell": 2.0}, {"cell": 0.8, "membrane": 1.0}]  # "the" always dropped
    tokens = token_disagreement(static, contextual, ["a", "b", "c"], {"a": "x", "b": "y", "c": "z"})
    rows = tokens.set_index("token")
    assert rows.loc["cell", "mean_abs_gap"] == pytest.approx((0.8 + 1.0 + 0.2) / 3)
    assert rows.loc["cell", "contextual_kept"] == 1.0 and rows.loc["the", "contextual_kept"] == 0.0
    assert pd.isna(rows.loc["the", "contextual_cv"])  # undefined, never ranked as infinitely variable
    assert list(polysemy_candidates(tokens)["token"]) == ["cell"]


def test_ablate_lambda_cli_writes_one_row_per_model_and_engine(small_corpus, small_vectors, tmp_path):
    result = CliRunner().invoke(main, ["ablate", "lambda", "--collection", str(small_corpus),
                                       "--model", f"dense={small_vectors.path}", "--lambda", "dense=1e-5",
                                       "--model", f"same={small_vectors.path}", "--engine", "native",
                                       "--engine", "exact", "-k", "100", "--out", str(tmp_path / "lam")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "lam" / "lambda.csv")
    assert sorted(zip(table["model"], table["engine"])) == [("dense", "exact"), ("dense", "native"),
                                                            ("same", "exact"), ("same", "native")]
    assert table.loc[table["model"] == "dense", "lambda_d"].tolist() == [1e-5, 1e-5]
    assert table.loc[table["model"] == "same", "lambda_d"].isna().all()  # a vector store has no training run
    assert (table["index_MB"] > 0).all() and (table["mean_doc_nnz"] > 0).all()
    assert "| 1e-05 |" in (tmp_path / "lam" / "report.md").read_text()
    bad = CliRunner().invoke(main, ["ablate", "lambda", "--collection", str(small_corpus), "--model",
                                    f"a={small_vectors.path}", "--lambda", "b=1e-4", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "match no --model" in bad.output
