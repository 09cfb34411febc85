"""A native index's own search defaults: chosen per k on tuning queries ('lilsr index tune'), kept in its
manifest, and used by every later search for the parameters it does not set."""

import json

import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.native import NativeEngine
from lilsr_tools.engines.native.engine import index_defaults
from lilsr_tools.evaluation.metrics import accuracy_at_k


@pytest.fixture(scope="module")
def tuned(small_vectors, small_queries, tmp_path_factory):
    """A native index tuned at k=10 and k=100 on the small store's encoded queries, with the CLI's output."""
    from lilsr_tools.vectors.queries import save_encoded_queries

    folder = tmp_path_factory.mktemp("tuned")
    save_encoded_queries(folder / "queries", small_queries)
    NativeEngine.build(small_vectors, folder / "index", threads=1, progress=False)
    result = CliRunner().invoke(main, ["index", "tune", str(folder / "index"), str(folder / "queries"), "--store",
                                       str(small_vectors.path), "-k", "10", "-k", "100", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_tune_records_a_setting_per_k_that_reaches_the_target(tuned, small_vectors, small_queries):
    folder, output = tuned
    record = json.loads((folder / "index" / "manifest.json").read_text())["search_defaults"]
    assert [e["k"] for e in record["by_k"]] == [10, 100]
    assert record["queries"] == len(small_queries) and record["target"] == 0.95
    assert "k=10: query_cut=" in output and "k=100: query_cut=" in output
    engine, exact = NativeEngine.load(folder / "index"), ExactEngine(small_vectors)
    for entry in record["by_k"]:
        k, params = entry["k"], entry["params"]
        assert set(params) == {"query_cut", "heap_factor"} and entry["settings_tried"] >= 20
        # the recorded accuracy is what the setting gets when searched again (tie-aware, against exact)
        truth = exact.batch_search(small_queries.qids, small_queries.vectors, k=k, ties=True).as_run()
        run = engine.batch_search(small_queries.qids, small_queries.vectors, k=k, **params).as_run()
        assert accuracy_at_k(run, truth, k) == pytest.approx(entry["accuracy"], abs=1e-6)
        assert entry["reaches_target"] == (entry["accuracy"] >= 0.95)


def test_searches_fill_unset_parameters_from_the_manifest(small_vectors, small_queries, tmp_path):
    """An entry unlike the package defaults (query_cut 10, heap_factor 0.7 at k=10) is used for the smallest
    tuned k at or above the search's k; -p still wins for the parameter it names."""
    from lilsr_tools.vectors.queries import save_encoded_queries

    save_encoded_queries(tmp_path / "queries", small_queries)
    index = tmp_path / "index"
    NativeEngine.build(small_vectors, index, threads=1, progress=False)
    manifest = json.loads((index / "manifest.json").read_text())
    manifest["search_defaults"] = {"by_k": [{"k": 10, "params": {"query_cut": 3, "heap_factor": 0.55}},
                                            {"k": 1000, "params": {"query_cut": 30, "heap_factor": 0.45}}]}
    (index / "manifest.json").write_text(json.dumps(manifest))
    engine = NativeEngine.load(index)
    assert engine.search_params({}, 5)["query_cut"] == 3
    assert engine.search_params({}, 100)["heap_factor"] == 0.45
    assert engine.search_params({}, 5000)["query_cut"] == 30  # past every tuned k: the largest
    assert index_defaults({}, 10) == ({}, None)

    runner = CliRunner()
    result = runner.invoke(main, ["search", str(index), str(tmp_path / "queries"), "--run", str(tmp_path / "a.trec"),
                                  "-k", "10", "-p", "query_cut=5"])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "a.latency.json").read_text())["info"]
    assert info["query_cut"] == 5 and info["heap_factor"] == 0.55
    assert info["defaults"] == "index manifest (search_defaults chosen at k=10)"
    plain = NativeEngine.load(tmp_path / "index").batch_search(["q"], [{}], k=10, query_cut=1, heap_factor=0.5)
    assert plain.info["defaults"].startswith("package")  # every tuned parameter given: none from the manifest
    manifest["search_defaults"]["by_k"][0]["params"]["heap_factor"] = 1.5  # damaged by hand
    (index / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(main, ["search", str(index), str(tmp_path / "queries"), "--run", str(tmp_path / "b.trec")])
    assert result.exit_code == 2 and "search_defaults at k=10" in result.output and "heap_factor" in result.output


def test_tune_refuses_the_test_split_a_foreign_store_and_a_second_run(tuned, small_vectors, small_corpus,
                                                                       small_table, tmp_path):
    folder, _ = tuned
    runner = CliRunner()
    result = runner.invoke(main, ["index", "tune", str(folder / "index"), str(small_corpus), "--split", "test",
                                  "--store", str(small_vectors.path), "--encoder", "table", "--table", str(small_table)])
    assert result.exit_code == 2 and "never chosen on the evaluation split" in result.output
    result = runner.invoke(main, ["index", "tune", str(folder / "index"), str(folder / "queries"), "--store",
                                  str(small_vectors.path), "-k", "10"])
    assert result.exit_code == 2 and "already holds search defaults" in result.output and "--overwrite" in result.output
    from lilsr_tools.vectors import SparseVectors
    from lilsr_tools.vectors.store import save_vectors

    other = save_vectors(tmp_path / "other", SparseVectors(small_vectors.indptr, small_vectors.indices,
                                                           small_vectors.values, small_vectors.vocab,
                                                           small_vectors.ids[::-1]))
    result = runner.invoke(main, ["index", "tune", str(folder / "index"), str(folder / "queries"), "--store",
                                  str(other), "-k", "10", "--overwrite"])
    assert result.exit_code == 2 and "not the vector store" in result.output
    result = runner.invoke(main, ["index", "tune", str(folder / "index"), str(folder / "queries"), "--store",
                                  str(small_vectors.path), "--target", "1.5"])
    assert result.exit_code == 2 and "--target" in result.output
    assert "Traceback" not in result.output
