"""The Rust Seismic adapter (pyseismic-lsr): in-memory build from a store, search, saved index, traps."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines import get_engine
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.seismic_rs import SeismicRsEngine
from lilsr_tools.errors import LilsrError
from lilsr_tools.evaluation.metrics import accuracy_at_k


@pytest.fixture(scope="module")
def seismic(small_vectors):
    return SeismicRsEngine.load(small_vectors.path, threads=1)


@pytest.fixture(scope="module")
def exact(small_vectors, small_queries):
    return ExactEngine(small_vectors).batch_search(small_queries.qids, small_queries.vectors, k=10)


def test_search_matches_exact_closely_and_keeps_query_order(seismic, exact, small_vectors, small_queries):
    assert get_engine("seismic-rs") is SeismicRsEngine
    results = seismic.batch_search(small_queries.qids, small_queries.vectors, k=10)
    assert results.qids == small_queries.qids
    assert accuracy_at_k(results.as_run(), exact.as_run(), 10) >= 0.9
    assert all(doc in set(small_vectors.ids) for ids in results.doc_ids for doc in ids)
    assert all(np.all(np.diff(s) <= 1e-6) for s in results.scores)
    assert (results.retrieval_ns > 0).all() and results.info["query_cut"] == 10
    # with every list scanned and no block skipped, Seismic's float16 scores give the exact ranking
    full = seismic.batch_search(small_queries.qids, small_queries.vectors, k=10, query_cut=10_000, heap_factor=0.0)
    assert accuracy_at_k(full.as_run(), exact.as_run(), 10) >= 0.99


def test_several_threads_realign_results_by_query(seismic, small_queries):
    one = seismic.batch_search(small_queries.qids, small_queries.vectors, k=10, threads=1)
    two = seismic.batch_search(small_queries.qids, small_queries.vectors, k=10, threads=2)
    assert two.qids == small_queries.qids and two.doc_ids == one.doc_ids
    assert "batch wall time" in two.info["timing"]


def test_unknown_tokens_empty_queries_and_large_k(seismic, small_vectors, small_queries):
    query = small_queries.vectors[0]
    results = seismic.batch_search(["a", "b", "c", "d"],
                                   [query, {**query, "no-such-token": 1.0}, {}, {"no-such-token": 2.0}],
                                   k=10 * len(small_vectors))
    assert results.unknown_tokens == 2
    assert results.doc_ids[0] == results.doc_ids[1] and 0 < len(results.doc_ids[0]) <= len(small_vectors)
    assert results.doc_ids[2] == [] and results.doc_ids[3] == []


def test_rust_panics_and_bad_parameters_become_lilsr_errors(seismic, small_queries):
    prepared, _ = seismic.prepare(small_queries.vectors[:1])
    with pytest.raises(LilsrError, match="Seismic search failed"):
        seismic.search_prepared(["q"], prepared, k=0)  # Seismic asserts k > 0
    with pytest.raises(LilsrError, match="unknown seismic-rs search parameter"):
        seismic.batch_search(["q"], [{}], k=10, heap=0.5)
    with pytest.raises(LilsrError, match="parameter sorted must be true or false, not 2"):
        seismic.batch_search(["q"], [{}], k=10, sorted=2)
    with pytest.raises(LilsrError, match="k must be at least 1"):
        seismic.batch_search(["q"], [{}], k=0)


def test_build_parameters_rebuild_and_saved_index_round_trip(small_vectors, small_queries, tmp_path):
    engine = SeismicRsEngine.load(small_vectors, threads=1)
    coarse = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, n_postings=3)
    assert engine.build_params["n_postings"] == 3
    assert engine.index_stats()["space_usage_bytes"] > 0
    out = SeismicRsEngine.build(small_vectors, tmp_path / "saved", threads=1, n_postings=3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "lilsr.seismic-rs-index" and manifest["params"]["n_postings"] == 3
    saved = SeismicRsEngine.load(out)
    again = saved.batch_search(small_queries.qids, small_queries.vectors, k=10)
    assert again.doc_ids == coarse.doc_ids
    assert saved.index_stats()["index_bytes"] > 0
    with pytest.raises(LilsrError, match="only when searching a vector store"):
        SeismicRsEngine.load(out, n_postings=10)


def test_cli_search_builds_from_the_store(small_vectors, small_queries, tmp_path):
    from lilsr_tools.vectors.queries import save_encoded_queries

    save_encoded_queries(tmp_path / "queries", small_queries)
    result = CliRunner().invoke(main, ["search", str(small_vectors.path), str(tmp_path / "queries"), "--engine",
                                       "seismic-rs", "--run", str(tmp_path / "run.trec"), "-k", "10", "-p",
                                       "query_cut=5", "-p", "n_postings=1000"])
    assert result.exit_code == 0, result.output
    assert "engine seismic-rs" in result.output
    latency = json.loads((tmp_path / "run.latency.json").read_text())
    assert latency["info"]["build_params"]["n_postings"] == 1000 and latency["info"]["query_cut"] == 5
    assert len((tmp_path / "run.trec").read_text().splitlines()) == 10 * len(small_queries)


def test_knn_refinement_survives_a_save_and_only_adds_accuracy(small_vectors, small_queries, exact, tmp_path):
    """Seismic's kNN graph (nknn at build) is saved in the index file and loaded with it; re-scoring the
    results' neighbours (n_knn) at a coarse setting finds at least what the setting found without them;
    asking for more neighbours than the graph holds is refused before Seismic reads past them."""
    coarse = {"query_cut": 2, "heap_factor": 1.0}
    out = SeismicRsEngine.build(small_vectors, tmp_path / "knn", threads=1, n_postings=20, nknn=10)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["nknn"] == 10 and manifest["counts"]["knn_len"] == 10
    saved = SeismicRsEngine.load(out)
    assert saved.index.knn_len == 10
    plain = saved.batch_search(small_queries.qids, small_queries.vectors, k=10, **coarse)
    refined = saved.batch_search(small_queries.qids, small_queries.vectors, k=10, n_knn=10, **coarse)
    before, after = (accuracy_at_k(r.as_run(), exact.as_run(), 10) for r in (plain, refined))
    assert after >= before and after > 0.5, (before, after)
    with pytest.raises(LilsrError, match="n_knn 20 needs an index built with nknn >= 20"):
        saved.batch_search(["q"], [{}], k=10, n_knn=20)
    without = SeismicRsEngine.load(small_vectors, threads=1)
    with pytest.raises(LilsrError, match="this one: nknn 0"):
        without.batch_search(["q"], [{}], k=10, n_knn=5)
