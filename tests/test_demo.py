"""``make demo``'s plan, without running it (it takes most of a quarter of an hour): two Li-LSR models of
different density, the grid that compares them, and a re-run that reads finished training runs back."""

import json

import pytest

from lilsr_tools import demo
from lilsr_tools.errors import LilsrError
from lilsr_tools.reports.compare import model_lambdas


def test_the_demo_trains_a_sparse_and_a_dense_model_in_the_time_of_one(tmp_path):
    small, big = (demo.training_config(preset, tmp_path / "vectors") for preset in demo.DEMO_PRESETS)
    assert (small.preset, big.preset) == ("small", "big") and small.lambda_d > big.lambda_d
    differ = {k for k, v in small.to_dict().items() if big.to_dict()[k] != v}
    assert differ == {"lambda_d", "preset"}  # only the document regularization moves
    assert small.steps == big.steps == demo.DEMO_STEPS
    # the one-model demo trained 200 steps in its 15 minutes; two models must not take much more training
    assert 2 * demo.DEMO_STEPS <= 300


def test_the_demo_grid_compares_every_model_on_lucene_native_and_exact():
    models = [demo.BASE, demo.ModelSpec("lilsr-small", checkpoint="x"), demo.ModelSpec("lilsr-big", checkpoint="y")]
    grid = demo.demo_grid(models)
    ids = [cell.id for cell in grid.cells()]
    assert grid.baseline == "bm25" and ids[0] == "bm25"
    for model in ("splade-tiny", "lilsr-small", "lilsr-big"):
        for engine in ("lucene", "native", "exact"):
            assert f"{model}/table/{engine}" in ids and f"{model}/contextual/{engine}" in ids


def finished_run(folder, config):
    (folder / "model").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "manifest.json").write_text("{}")


def test_a_rerun_reads_finished_training_runs_back(tmp_path, monkeypatch):
    for preset in demo.DEMO_PRESETS:
        finished_run(tmp_path / "train" / f"lilsr-{preset}", demo.training_config(preset, tmp_path / "vectors"))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("lilsr_tools.training.loop.train", no_training)
    models = demo.train_demo_models(tmp_path / "train", tmp_path / "vectors")
    assert [(m.name, m.checkpoint) for m in models] == [
        ("lilsr-small", str(tmp_path / "train" / "lilsr-small" / "model")),
        ("lilsr-big", str(tmp_path / "train" / "lilsr-big" / "model"))]
    # the report's density findings know which models are the lambda sweep (splade-tiny is not)
    assert model_lambdas(demo.demo_grid([demo.BASE, *models])) == {"splade-tiny": None, "lilsr-small": 1e-3,
                                                                   "lilsr-big": 1e-5}


def test_a_finished_run_of_another_config_is_refused_not_overwritten(tmp_path, monkeypatch):
    other = demo.training_config("small", tmp_path / "vectors", steps=demo.DEMO_STEPS + 1)
    finished_run(tmp_path / "train" / "lilsr-small", other)
    monkeypatch.setattr("lilsr_tools.training.loop.train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(LilsrError, match=r"lilsr-small holds a finished training run of another config "
                                         r"\(save_every, steps differ\)"):
        demo.train_demo_models(tmp_path / "train", tmp_path / "vectors")
    assert (tmp_path / "train" / "lilsr-small" / "manifest.json").is_file()


def test_the_demo_says_so_when_its_report_cannot_answer_the_density_question():
    models = [demo.BASE, demo.ModelSpec("lilsr-small", checkpoint="x"), demo.ModelSpec("lilsr-big", checkpoint="y")]
    answered = ["Best on nDCG@10: bm25 ...", "Density: documents go from 90 non-zeros a document (lilsr-small) ..."]
    assert demo.missing_answer(answered, models) is None
    note = demo.missing_answer(answered[:1], models)
    assert "lilsr-small and lilsr-big ended at about the same document density" in note
    assert "LILSR_DEMO_STEPS" in note
    assert "fewer than two trained models" in demo.missing_answer(answered, models[:2])
