"""Collections, qrels and runs: what users feed in, and the errors they get for bad files."""

import json

import pytest

from lilsr_tools.data import read_corpus, read_qrels, read_queries, read_run, resolve_collection, write_run
from lilsr_tools.errors import LilsrError


def test_scifact_resolves_by_name_and_streams(scifact_dir):
    collection = resolve_collection("scifact")
    assert collection.root == scifact_dir
    first = next(collection.corpus())
    assert first.id == "4983"
    assert first.contents.startswith("Microstructural development of human newborn cerebral white matter")
    assert len(collection.queries("test")) == 300
    assert sum(len(d) for d in collection.qrels("test").values()) == 339


def test_unknown_collection_offline_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LILSR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("lilsr_tools.data.collection.BEIR_URL", "http://127.0.0.1:9/{name}.zip")
    with pytest.raises(LilsrError, match=r"could not be downloaded.*put the BEIR folder"):
        resolve_collection("no-such-collection")
    assert not (tmp_path / "cache" / "datasets" / "no-such-collection").exists()


def test_malformed_jsonl_names_file_and_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}\n{"_id": "c", "text": \n')
    with pytest.raises(LilsrError, match=r"corpus\.jsonl:3: malformed JSON"):
        list(read_corpus(corpus))


def test_missing_id_and_whitespace_id_are_errors(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "no id"}\n')
    with pytest.raises(LilsrError, match=r"corpus\.jsonl:1: missing field '_id'"):
        list(read_corpus(corpus))
    corpus.write_text('{"_id": "a b", "text": "x"}\n')
    with pytest.raises(LilsrError, match="whitespace"):
        list(read_corpus(corpus))


def test_tsv_queries_and_duplicate_query_ids(tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\twhat is a cell\n2\tprotein folding\n")
    assert [(q.id, q.text) for q in read_queries(queries)] == [("1", "what is a cell"), ("2", "protein folding")]
    queries.write_text("1\ta\n1\tb\n")
    with pytest.raises(LilsrError, match=r"queries\.tsv:2: duplicate query id '1'"):
        read_queries(queries)


def test_qrels_beir_and_trec_formats(tmp_path):
    beir = tmp_path / "beir.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    trec = tmp_path / "trec.txt"
    trec.write_text("1 0 d1 1\n1 0 d2 0\n")
    assert read_qrels(beir) == read_qrels(trec) == {"1": {"d1": 1, "d2": 0}}
    trec.write_text("1 0 d1 high\n")
    with pytest.raises(LilsrError, match=r"trec\.txt:1: relevance 'high'"):
        read_qrels(trec)


def test_run_round_trip_is_sorted_and_atomic(tmp_path):
    path = tmp_path / "run.trec"
    write_run(path, ["q1", "q2"], [["d1", "d2"], ["d3"]], [[2.5, 1.0], [0.5]], tag="t")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 d1 1 2.500000 t"
    assert read_run(path) == {"q1": [("d1", 2.5), ("d2", 1.0)], "q2": [("d3", 0.5)]}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    path.write_text("q1 Q0 d1 1 2.5\n")
    with pytest.raises(LilsrError, match=r"run\.trec:1: expected 'qid Q0 docid rank score tag'"):
        read_run(path)


def test_small_corpus_fixture_is_beir(small_corpus):
    ids = [json.loads(line)["_id"] for line in open(small_corpus / "corpus.jsonl")]
    assert len(ids) == len(set(ids)) == 300


def test_qrels_format_is_decided_per_file_and_a_missing_field_is_refused(tmp_path):
    from lilsr_tools.data.qrels import read_qrels

    trec = tmp_path / "trec.txt"
    trec.write_text("1 0 d1 1\n1 0 31715818\n")  # a TREC line missing its grade: once document "0", grade 31715818
    with pytest.raises(LilsrError, match=r"trec\.txt:2: 3 fields, but this file's first line makes it "
                                         r"'qid iter docid rel' \(TREC\), 4 fields a line"):
        read_qrels(trec)
    trec.write_text("1 0 31715818\n1 0 d1 1\n")
    with pytest.raises(LilsrError, match=r"trec\.txt:1: 3 fields and no BEIR header"):
        read_qrels(trec)
    beir = tmp_path / "beir.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\t0\td2\t1\n")
    with pytest.raises(LilsrError, match=r"beir\.tsv:3: 4 fields, but .* 'query-id corpus-id score' \(BEIR TSV\)"):
        read_qrels(beir)
    beir.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\nquery-id\tcorpus-id\tscore\n")
    with pytest.raises(LilsrError, match=r"beir\.tsv:3: relevance 'score' is not a number"):
        read_qrels(beir)  # a header is a header on the first line only
    trec.write_text("1 0 d1 2.5\n")
    with pytest.raises(LilsrError, match=r"trec\.txt:1: relevance '2.5' is not an integer"):
        read_qrels(trec)


def test_tsv_queries_refuse_a_header_line_and_a_third_field(tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("qid\tquery\n1\twhat is a cell\n")  # the header once became query "qid"
    with pytest.raises(LilsrError, match=r"queries\.tsv:1: a header line \('qid', 'query'\), not a query"):
        read_queries(queries)
    queries.write_text("1\twhat is a cell\n2\tprotein\tfolding\n")  # once "protein folding"
    with pytest.raises(LilsrError, match=r"queries\.tsv:2: 3 tab-separated fields; a queries TSV line is "
                                         r"'qid<TAB>text'"):
        read_queries(queries)
    queries.write_text("id\tcell\n")  # a query whose id is "id" is still a query
    assert [(q.id, q.text) for q in read_queries(queries)] == [("id", "cell")]


def test_trec_topics_with_invalid_utf8_are_refused_like_tsv(tmp_path):
    topics = tmp_path / "topics.txt"
    topics.write_bytes(b"<top>\n<num> Number: 301\n<title> caf\xe9 culture\n</top>\n")
    with pytest.raises(LilsrError, match=r"topics\.txt:3: not UTF-8 \(byte 0xe9 at column 12\)"):
        read_queries(topics)
