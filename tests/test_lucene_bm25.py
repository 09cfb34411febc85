"""BM25 baseline: our index + search reproduce Anserini's own SearchCollection run, line for line."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bm25_index(small_corpus, tmp_path_factory):
    from lilsr_tools.engines.lucene import BM25Engine

    return BM25Engine.build(small_corpus, tmp_path_factory.mktemp("bm25") / "index")


@pytest.fixture(scope="module")
def test_queries(small_corpus):
    from lilsr_tools.data import resolve_collection

    return resolve_collection(small_corpus).queries("test")


def _anserini_run(index, queries, tmp_path, k):
    """Anserini's SearchCollection, exactly as its BEIR flat regressions call it, on the same index."""
    from lilsr_tools.data.trec import read_run
    from lilsr_tools.engines.lucene import jvm

    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q.id}\t{' '.join(q.text.split())}\n" for q in queries), encoding="utf-8")
    run = tmp_path / "anserini.trec"
    command = jvm.java_command("io.anserini.search.SearchCollection", "-index", index / "lucene", "-topics", topics,
                               "-topicReader", "TsvString", "-output", run, "-bm25", "-removeQuery", "-hits", k,
                               heap="1g")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    lines = [line.split() for line in run.read_text().splitlines()]
    return read_run(run), lines


def test_bm25_matches_anserini_search_collection(bm25_index, test_queries, tmp_path):
    from lilsr_tools.engines.lucene import BM25Engine
    from lilsr_tools.manifest import read_manifest

    manifest = read_manifest(bm25_index, "lilsr.bm25-index")
    assert manifest["counts"]["indexed_docs"] == 300
    assert manifest["postings"]["terms"] > 1000

    engine = BM25Engine.load(bm25_index, searcher="bridge")
    qids, texts = [q.id for q in test_queries], [q.text for q in test_queries]
    ours = engine.batch_search(qids, texts, k=100, remove_query=True)
    assert ours.info == {**ours.info, "searcher": "java-bridge", "k1": 0.9, "b": 0.4}
    _, lines = _anserini_run(bm25_index, test_queries, tmp_path, 100)
    theirs: dict[str, list[tuple[str, str]]] = {}
    for qid, _, docid, rank, score, _ in lines:
        theirs.setdefault(qid, []).append((docid, score))
    assert len(theirs) == len(qids)
    for qid, ids, scores in zip(ours.qids, ours.doc_ids, ours.scores):
        # the same documents, in the same order, with the same scores as printed in Anserini's run (%.6f)
        assert [(d, f"{s:.6f}") for d, s in zip(ids, scores)] == theirs[qid]

    # Anserini's SimpleSearcher (Pyserini's LuceneSearcher path) ranks the same documents
    fallback = BM25Engine.load(bm25_index, searcher="anserini")
    again = fallback.batch_search(qids, texts, k=100)
    assert again.info["searcher"] == "anserini-simplesearcher"
    assert again.doc_ids == ours.doc_ids
    for a, b in zip(again.scores, ours.scores):
        np.testing.assert_allclose(a, b, atol=1e-5)
    fallback.close()


def test_bm25_empty_query_and_parameters(bm25_index, test_queries):
    from lilsr_tools.engines.lucene import BM25Engine
    from lilsr_tools.errors import LilsrError

    engine = BM25Engine.load(bm25_index)
    results = engine.batch_search(["empty", "stop", "q"], ["", "the of and", test_queries[0].text], k=10)
    assert [len(ids) for ids in results.doc_ids] == [0, 0, 10]  # stopwords only: nothing left to match
    other = engine.batch_search(["q"], [test_queries[0].text], k=10, k1=1.2, b=0.75)
    assert other.info["k1"] == 1.2 and other.info["b"] == 0.75
    assert not np.allclose(other.scores[0], results.scores[2])
    with pytest.raises(LilsrError, match="no parameter k_1; it takes k1, b, remove_query"):
        engine.batch_search(["q"], ["x"], k=10, k_1=1.0)
