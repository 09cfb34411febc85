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
    with pytest.raises(LilsrError, match=r"unknown bm25 search parameter\(s\) k_1; known: k1, b, remove_query"):
        engine.batch_search(["q"], ["x"], k=10, k_1=1.0)


def test_remove_query_counts_and_warns_about_relevant_documents_it_drops(tmp_path):
    """Cranfield-like: query ids and document ids share one number space, and query 2's relevant document
    is document 2; remove_query drops it, and says so (the count, and that it was judged relevant)."""
    import json

    from click.testing import CliRunner

    from lilsr_tools.cli import main

    coll = tmp_path / "cran"
    (coll / "qrels").mkdir(parents=True)
    docs = {"1": "boundary layer flow over a flat plate", "2": "heat transfer in hypersonic wakes",
            "3": "buckling of thin cylindrical shells", "4": "hypersonic heat transfer to blunt bodies"}
    (coll / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                               for d, t in docs.items()))
    (coll / "queries.jsonl").write_text(json.dumps({"_id": "2", "text": "hypersonic heat transfer"}) + "\n"
                                        + json.dumps({"_id": "9", "text": "cylindrical shells buckling"}) + "\n")
    (coll / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n2\t2\t1\n2\t4\t1\n9\t3\t1\n")
    runner = CliRunner()
    assert runner.invoke(main, ["index", "bm25", str(coll), str(tmp_path / "index")]).exit_code == 0
    result = runner.invoke(main, ["--quiet", "search", str(tmp_path / "index"), str(coll), "--run",
                                  str(tmp_path / "run.trec"), "-p", "remove_query=true", "--warmup", "0"])
    assert result.exit_code == 0, result.output
    assert ("lilsr: warning: remove_query dropped 1 hit(s) whose document id is the query id (e.g. query 2), "
            "1 of them judged relevant in the test qrels") in result.stderr
    info = json.loads((tmp_path / "run.latency.json").read_text())["info"]
    assert info["removed_query_docs"] == 1 and info["removed_query_docs_relevant"] == 1
    assert "2 Q0 2 " not in (tmp_path / "run.trec").read_text()
