"""Lucene impact engine: index builds, the Java bridge, Anserini's searcher, exactness of the scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from lilsr_tools.errors import LilsrError

REPO = Path(__file__).resolve().parents[1]
LILSR = [str(Path(sys.executable).parent / "lilsr")]
SCALE = 100.0


def _env(**extra):
    return {**os.environ, "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture(scope="module")
def lucene_index(small_vectors, tmp_path_factory):
    from lilsr_tools.engines.lucene import LuceneEngine

    out = tmp_path_factory.mktemp("lucene") / "index"
    return LuceneEngine.build(small_vectors, out, scale=SCALE, threads=1)


@pytest.fixture(scope="module")
def engine(lucene_index):
    from lilsr_tools.engines.lucene import LuceneEngine

    return LuceneEngine.load(lucene_index, searcher="bridge")


def _impact_matrix(vectors):
    """Documents as Lucene holds them: integer impacts round(w * SCALE), [docs, vocab]."""
    impacts = np.rint(np.asarray(vectors.values, np.float64) * SCALE)
    return sp.csr_matrix((impacts, vectors.indices, vectors.indptr), shape=vectors.shape)


def _query_matrix(queries, vocab, query_scale=None):
    token_id = {t: i for i, t in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, query in enumerate(queries):
        for token, weight in query.items():
            if token in token_id:
                w = round(weight * query_scale) if query_scale else float(np.float32(weight))
                if w > 0:
                    rows.append(r), cols.append(token_id[token]), vals.append(w)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(queries), len(vocab)))


def test_top10_scores_are_exact_dot_products_of_quantized_vectors(engine, small_vectors, small_queries):
    docs = _impact_matrix(small_vectors)
    row_of = {doc_id: i for i, doc_id in enumerate(small_vectors.ids)}
    # integer query weights (Pyserini's way): Lucene's score is an integer dot product, exactly
    results = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, query_weights="int")
    assert results.info["score_divisor"] == SCALE * SCALE
    exact = np.asarray((_query_matrix(small_queries.vectors, small_vectors.vocab, SCALE) @ docs.T).todense())
    checked = 0
    for q, (ids, scores) in enumerate(zip(results.doc_ids, results.scores)):
        rows = [row_of[d] for d in ids]
        assert np.array_equal(np.rint(scores * SCALE * SCALE), exact[q, rows])
        best = np.sort(exact[q][exact[q] > 0])[::-1][:10]
        assert np.array_equal(np.rint(scores * SCALE * SCALE), best)  # the true top-10 score list
        checked += len(ids)
    assert checked > 5 * len(small_queries.qids)
    # float query weights: impacts are integers, queries float32; equal up to float32 rounding
    results = engine.batch_search(small_queries.qids, small_queries.vectors, k=10)
    assert results.info["score_divisor"] == SCALE and results.info["query_weights"] == "float"
    exact = np.asarray((_query_matrix(small_queries.vectors, small_vectors.vocab) @ docs.T).todense()) / SCALE
    for q, (ids, scores) in enumerate(zip(results.doc_ids, results.scores)):
        rows = [row_of[d] for d in ids]
        np.testing.assert_allclose(scores, exact[q, rows], rtol=2e-6)
        np.testing.assert_allclose(scores, np.sort(exact[q][exact[q] > 0])[::-1][:10], rtol=2e-6)


def test_bridge_matches_anserini_simple_impact_searcher(engine, lucene_index, small_queries):
    from lilsr_tools.engines.lucene import LuceneEngine

    fallback = LuceneEngine.load(lucene_index, searcher="anserini")
    ours = engine.batch_search(small_queries.qids, small_queries.vectors, k=100, query_weights="int", ties="docid")
    theirs = fallback.batch_search(small_queries.qids, small_queries.vectors, k=100)
    assert theirs.info["searcher"] == "anserini-simpleimpactsearcher" and theirs.info["query_weights"] == "int"
    assert ours.info["searcher"] == "java-bridge"
    assert ours.doc_ids == theirs.doc_ids  # same Lucene search, same tie order (by docid)
    for a, b in zip(ours.scores, theirs.scores):
        # Anserini's ScoreTiesAdjusterReranker nudges tied scores by 1e-6 (before our division)
        np.testing.assert_allclose(a, b, atol=1e-4 / (SCALE * SCALE))
    threaded = engine.batch_search(small_queries.qids, small_queries.vectors, k=100, query_weights="int",
                                   ties="docid", threads=2)
    assert threaded.doc_ids == ours.doc_ids
    fallback.close()


def test_manifest_records_scale_and_postings(lucene_index, small_vectors):
    from lilsr_tools.manifest import read_manifest
    from lilsr_tools.vectors.store import posting_stats

    manifest = read_manifest(lucene_index, "lilsr.lucene-index")
    assert manifest["params"]["scale"] == SCALE
    impacts = np.rint(np.asarray(small_vectors.values, np.float64) * SCALE)
    lengths = np.bincount(np.asarray(small_vectors.indices)[impacts > 0], minlength=len(small_vectors.vocab))
    expected = posting_stats(lengths)
    assert manifest["postings"] == pytest.approx(expected)
    assert manifest["lucene_postings"]["postings"] == expected["postings"]  # read back from Lucene itself
    assert manifest["lucene_postings"]["terms"] == expected["terms"]
    assert manifest["counts"]["indexed_docs"] == len(small_vectors)
    assert manifest["index_bytes"] > 0
    assert json.loads((lucene_index / "vocab.json").read_text()) == small_vectors.vocab


def test_empty_and_unknown_queries_give_no_hits(engine, small_queries):
    queries = [{}, {"no-such-token-in-vocab": 2.0}, {"[PAD]": 0.0}, small_queries.vectors[0]]
    results = engine.batch_search(["e", "u", "z", "q"], queries, k=10)
    assert [len(ids) for ids in results.doc_ids[:3]] == [0, 0, 0]
    assert len(results.doc_ids[3]) == 10
    assert results.unknown_tokens == 1
    assert results.retrieval_ns.shape == (4,)


def test_search_cli_writes_run_and_latency(lucene_index, small_queries, tmp_path):
    from lilsr_tools.vectors.queries import save_encoded_queries

    queries = save_encoded_queries(tmp_path / "queries", small_queries)
    run = tmp_path / "lucene.trec"
    result = subprocess.run(LILSR + ["search", str(lucene_index), str(queries), "--run", str(run), "-k", "5"],
                            capture_output=True, text=True, env=_env(), cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = run.read_text().splitlines()
    assert len(lines) == 5 * len(small_queries.qids)
    qid, q0, docid, rank, score, tag = lines[0].split()
    assert (qid, q0, rank, tag) == (small_queries.qids[0], "Q0", "1", "lucene.contextual")
    latency = json.loads(run.with_suffix(".latency.json").read_text())
    assert latency["engine"] == "lucene" and latency["info"]["searcher"] == "java-bridge"
    assert {"mean_ms", "p50_ms", "p90_ms", "p99_ms"} <= set(latency["retrieval"])
    assert len(latency["per_query"]) == len(small_queries.qids)


def test_existing_index_is_refused_without_overwrite(lucene_index, small_vectors, tmp_path):
    before = (lucene_index / "manifest.json").read_text()
    result = subprocess.run(LILSR + ["index", "lucene", str(small_vectors.path), str(lucene_index)],
                            capture_output=True, text=True, env=_env(), cwd=REPO)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert (lucene_index / "manifest.json").read_text() == before


def test_float_weights_never_reach_anserini(small_vectors, tmp_path):
    from lilsr_tools.engines.lucene.indexing import build_impact_index
    from lilsr_tools.vectors.convert import write_json_vector_collection

    collection = tmp_path / "collection"
    write_json_vector_collection(small_vectors, collection, scale=SCALE)
    file = collection / "docs" / "docs00000.jsonl"
    lines = file.read_text().splitlines()
    row = json.loads(lines[6])
    token = next(iter(row["vector"]))
    row["vector"][token] = 1.5  # a float weight: Anserini would silently truncate it to 1
    lines[6] = json.dumps(row)
    file.write_text("\n".join(lines) + "\n")
    out = tmp_path / "index"
    with pytest.raises(LilsrError, match=r"docs00000\.jsonl:7: token .* not an integer"):
        build_impact_index(collection, out)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".index")]


def test_interrupted_build_leaves_nothing(small_vectors, tmp_path, monkeypatch):
    from lilsr_tools.engines.lucene import indexing

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(indexing, "run_index_collection", interrupted)
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        indexing.build_impact_index(small_vectors, out)
    assert list(tmp_path.iterdir()) == []


def test_missing_or_old_java_is_a_clear_error(tmp_path, small_vectors, monkeypatch):
    from lilsr_tools.engines.lucene import jvm

    with pytest.raises(LilsrError, match="Java not found"):
        jvm.find_java(tmp_path / "no-java-here")
    old = tmp_path / "jdk17"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "java").write_text("#!/bin/sh\n")
    (old / "release").write_text('JAVA_VERSION="17.0.15"\n')
    with pytest.raises(LilsrError, match=r"Java 17\.0\.15 .* too old.*21"):
        jvm.find_java(old)
    monkeypatch.setenv("LILSR_JAVA_HOME", str(tmp_path / "no-java-here"))
    with pytest.raises(LilsrError, match="LILSR_JAVA_HOME"):
        jvm.find_java()
    # end to end: the CLI says so in one line, exits 2 and writes nothing
    out = tmp_path / "index"
    result = subprocess.run(LILSR + ["index", "lucene", str(small_vectors.path), str(out)], capture_output=True,
                            text=True, env=_env(LILSR_JAVA_HOME=str(tmp_path / "no-java-here")), cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.startswith("lilsr: error: Java not found")
    assert not out.exists()


def test_without_the_bridge_falls_back_to_anserini_and_says_so(lucene_index, small_queries, monkeypatch, capsys):
    from lilsr_tools.engines.lucene import LuceneEngine, jvm

    jvm.start_jvm()
    monkeypatch.setitem(jvm._state, "bridge", False)
    monkeypatch.setitem(jvm._state, "bridge_status", "the Java bridge is not built (test)")
    engine = LuceneEngine.load(lucene_index)
    assert "lilsr: note: the Java bridge is not built (test); searching with Anserini's SimpleImpactSearcher" \
        in capsys.readouterr().err
    results = engine.batch_search(small_queries.qids[:3], small_queries.vectors[:3], k=5)
    assert results.info["searcher"] == "anserini-simpleimpactsearcher"
    assert results.info["query_weights"] == "int" and "not built" in results.info["note"]
    assert [len(ids) for ids in results.doc_ids] == [5, 5, 5]
    with pytest.raises(LilsrError, match="not built"):
        LuceneEngine.load(lucene_index, searcher="bridge")
    engine.close()
