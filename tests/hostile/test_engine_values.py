"""Engine parameters and values: every parameter range- and type-checked (Rust Seismic took query_cut=0,
negative or NaN heap_factor, and a negative query_cut ended in an OverflowError); one huge weight neither
zeroes BMP's other weights (its automatic scale clips the outlier, counted) nor gives kANNolo or Seismic
``inf`` scores (refused, naming the store or the query); CIFF import refuses a scale that makes weights
infinite, zero or out of float32's range, with the scale that works."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hostile_helpers import assert_refused, lilsr

SEISMIC_SEARCH = ["query_cut=0", "query_cut=-1", "query_cut=1.5", "query_cut=ten", "heap_factor=-0.5",
                  "heap_factor=nan", "heap_factor=inf", "heap_factor=1.5", "n_knn=-1"]
SEISMIC_BUILD = ["n_postings=0", "centroid_fraction=0", "centroid_fraction=2", "summary_energy=1.5", "doc_cut=0",
                 "min_cluster_size=0", "max_fraction=-1"]


@pytest.mark.parametrize("param", SEISMIC_SEARCH)
def test_seismic_search_parameter_out_of_range(param, tiny, tiny_engine_index, tmp_path):
    run = tmp_path / "run.trec"
    result = lilsr("search", tiny_engine_index("seismic-rs"), tiny.queries, "--run", run, "-p", param)
    assert_refused(result, names=[param.split("=")[0]], absent=[run])


@pytest.mark.parametrize("param", SEISMIC_BUILD)
def test_seismic_build_parameter_out_of_range(param, tiny, tmp_path):
    """Build parameters given at search time on a vector store (the in-memory build) are checked too."""
    run = tmp_path / "run.trec"
    result = lilsr("search", tiny.store, tiny.queries, "--engine", "seismic-rs", "--run", run, "-p", param)
    assert_refused(result, names=[param.split("=")[0]], absent=[run])


NATIVE_SEARCH = ["query_cut=0", "query_cut=-1", "query_cut=1.5", "query_cut=ten", "heap_factor=1.5",
                 "heap_factor=-0.5", "heap_factor=nan", "heap_factor=inf", "heap_factor=high", "foo=1",
                 "block_order=diagonal", "sorted=maybe", "prefetch=2"]


@pytest.mark.parametrize("param", NATIVE_SEARCH)
def test_native_search_parameter_out_of_range(param, tiny, tiny_native, tmp_path):
    """The native kernel trusts its arguments: each is refused before it, naming the parameter (before:
    heap_factor=1.5 was taken, skipping blocks that hold results)."""
    run = tmp_path / "run.trec"
    result = lilsr("search", tiny_native, tiny.queries, "--run", run, "-p", param)
    assert_refused(result, names=[param.split("=")[0]], absent=[run])


@pytest.fixture(scope="module")
def huge_store(tiny, tmp_path_factory):
    """The tiny store with one weight set to 1e30 (a valid store: finite and positive)."""
    store = tmp_path_factory.mktemp("huge") / "store"
    shutil.copytree(tiny.store, store)
    values = np.array(np.load(store / "values.npy"))
    values[5] = 1e30
    np.save(store / "values.npy", values)
    return store


@pytest.mark.parametrize("engine", ["kannolo", "seismic-rs"])
def test_huge_weight_refused_by_half_float_engines(engine, huge_store, tmp_path):
    out = tmp_path / "index"
    result = lilsr("index", engine, huge_store, out)
    assert "1e+30" in assert_refused(result, names=[huge_store], absent=[out])


def test_bmp_auto_scale_clips_one_huge_weight(tiny, huge_store, tmp_path):
    """Before: the automatic scale mapped 1e30 to 127 and every other weight rounded to zero (1 posting)."""
    plain, huge = tmp_path / "plain", tmp_path / "huge"
    assert lilsr("index", "bmp", tiny.store, plain).exit_code == 0
    result = lilsr("index", "bmp", huge_store, huge)
    assert result.exit_code == 0, result.output
    assert "1 outliers clipped to 255" in result.output
    before = json.loads((plain / "manifest.json").read_text())["counts"]
    after = json.loads((huge / "manifest.json").read_text())["counts"]
    assert after["clipped_to_max_impact"] == 1 and before["clipped_to_max_impact"] == 0
    assert after["postings"] >= 0.95 * before["postings"]
    assert after["max_impact"] == 255


@pytest.mark.parametrize("engine", ["kannolo", "seismic-rs"])
def test_infinite_scores_refused(engine, tiny, tiny_engine_index, tmp_path):
    """A query weight that overflows float32 scores: refused naming the query (before: inf in the run)."""
    queries = tmp_path / "queries"
    shutil.copytree(tiny.queries, queries)
    lines = (queries / "queries.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["vector"] = {token: 3e38 for token in first["vector"]}
    (queries / "queries.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    run = tmp_path / "run.trec"
    result = lilsr("search", tiny_engine_index(engine), queries, "--run", run)
    assert "overflow" in assert_refused(result, names=[first["qid"]], absent=[run])


@pytest.fixture(scope="module")
def ciff_file(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("ciff") / "tiny.ciff"
    assert lilsr("vectors", "export", tiny.store, out, "--format", "ciff").exit_code == 0
    return out


@pytest.mark.parametrize("scale,message", [("inf", "finite"), ("nan", "finite"), ("0", "above 0"),
                                           ("-1", "above 0"), ("1e-40", "float32's range"),
                                           ("1e40", "normal range")])
def test_ciff_import_scale(scale, message, ciff_file, tmp_path):
    out = tmp_path / "store"
    result = lilsr("vectors", "import", ciff_file, out, "--format", "ciff", "--scale", scale)
    line = assert_refused(result, names=[ciff_file], absent=[out])
    assert message in line and "damaged" not in line
