"""The Milvus engine on the small SciFact store: Milvus Lite (in-process) by default, and the server path
through a Milvus Lite gRPC server on a local port (the same client calls a Milvus server gets)."""

import json
import time

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines import engine_for_index, get_engine
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.milvus import MilvusEngine
from lilsr_tools.errors import LilsrError
from lilsr_tools.vectors.store import SparseVectors, save_vectors

pytest.importorskip("pymilvus")


@pytest.fixture(scope="module")
def lite_index(small_vectors, tmp_path_factory):
    out = tmp_path_factory.mktemp("milvus") / "lite"
    result = CliRunner().invoke(main, ["index", "milvus", str(small_vectors.path), str(out), "--insert-batch", "64"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def lite(lite_index):
    engine = MilvusEngine.load(lite_index)
    yield engine
    engine.close()


def assert_same_top_k(results, exact_engine, queries, k=10):
    """Milvus's ranking equals exact search's: the same scores rank by rank (Milvus Lite adds float32
    products in float64; exact sums in float32) and the same documents, except where two scores tie."""
    position = {doc: i for i, doc in enumerate(exact_engine.vectors.ids)}
    mapped = [exact_engine.score_all(*ids) for ids in _ids(exact_engine, queries)]
    for qi, (docs, scores) in enumerate(zip(results.doc_ids, results.scores)):
        all_scores = mapped[qi]
        expected = np.sort(all_scores[all_scores > 0])[::-1][:k]
        assert len(docs) == len(expected)
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
        # every returned document really has the score it is ranked with
        np.testing.assert_allclose(all_scores[[position[d] for d in docs]], expected, rtol=1e-5, atol=1e-6)


def _ids(exact_engine, queries):
    from lilsr_tools.engines.base import queries_to_ids

    mapped, _ = queries_to_ids(queries, exact_engine._token_ids)
    return mapped


def test_lite_search_equals_exact_top10_one_by_one_and_batched(lite, lite_index, small_vectors, small_queries):
    assert engine_for_index(lite_index) == "milvus" and get_engine("milvus") is MilvusEngine
    exact_engine = ExactEngine(small_vectors)
    exact = exact_engine.batch_search(small_queries.qids, small_queries.vectors, k=10)
    one = lite.batch_search(small_queries.qids, small_queries.vectors, k=10)
    assert one.qids == small_queries.qids
    assert_same_top_k(one, exact_engine, small_queries.vectors)
    agree = np.mean([a == b for a, b in zip(one.doc_ids, exact.doc_ids)])
    assert agree > 0.95  # the rest are ties in a different order
    assert (one.retrieval_ns > 0).all() and one.engine_ns is None
    assert one.info["batch_size"] == 1 and "one search request" in one.info["timing"]
    batched = lite.batch_search(small_queries.qids, small_queries.vectors, k=10, batch_size=16)
    assert batched.doc_ids == one.doc_ids and "16 queries per search request" in batched.info["timing"]
    # more threads means batched requests, said so
    assert "batched" in lite.batch_search(small_queries.qids[:3], small_queries.vectors[:3], k=5, threads=2).info["timing"]


def test_manifest_records_the_collection_not_credentials(lite_index, small_vectors):
    manifest = json.loads((lite_index / "manifest.json").read_text())
    assert manifest["kind"] == "lilsr.milvus-index" and manifest["lite"] is True
    assert manifest["uri"] == "milvus.db" and (lite_index / "milvus.db").is_dir()
    assert manifest["collection"] == "lilsr_lite" and manifest["vocab_digest"] == small_vectors.manifest["vocab_digest"]
    assert manifest["params"]["inverted_index_algo"] == "TAAT_NAIVE" and manifest["params"]["metric_type"] == "IP"
    assert manifest["counts"]["inserted"] + manifest["counts"]["empty_docs_skipped"] == len(small_vectors)
    assert manifest["index_bytes"] > 0 and manifest["build_seconds"] > 0


def test_unknown_and_empty_queries_and_parameters(lite, small_queries):
    query = small_queries.vectors[0]
    results = lite.batch_search(["a", "b", "c"], [query, {**query, "no-such-token": 1.0}, {"no-such-token": 2.0}], k=5)
    assert results.unknown_tokens == 2 and results.doc_ids[0] == results.doc_ids[1] and results.doc_ids[2] == []
    with pytest.raises(LilsrError, match="only drop_ratio_search=0"):
        lite.batch_search(["a"], [query], k=5, drop_ratio_search=0.2)
    with pytest.raises(LilsrError, match="unknown milvus search parameter"):
        lite.batch_search(["a"], [query], k=5, nprobe=3)
    with pytest.raises(LilsrError, match="batch_size must be"):
        lite.batch_search(["a"], [query], k=5, batch_size=0)
    with pytest.raises(LilsrError, match="k must be in"):
        lite.batch_search(["a"], [query], k=20_000)


def test_bad_input_exits_2_with_one_line_and_writes_nothing(small_vectors, lite_index, tmp_path):
    runner = CliRunner()
    store = str(small_vectors.path)
    again = runner.invoke(main, ["index", "milvus", store, str(lite_index)])
    assert again.exit_code == 2 and "already exists" in again.output
    started = time.perf_counter()
    out = tmp_path / "remote"
    down = runner.invoke(main, ["index", "milvus", store, str(out), "--uri", "http://127.0.0.1:1", "--timeout", "2"])
    assert down.exit_code == 2 and time.perf_counter() - started < 10
    assert down.output.count("\n") == 1 and "lilsr: error: cannot reach Milvus at http://127.0.0.1:1" in down.output
    wand = runner.invoke(main, ["index", "milvus", store, str(out), "--algo", "DAAT_WAND"])
    assert wand.exit_code == 2 and "Milvus Lite" in wand.output and "DAAT_WAND" in wand.output
    assert list(tmp_path.iterdir()) == []  # no folder, no hidden partial build


def test_a_killed_build_resumes_after_the_last_complete_batch(small_vectors, small_queries, lite, tmp_path,
                                                              monkeypatch):
    from pymilvus import MilvusClient

    real_insert, calls = MilvusClient.insert, []

    def dying_insert(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as Ctrl-C (or a kill) would, mid-build
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(MilvusClient, "insert", dying_insert)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        MilvusEngine.build(small_vectors, out, insert_batch=64, progress=False)
    assert not out.exists() and (tmp_path / ".resumed.milvus-partial").is_dir()
    monkeypatch.setattr(MilvusClient, "insert", real_insert)
    MilvusEngine.build(small_vectors, out, insert_batch=64, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["resumed_from_doc"] == 128 and not (tmp_path / ".resumed.milvus-partial").exists()
    engine = MilvusEngine.load(out)
    try:
        assert engine.batch_search(small_queries.qids, small_queries.vectors, k=10).doc_ids == \
            lite.batch_search(small_queries.qids, small_queries.vectors, k=10).doc_ids
    finally:
        engine.close()


@pytest.fixture()
def server(tmp_path):
    """A Milvus Lite gRPC server on a free local port: the server code path (URI, partial collection,
    rename, identity checks) without a Milvus installation."""
    from milvus_lite.adapter.grpc.server import start_server_in_thread

    grpc_server, db, port = start_server_in_thread(data_dir=str(tmp_path / "server-data"))
    yield f"http://127.0.0.1:{port}"
    grpc_server.stop(grace=0)
    db.close()


def test_server_uri_collection_identity_and_overwrite(small_vectors, small_queries, lite, server, tmp_path):
    runner = CliRunner()
    store = str(small_vectors.path)
    base = ["index", "milvus", store, "--uri", server, "--collection", "scifact_small", "--algo", "TAAT_NAIVE",
            "--token", "root:secret"]
    first = runner.invoke(main, base[:3] + [str(tmp_path / "a")] + base[3:])
    assert first.exit_code == 0, first.output
    manifest_text = (tmp_path / "a" / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["uri"] == server and manifest["lite"] is False and "secret" not in manifest_text
    assert not (tmp_path / "a" / "milvus.db").exists()
    remote = MilvusEngine.load(tmp_path / "a")
    try:
        assert remote.batch_search(small_queries.qids, small_queries.vectors, k=10).doc_ids == \
            lite.batch_search(small_queries.qids, small_queries.vectors, k=10).doc_ids
    finally:
        remote.close()
    # the collection exists: refused without --overwrite, whatever the folder
    taken = runner.invoke(main, base[:3] + [str(tmp_path / "b")] + base[3:])
    assert taken.exit_code == 2 and "collection scifact_small already exists" in taken.output
    assert not (tmp_path / "b").exists()
    # replaced by vectors over another vocabulary: the first folder no longer matches its collection
    other = SparseVectors.from_scipy(sp.random(50, 40, density=0.2, format="csr", random_state=1),
                                     [f"t{i}" for i in range(40)], [f"d{i}" for i in range(50)])
    save_vectors(tmp_path / "other", other)
    replaced = runner.invoke(main, ["index", "milvus", str(tmp_path / "other"), str(tmp_path / "b"), "--uri", server,
                                    "--collection", "scifact_small", "--algo", "TAAT_NAIVE", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    with pytest.raises(LilsrError, match="holds other vectors .*dimension 40.* rebuild with --overwrite"):
        MilvusEngine.load(tmp_path / "a")


def test_compare_grid_with_a_milvus_cell(small_corpus, small_vectors, tmp_path):
    from lilsr_tools.reports.compare import compare
    from lilsr_tools.reports.grid import EngineSpec, Grid, ModelSpec

    grid = Grid(collection=str(small_corpus), k=100, encoders=["binary"],
                models=[ModelSpec("tiny", checkpoint="splade-tiny", vectors=str(small_vectors.path))],
                engines=[EngineSpec("exact"), EngineSpec("milvus")])
    result = compare(grid, tmp_path / "cmp", progress=False)
    cells = result.frame.set_index("cell")
    assert cells.loc["tiny/binary/milvus", "status"] == "ok", cells.loc["tiny/binary/milvus"].get("error")
    assert cells.loc["tiny/binary/milvus", "accuracy@10"] >= 0.99
    assert cells.loc["tiny/binary/milvus", "nDCG@10"] == pytest.approx(cells.loc["tiny/binary/exact", "nDCG@10"],
                                                                        abs=0.01)
    assert cells.loc["tiny/binary/milvus", "index_bytes"] > 0
    assert "tiny/binary/milvus" in (tmp_path / "cmp" / "report.html").read_text().replace("<wbr>", "")


def test_credentials_never_reach_messages_or_manifests(monkeypatch):
    from lilsr_tools.engines.milvus.client import safe_uri
    from lilsr_tools.engines.milvus.engine import _safe_command

    assert safe_uri("https://root:Milvus@milvus.example.org:443/db1") == "https://milvus.example.org:443/db1"
    assert safe_uri("http://localhost:19530") == "http://localhost:19530"
    monkeypatch.setattr("sys.argv", ["lilsr", "index", "milvus", "v", "o", "--token", "root:Milvus", "--uri",
                                     "https://u:p@h:19530", "--token=abc"])
    command = _safe_command()
    assert "Milvus" not in command and "abc" not in command and "u:p" not in command and "https://h:19530" in command
