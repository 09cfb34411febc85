"""What a researcher brings and expects: TREC topics and MS MARCO query files, trec_eval measure names,
graded measures, unique run tags, progress bars that stay out of pipes, ir_datasets ids."""

import json

import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.data import read_queries
from lilsr_tools.data.trec import read_run, run_tag
from lilsr_tools.errors import LilsrError


def lilsr(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def judged_queries(small_corpus, n=None):
    queries = read_queries(small_corpus / "queries.jsonl")
    return queries[:n] if n else queries


def write_trec_topics(path, queries):
    """Classic TREC topics as TREC distributes them: <num> labelled 'Number:', no closing field tags."""
    with open(path, "w", encoding="utf-8") as out:
        for q in queries:
            out.write(f"<top>\n\n<num> Number: {q.id}\n<title> {q.text}\n\n<desc> Description:\n"
                      f"Find documents about {q.text.lower()}\n\n<narr> Narrative:\nAnything relevant.\n\n</top>\n\n")


def test_trec_topics_and_msmarco_tsv_search_like_the_jsonl_queries(small_corpus, small_vectors, small_table, tmp_path):
    queries = judged_queries(small_corpus)
    write_trec_topics(tmp_path / "topics.301-350", queries)  # no suffix, as TREC names them
    (tmp_path / "queries.tsv").write_text("".join(f"{q.id}\t{q.text}\n" for q in queries), encoding="utf-8")
    runs = {}
    for name, source in [("jsonl", small_corpus / "queries.jsonl"), ("trec", tmp_path / "topics.301-350"),
                         ("tsv", tmp_path / "queries.tsv")]:
        result = lilsr("search", small_vectors.path, source, "--encoder", "table", "--table", small_table,
                       "--run", tmp_path / f"{name}.trec", "-k", 10)
        assert result.exit_code == 0, result.output
        runs[name] = read_run(tmp_path / f"{name}.trec")
    assert len(runs["jsonl"]) == len(queries)
    assert runs["trec"] == runs["jsonl"] and runs["tsv"] == runs["jsonl"]
    # --topic-field desc reads the description instead: other queries, other runs
    result = lilsr("encode", "queries", tmp_path / "topics.301-350", tmp_path / "q-desc", "--table", small_table,
                   "--topic-field", "desc")
    assert result.exit_code == 0, result.output
    first = json.loads((tmp_path / "q-desc" / "queries.jsonl").read_text().splitlines()[0])
    assert first["qid"] == queries[0].id and "find" in first["vector"]


def test_trec_xml_topics(tmp_path):
    (tmp_path / "topics.xml").write_text('<?xml version="1.0"?>\n<webtrack2014>\n'
                                         '<topic number="251" type="single"><query>identifying spider bites</query>'
                                         '<description>Find data on how to identify spider bites.</description>'
                                         '</topic>\n<topic number="252"><query>history of orcas island</query>'
                                         '</topic>\n</webtrack2014>\n')
    queries = read_queries(tmp_path / "topics.xml")
    assert [(q.id, q.text) for q in queries] == [("251", "identifying spider bites"), ("252", "history of orcas island")]
    with pytest.raises(LilsrError, match="topic 252 has no <description>"):
        read_queries(tmp_path / "topics.xml", topic_field="desc")


def test_bad_topic_file_is_one_line_naming_the_file(small_vectors, small_table, tmp_path):
    (tmp_path / "topics.txt").write_text("<top>\n<num> Number: 301\n<title> a title\n")  # no </top>
    result = lilsr("search", small_vectors.path, tmp_path / "topics.txt", "--encoder", "table", "--table",
                   small_table, "--run", tmp_path / "run.trec")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"lilsr: error: {tmp_path / 'topics.txt'}:1: <top> without </top>"
    assert not (tmp_path / "run.trec").exists()


def test_trec_eval_names_and_graded_measures(tmp_path):
    # DL19-style graded judgments: grade 1 is "related", 2 and 3 relevant
    (tmp_path / "qrels.txt").write_text("q1 0 a 1\nq1 0 b 3\nq1 0 c 2\nq2 0 x 1\nq2 0 y 2\n")
    (tmp_path / "run.trec").write_text("q1 Q0 a 1 3.0 t\nq1 Q0 b 2 2.0 t\nq1 Q0 z 3 1.0 t\n"
                                       "q2 Q0 x 1 2.0 t\nq2 Q0 w 2 1.0 t\n")
    measures = ["ndcg_cut.10", "nDCG@10", "recall.1000", "R(rel=2)@1000", "map", "AP(rel=2)", "recip_rank",
                "RR(rel=2)", "nDCG(rel=2)@10"]
    result = lilsr("evaluate", tmp_path / "run.trec", "--qrels", tmp_path / "qrels.txt", "--json",
                   *[a for m in measures for a in ("-m", m)])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)["aggregates"]
    assert list(values) == measures  # results keyed by the names given
    assert values["ndcg_cut.10"] == values["nDCG@10"]
    assert values["recall.1000"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert values["R(rel=2)@1000"] == pytest.approx((1 / 2 + 0) / 2)  # grade-1 judgments do not count
    assert values["recip_rank"] == 1.0 and values["RR(rel=2)"] == pytest.approx((1 / 2 + 0) / 2)
    assert values["AP(rel=2)"] < values["map"]
    # nDCG(rel=2): grade-1 judgments count as non-relevant, others keep their grade as gain
    assert 0 < values["nDCG(rel=2)@10"] < values["nDCG@10"]
    result = lilsr("evaluate", tmp_path / "run.trec", "--qrels", tmp_path / "qrels.txt", "-m", "RR(foo=2)@10")
    assert result.exit_code == 2
    assert result.output.strip() == ("lilsr: error: measure 'RR(foo=2)@10': RR takes no parameter foo; it takes "
                                     "cutoff, judged_only, rel")


def test_run_tags_unique_per_cell_and_readable():
    long = "lilsr-medium-lambda1e-4-step1200/contextual/native/heap_factor=0.9/n_postings=3500/query_cut="
    a, b = run_tag(long + "10"), run_tag(long + "20")
    assert a != b and len(a) <= 60 and len(b) <= 60
    assert a.startswith("lilsr-medium-lambda1e-4-step1200.contextual.native.")
    assert run_tag("splade-tiny/table/native/query_cut=10") == "splade-tiny.table.native.query_cut=10"
    assert " " not in run_tag("my model/table/exact")


def test_compare_cells_differing_in_the_last_parameter_get_distinct_tags():
    from lilsr_tools.reports.grid import grid_from_dict

    grid = grid_from_dict({"collection": "scifact", "encoders": ["table"],
                           "models": [{"name": "lilsr-medium-lambda1e-4-step1200-from-splade-tiny", "vectors": "x"}],
                           "engines": {"native": {"build": {"n_postings": 3500},
                                                  "search": [{"heap_factor": 0.9, "query_cut": 10},
                                                             {"heap_factor": 0.9, "query_cut": 20}]}}})
    cells = grid.cells()
    assert len(cells[0].id) > 60
    assert len({c.tag for c in cells}) == len({c.slug for c in cells}) == 2


def test_search_default_tag_names_engine_encoder_and_parameters(small_corpus, small_vectors, small_table, tmp_path):
    result = lilsr("search", small_vectors.path, small_corpus, "--encoder", "table", "--table", small_table,
                   "--run", tmp_path / "a.trec", "-k", 5)
    assert result.exit_code == 0, result.output
    assert {line.split()[5] for line in (tmp_path / "a.trec").read_text().splitlines()} == {"exact.table"}
    result = lilsr("search", small_vectors.path, small_corpus, "--encoder", "table", "--table", small_table,
                   "--run", tmp_path / "b.trec", "-k", 5, "--tag", "my run")
    assert result.exit_code == 2 and "without whitespace" in result.output


def test_encode_queries_reports_empty_queries(small_corpus, small_table, tmp_path):
    (tmp_path / "queries.tsv").write_text("1\tprotein folding\n2\t!!! ???\n3\tthe of\n")
    result = lilsr("encode", "queries", tmp_path / "queries.tsv", tmp_path / "q", "--table", small_table)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "q" / "manifest.json").read_text())
    empty = manifest["counts"]["empty_queries"]
    assert empty >= 1 and f"3 queries with 'table'" in result.output and f", {empty} empty (" in result.output


