"""Training on one collection and evaluating on others; compare over several collections (BEIR-style table)."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.reports.compare import compare
from lilsr_tools.reports.grid import EngineSpec, Grid, ModelSpec, grid_from_dict


def test_train_evaluates_dev_then_each_target_and_states_what_training_saw(split_corpus, split_teacher, small_corpus,
                                                                            tmp_path, monkeypatch):
    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["train", str(split_corpus), str(out), "--base", "splade-tiny", "--teacher", str(split_teacher),
            "--negatives", "scores", "--n-negatives", "2", "--batch-size", "2", "--steps", "2", "--save-every", "2",
            "--max-length", "32", "--warmup-steps", "1", "--threads", "2",
            "--eval", f"{split_corpus}:test", "--eval", f"{small_corpus}:test", "--eval-max-length", "32"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    targets = json.loads((out / "eval" / "results.json").read_text())["targets"]
    same, other = f"{split_corpus}:test", f"{small_corpus}:test"
    assert [targets[t]["role"] for t in targets] == ["dev", "test", "test"]  # dev first; tests after
    assert targets[same]["judged_docs_seen_in_training"] == 0
    assert targets[other]["judged_docs_seen_in_training"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heldout"]["targets"][other]["same_corpus"] is False  # zero-shot: nothing to hold out
    assert manifest["heldout"]["targets"][same]["same_corpus"] is True
    assert "TEST (reported once, never chosen on)" in result.output and "dev (choices are made here)" in result.output
    assert targets[same]["doc_truncation"]["max_length"] == 32 and targets[same]["doc_truncation"]["truncated"] > 0
    # re-running the finished command does not train again (a finished run and evaluation is refused)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "finished training run" in again.output


def test_compare_over_two_collections_writes_one_table_each_and_a_beir_table(small_corpus, split_corpus, tmp_path):
    grid = Grid(collection=str(small_corpus), collections=[str(small_corpus), f"{split_corpus}:test"], k=100,
                models=[ModelSpec("tiny", checkpoint="splade-tiny", max_length=48)], encoders=["table", "binary"],
                engines=[EngineSpec("exact")], measures=["nDCG@10", "R@100"])
    result = compare(grid, tmp_path / "cmp", progress=False)
    frame = pd.read_csv(tmp_path / "cmp" / "results.csv")
    labels = [f"{small_corpus.name}:test", f"{split_corpus.name}:test"]
    assert sorted(frame["collection"].unique()) == sorted(labels) and (frame["status"] == "ok").all()
    beir = pd.read_csv(tmp_path / "cmp" / "beir.csv")
    assert list(beir.columns) == ["system", *labels, "mean"]
    assert list(beir["system"]) == ["tiny/table/exact", "tiny/binary/exact"]
    for _, row in beir.iterrows():
        values = [float(str(row[label]).rstrip("▲▼")) for label in labels]
        assert abs(float(row["mean"]) - sum(values) / 2) < 1e-4
        per = frame[frame["cell"] == row["system"]].set_index("collection")["nDCG@10"]
        assert [round(per[label], 4) for label in labels] == [round(v, 4) for v in values]
    # significance is tested within each collection, against that collection's baseline (the first cell)
    for label in labels:
        assert frame[(frame["collection"] == label)]["p_vs_baseline"].notna().sum() == 1
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "All collections (nDCG@10)" in report and all(label in report for label in labels)
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert html.count("<table>") >= 3
    assert all((tmp_path / "cmp" / f"{label.replace(':', '-')}" / "report.html").is_file() for label in labels)
    assert json.loads((tmp_path / "cmp" / "manifest.json").read_text())["counts"]["collections"] == 2
    assert result.frame["collection"].nunique() == 2


def test_grid_files_name_several_collections_with_or_without_a_split():
    grid = grid_from_dict({"collections": ["scifact", "nfcorpus:dev"], "split": "test", "engines": {"bm25": {}}})
    assert grid.targets() == [("scifact", "test"), ("nfcorpus", "dev")]
    single = grid_from_dict({"collection": "scifact", "engines": {"bm25": {}}})
    assert single.targets() == [("scifact", "test")] and single.collections == []
