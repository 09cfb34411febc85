"""The command line end to end on a small SciFact: encode, export, search, evaluate, and bad input."""

import json

import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main


def lilsr(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_exact_search_run_latency_and_evaluation(small_corpus, small_vectors, tmp_path):
    store = small_vectors.path
    result = lilsr("table", "export", "splade-tiny", tmp_path / "table", "--init", "idf", "--collection", small_corpus)
    assert result.exit_code == 0, result.output
    result = lilsr("encode", "queries", small_corpus, tmp_path / "queries", "--encoder", "table",
                   "--table", tmp_path / "table")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "queries" / "queries.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"qid", "vector", "encode_ns"} and first["encode_ns"] > 0
    result = lilsr("search", store, tmp_path / "queries", "--run", tmp_path / "run.trec", "-k", 100)
    assert result.exit_code == 0, result.output
    run_lines = (tmp_path / "run.trec").read_text().splitlines()
    qid, q0, docid, rank, score, tag = run_lines[0].split()
    assert (q0, rank, tag) == ("Q0", "1", "exact.table") and docid in small_vectors.ids
    latency = json.loads((tmp_path / "run.latency.json").read_text())
    assert latency["queries"] == len(lines) and latency["retrieval"]["n"] == len(lines)
    assert latency["encode"]["mean_ms"] > 0 and len(latency["per_query"]) == len(lines)
    result = lilsr("evaluate", tmp_path / "run.trec", "--qrels", small_corpus / "qrels" / "test.tsv", "--json")
    scores = json.loads(result.output)
    # half the corpus is relevant documents, so a text-idf table over splade-tiny documents finds most of them
    assert scores["aggregates"]["nDCG@10"] > 0.6
    assert scores["summary"]["judged_missing_from_run"] == 0


def test_raw_queries_need_an_encoder(small_corpus, small_vectors, tmp_path):
    result = lilsr("search", small_vectors.path, small_corpus, "--run", tmp_path / "run.trec")
    assert result.exit_code == 2
    assert "need a query encoder: pass --encoder" in result.output
    assert not (tmp_path / "run.trec").exists()


def test_malformed_corpus_line_fails_cleanly(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": "broken\n')
    result = lilsr("encode", "corpus", corpus, tmp_path / "store")
    assert result.exit_code == 2
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(f"lilsr: error: {corpus}:2: malformed JSON")
    assert not (tmp_path / "store").exists()


def test_evaluate_reports_judged_queries_missing_from_the_run(small_corpus, tmp_path):
    qrels = small_corpus / "qrels" / "test.tsv"
    first_qid = qrels.read_text().splitlines()[1].split("\t")[0]
    (tmp_path / "run.trec").write_text(f"{first_qid} Q0 nodoc 1 1.0 t\n")
    result = lilsr("evaluate", tmp_path / "run.trec", "--qrels", qrels)
    assert result.exit_code == 0
    assert "judged but missing from the run (scored 0)" in result.output
    judged = len({line.split("\t")[0] for line in qrels.read_text().splitlines()[1:]})
    assert f"{judged - 1} judged but missing" in result.output


@pytest.mark.parametrize("args, message", [
    (["vectors", "export", "{store}", "{tmp}/x", "--format", "anserini", "--scale", "0"], "'--scale': 0.0 is not in"),
    (["search", "{store}", "{tmp}/missing-queries", "--run", "{tmp}/new.trec"], "missing-queries: no such file"),
    (["search", "{store}", "{tmp}/missing-queries", "--run", "{tmp}/r.trec"], "r.trec already exists; pass --overwrite"),
    (["evaluate", "{tmp}/r.trec"], "give exactly one of --qrels FILE or --collection"),
])
def test_bad_arguments_exit_non_zero(small_vectors, tmp_path, args, message):
    (tmp_path / "r.trec").write_text("")
    args = [a.format(store=small_vectors.path, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