def test_progress_bars_only_when_asked_or_on_a_terminal(small_table, monkeypatch, capsys):
    from lilsr_tools.models.query_encoders import encode_queries, make_query_encoder

    encoder = make_query_encoder("table", table=small_table)
    texts = ["protein folding"] * 50
    monkeypatch.delenv("LILSR_PROGRESS", raising=False)
    encode_queries(encoder, [str(i) for i in range(50)], texts)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LILSR_PROGRESS", "1")
    from lilsr_tools import progress

    with progress.bar(total=50, desc="encode queries (table)", unit="query", delay=0) as bar:
        bar.update(50)
    err = capsys.readouterr().err
    assert "encode queries (table)" in err and "50/50" in err and "query/s" in err
    result = CliRunner().invoke(main, ["--quiet", "--help"])
    assert result.exit_code == 0


def test_search_in_chunks_behind_a_bar_returns_what_one_call_returns(small_vectors, small_queries, monkeypatch):
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.progress import SearchProgress

    engine = ExactEngine(small_vectors)
    plain = engine.batch_search(small_queries.qids, small_queries.vectors, k=20)
    monkeypatch.setenv("LILSR_PROGRESS", "1")
    chunked = SearchProgress(engine, chunks=7, min_chunk=4).batch_search(small_queries.qids, small_queries.vectors,
                                                                         k=20)
    assert len(small_queries.qids) > 4 * 7
    assert chunked.qids == plain.qids and chunked.doc_ids == plain.doc_ids
    assert all((a == b).all() for a, b in zip(chunked.scores, plain.scores))
    assert len(chunked.retrieval_ns) == len(plain.retrieval_ns) and chunked.unknown_tokens == plain.unknown_tokens


