"""One clock for every engine: warm-up and repeats by default, the engine's own clock beside the call clock,
and the machine's load recorded with every latency file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines.search import QueryBatch, run_search


def lilsr(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def native_index(small_vectors, tmp_path_factory):
    from lilsr_tools.engines.native import NativeEngine

    return NativeEngine.build(small_vectors, tmp_path_factory.mktemp("native") / "index", progress=False)


def test_search_warms_up_repeats_and_records_both_clocks(native_index, small_queries, tmp_path):
    from lilsr_tools.vectors.queries import save_encoded_queries

    save_encoded_queries(tmp_path / "queries", small_queries)
    result = lilsr("search", native_index, tmp_path / "queries", "--run", tmp_path / "run.trec", "-k", 10,
                   "--repeat", 3)
    assert result.exit_code == 0, result.output
    latency = json.loads((tmp_path / "run.latency.json").read_text())
    protocol = latency["protocol"]
    assert protocol["warmup"] == 1 and protocol["repeat"] == 3 and len(protocol["repeat_p50_ms"]) == 3
    assert len(protocol["load_average"]["before"]) == 3
    assert "call" in protocol["clock"] and latency["retrieval_engine_clock"]["n"] == len(small_queries.qids)
    # the call clock encloses the engine's own clock, query by query
    for row in latency["per_query"]:
        assert row["retrieval_ms"] >= row["engine_ms"] > 0
    cold = lilsr("search", native_index, tmp_path / "queries", "--run", tmp_path / "cold.trec", "-k", 10,
                 "--warmup", 0)
    assert cold.exit_code == 0 and json.loads((tmp_path / "cold.latency.json").read_text())["protocol"]["warmup"] == 0


@pytest.mark.parametrize("option", [("--repeat", 0), ("--warmup", -1), ("--threads", 0)])
def test_timing_options_are_range_checked(option, native_index, small_corpus, tmp_path):
    result = lilsr("search", native_index, small_corpus, "--run", tmp_path / "run.trec", *option)
    assert result.exit_code == 2 and "Invalid value" in result.output
    assert not (tmp_path / "run.trec").exists()


def test_every_vector_engine_times_each_query_on_the_call_clock(small_vectors, small_queries, native_index):
    """Exact, native and Rust Seismic searched one query per call: each query's call time is positive and the
    results match what one batch of all queries gives (the per-query path is not a different search)."""
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.native import NativeEngine
    from lilsr_tools.engines.seismic_rs import SeismicRsEngine

    batch = QueryBatch(small_queries.qids, None, small_queries.vectors, small_queries.encode_ns, "contextual")
    for engine in (ExactEngine(small_vectors), NativeEngine.load(native_index), SeismicRsEngine.load(small_vectors)):
        one_by_one = run_search(engine, batch, k=10, warmup=0)
        assert one_by_one.retrieval_ns.shape == (len(batch.qids),) and (one_by_one.retrieval_ns > 0).all()
        assert "call" in one_by_one.info["protocol"]["clock"]
        threaded = engine.batch_search(batch.qids, batch.vectors, k=10, threads=2)
        agree = np.mean([a[:10] == b[:10] for a, b in zip(one_by_one.doc_ids, threaded.doc_ids)])
        assert agree >= (1.0 if engine.name != "seismic-rs" else 0.95)


def test_measured_build_reports_the_build_not_the_parent(small_vectors, tmp_path):
    """A build's peak memory is the child's own: Linux carries the parent's resident size at fork into the
    child's ru_maxrss, which made a 1.3 GB build of a 12 GB parent read 12 GB."""
    from lilsr_tools.engines.measured_build import measured_build, read_build_result

    ballast = np.ones(700 * 2**20 // 8)  # 700 MB resident in this (the parent) process
    result = measured_build("exact", small_vectors.path, tmp_path / "exact")
    assert ballast.sum() > 0
    assert 0 < result["peak_rss_bytes"] < 500 * 2**20
    assert result["peak_rss_bytes"] <= result["peak_tree_rss_bytes"] < 500 * 2**20
    assert read_build_result(tmp_path / "exact") == result


SLEEP_NS = 20_000_000  # 20 ms: far above one small query's search time


def _slow(function):
    import time

    def slowed(*args, **kwargs):
        time.sleep(SLEEP_NS / 1e9)
        return function(*args, **kwargs)
    return slowed


@pytest.mark.parametrize("engine_name", ["exact", "native", "bmp", "milvus", "lucene-anserini"])
def test_the_call_clock_encloses_query_preparation_and_id_mapping(engine_name, small_vectors, small_queries,
                                                                  native_index, tmp_path, monkeypatch):
    """A stage that sleeps 20 ms in the query's preparation (and, where the engine maps internal ids, in the
    mapping) shows in every query's call time: the shared helper times the same stages for every engine."""
    import importlib

    from lilsr_tools.engines import get_engine

    module = importlib.import_module({"exact": "lilsr_tools.engines.exact", "native": "lilsr_tools.engines.native.engine",
                                      "bmp": "lilsr_tools.engines.bmp", "milvus": "lilsr_tools.engines.milvus.engine",
                                      "lucene-anserini": "lilsr_tools.engines.lucene.impact"}[engine_name])
    cls = get_engine(engine_name.split("-")[0])
    if engine_name == "exact":
        engine = cls(small_vectors)
    elif engine_name == "native":
        engine = cls.load(native_index)
    elif engine_name == "bmp":
        engine = cls.load(cls.build(small_vectors, tmp_path / "bmp", bsize=16))
    elif engine_name == "milvus":
        engine = cls.load(cls.build(small_vectors, tmp_path / "milvus", progress=False))
    else:  # Anserini's own searcher, the fallback without the Java bridge
        engine = cls.load(cls.build(small_vectors, tmp_path / "lucene"), searcher="anserini")
    qids, queries = small_queries.qids[:5], small_queries.vectors[:5]
    fast = engine.batch_search(qids, queries, k=10)
    prepare = "pack_queries" if engine_name == "lucene-anserini" else "queries_to_ids"
    monkeypatch.setattr(module, prepare, _slow(getattr(module, prepare)))
    stages = 1
    if hasattr(module, "ids_mapper"):  # engines whose hits are internal indices
        real = module.ids_mapper
        monkeypatch.setattr(module, "ids_mapper", lambda ids: _slow(real(ids)))
        stages = 2
    slow = engine.batch_search(qids, queries, k=10)
    assert slow.doc_ids == fast.doc_ids
    assert (slow.retrieval_ns >= stages * SLEEP_NS).all(), (slow.retrieval_ns, stages)
    if slow.engine_ns is not None:  # the engine's own clock stays beside it, outside the stages
        assert (slow.engine_ns < SLEEP_NS).all()
    if hasattr(engine, "close"):
        engine.close()
