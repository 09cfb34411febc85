"""The text-in, hits-out Python API and the PyTerrier integration, against the command line's runs."""

import json

import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.data import read_queries, read_run
from lilsr_tools.errors import LilsrError


def lilsr(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def table_run(small_corpus, small_vectors, small_table, tmp_path_factory):
    """`lilsr search` (exact, Li-LSR table queries, k=1000) and `lilsr evaluate` on the small SciFact."""
    tmp = tmp_path_factory.mktemp("table-run")
    result = lilsr("search", small_vectors.path, small_corpus, "--encoder", "table", "--table", small_table,
                   "--run", tmp / "run.trec", "-k", 1000)
    assert result.exit_code == 0, result.output
    result = lilsr("evaluate", tmp / "run.trec", "--qrels", small_corpus / "qrels" / "test.tsv", "--json",
                   "-m", "nDCG@10", "-m", "R@100")
    return read_run(tmp / "run.trec"), json.loads(result.output)["aggregates"]


def test_searcher_returns_what_lilsr_search_writes(small_corpus, small_vectors, small_table, table_run):
    from lilsr_tools import Searcher

    run, _ = table_run
    queries = read_queries(small_corpus / "queries.jsonl")[:5]
    searcher = Searcher(small_vectors.path, encoder=small_table)
    hits = searcher.search(queries[0].text, k=10)
    assert [(h.docid, round(h.score, 4)) for h in hits] == [(d, round(s, 4)) for d, s in run[queries[0].id][:10]]
    batch = searcher.batch_search([q.text for q in queries], k=3)
    assert [[h.docid for h in hits] for hits in batch] == [[d for d, _ in run[q.id][:3]] for q in queries]
    with pytest.raises(LilsrError, match="use batch_search"):
        searcher.search([queries[0].text])
    with pytest.raises(LilsrError, match="searches query vectors; pass encoder="):
        Searcher(small_vectors.path)


def test_contextual_batches_match_one_query_at_a_time(small_corpus, splade_tiny):
    from lilsr_tools.models.query_encoders import ContextualEncoder, encode_queries

    encoder = ContextualEncoder("splade-tiny", loaded=splade_tiny, batch_size=8)
    texts = [q.text for q in read_queries(small_corpus / "queries.jsonl")[:12]]
    batched = encode_queries(encoder, [str(i) for i in range(12)], texts, batch_size=8)
    assert batched.batch_size == 8 and (batched.encode_ns > 0).all()
    for text, vector in zip(texts, batched.vectors):
        alone = encoder.encode(text)
        assert set(alone) == set(vector)
        assert max(abs(alone[t] - vector[t]) for t in alone) < 1e-3


def test_pyterrier_experiment_scores_the_run_as_lilsr_evaluate(small_corpus, small_vectors, small_table, table_run):
    import pandas as pd
    import pyterrier as pt
    from ir_measures import R, nDCG

    from lilsr_tools import pyterrier as lpt

    _, expected = table_run
    queries = read_queries(small_corpus / "queries.jsonl")
    topics = pd.DataFrame({"qid": [q.id for q in queries], "query": [q.text for q in queries]})
    qrels = pd.read_csv(small_corpus / "qrels" / "test.tsv", sep="\t", dtype=str).rename(
        columns={"query-id": "qid", "corpus-id": "docno", "score": "label"}).astype({"label": int})
    pipeline = lpt.table_encoder(small_table) >> lpt.retriever(small_vectors.path, k=1000)
    table = pt.Experiment([pipeline], topics, qrels, eval_metrics=[nDCG @ 10, R @ 100], names=["li-lsr table"])
    assert table.loc[0, "nDCG@10"] == pytest.approx(expected["nDCG@10"], abs=1e-9)
    assert table.loc[0, "R@100"] == pytest.approx(expected["R@100"], abs=1e-9)
    assert not pt.java.started()  # the whole path runs without a JVM


def test_pyterrier_doc_and_contextual_transformers(small_corpus, small_vectors, splade_tiny):
    import pandas as pd

    from lilsr_tools import pyterrier as lpt
    from lilsr_tools.models.query_encoders import ContextualEncoder
    from lilsr_tools.models.splade import SpladeEncoder

    docs = [json.loads(line) for line in (small_corpus / "corpus.jsonl").read_text().splitlines()[:3]]
    frame = pd.DataFrame({"docno": [d["_id"] for d in docs],
                          "text": [f"{d['title']} {d['text']}" for d in docs]})
    encoder = lpt.DocEncoderTransformer(SpladeEncoder("splade-tiny", max_length=128, loaded=splade_tiny))
    toks = encoder(frame)["toks"].tolist()
    for doc, vector in zip(docs, toks):
        stored = small_vectors.row(small_vectors.ids.index(doc["_id"]))
        assert set(vector) == set(stored)
        assert max(abs(vector[t] - stored[t]) for t in vector) < 1e-3
    query = lpt.QueryEncoderTransformer(ContextualEncoder("splade-tiny", loaded=splade_tiny, batch_size=4), 4)
    out = query(pd.DataFrame({"qid": ["1", "2"], "query": ["protein folding", "vitamin d"]}))
    assert out["query_toks"][0] == pytest.approx(ContextualEncoder("splade-tiny", loaded=splade_tiny)
                                                .encode("protein folding"), abs=1e-3)