def test_ir_datasets_ids_export_once_into_the_cache(small_corpus, tmp_path, monkeypatch):
    """An ir_datasets dataset registered from local files (no network): irds:<id> becomes a BEIR folder."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    from lilsr_tools.data import resolve_collection

    docs = [json.loads(line) for line in (small_corpus / "corpus.jsonl").read_text().splitlines()[:20]]
    (tmp_path / "docs.tsv").write_text("".join(f"{d['_id']}\t{d['text'][:200]}\n" for d in docs))
    (tmp_path / "queries.tsv").write_text("q1\tcell biology\nq2\tprotein\n")
    (tmp_path / "qrels.txt").write_text(f"q1 0 {docs[0]['_id']} 2\nq2 0 {docs[1]['_id']} 1\n")
    dataset_id = f"lilsr-test-{tmp_path.name}"
    ir_datasets.registry.register(dataset_id, Dataset(
        TsvDocs(LocalDownload(tmp_path / "docs.tsv")), TsvQueries(LocalDownload(tmp_path / "queries.tsv")),
        TrecQrels(LocalDownload(tmp_path / "qrels.txt"), {1: "related", 2: "relevant"})))
    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    collection = resolve_collection(f"irds:{dataset_id}")
    assert [d.id for d in collection.corpus()] == [d["_id"] for d in docs]
    assert [(q.id, q.text) for q in collection.queries("test")] == [("q1", "cell biology"), ("q2", "protein")]
    assert collection.qrels("test") == {"q1": {docs[0]["_id"]: 2}, "q2": {docs[1]["_id"]: 1}}
    with pytest.raises(LilsrError, match="ir_datasets has no dataset with this id"):
        resolve_collection("irds:no-such-dataset/anywhere")


def test_a_system_keeps_its_marker_and_colour_across_reports():
    from lilsr_tools.reports.plots import engine_color, variant_markers

    one = variant_markers(["bm25 (text)", "lilsr-big · table", "splade-tiny · contextual"])
    other = variant_markers(["lilsr-big · table", "lilsr-medium · contextual"])
    assert one["lilsr-big · table"] == other["lilsr-big · table"]
    assert len(set(one.values())) == 3 and one["bm25 (text)"] == "X"  # distinct within a report
    # names that hash to the same marker still get distinct ones within a report
    clash = variant_markers(["lilsr-big · table", "lilsr-medium · table"])
    assert len(set(clash.values())) == 2
    assert engine_color("pisa") == engine_color("pisa") and engine_color("pisa") != engine_color("lucene")


def test_report_tables_scroll_instead_of_being_cut(tmp_path):
    import pandas as pd

    from lilsr_tools.reports.render import Block, write_report

    frame = pd.DataFrame({"cell": ["model/table/native/heap_factor=0.9/query_cut=10"], "retrieval_p50_ms": [0.5]})
    _, html = write_report([Block("table", frame)], tmp_path, "t")
    text = html.read_text()
    assert "<div class='table-wrap'><table>" in text and ".table-wrap { max-width: 100%; overflow-x: auto;" in text
    assert "model/<wbr>table/<wbr>native/<wbr>" in text and "<th>retrieve p50 (ms)</th>" in text


def test_quiet_and_pipes_silence_the_idf_bar(small_corpus, monkeypatch, capsys):
    # `table export --init idf` and training's idf drew this bar whatever --quiet said, terminal or not
    from lilsr_tools.models.presets import load_tokenizer
    from lilsr_tools.models.text_idf import text_idf

    tokenizer = load_tokenizer("splade-tiny")
    for setting in ("0", None):  # --quiet; no terminal
        if setting is None:
            monkeypatch.delenv("LILSR_PROGRESS", raising=False)
        else:
            monkeypatch.setenv("LILSR_PROGRESS", setting)
        text_idf(small_corpus / "corpus.jsonl", tokenizer, cache=False)
        assert capsys.readouterr().err == ""
    monkeypatch.setenv("LILSR_PROGRESS", "1")
    text_idf(small_corpus / "corpus.jsonl", tokenizer, cache=False)
    assert "idf" in capsys.readouterr().err


def test_warm_up_and_timed_passes_have_labelled_bars(small_vectors, small_queries, monkeypatch, capsys):
    from lilsr_tools import progress
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.search import QueryBatch, run_search

    shown = progress.bar
    monkeypatch.setattr(progress, "bar", lambda *args, **kwargs: shown(*args, **{**kwargs, "delay": 0}))
    monkeypatch.setenv("LILSR_PROGRESS", "1")
    batch = QueryBatch(small_queries.qids, None, small_queries.vectors, small_queries.encode_ns, "contextual")
    run_search(progress.SearchProgress(ExactEngine(small_vectors), desc="search", min_chunk=4), batch, k=10,
               warmup=1, repeat=2)
    err = capsys.readouterr().err
    for label in ("search (exact, k=10, warm-up)", "search (exact, k=10, timed 1/2)", "search (exact, k=10, timed 2/2)"):
        assert label in err
