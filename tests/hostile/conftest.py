"""Tiny shared artefacts for the hostile-input and fault tests: 30 SciFact documents encoded once with
splade-tiny, a table, encoded queries, and native and Lucene indexes built from them (each on first use)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TINY_DOCS = 30
TINY_QUERIES = 10


@dataclass
class Tiny:
    root: Path
    corpus: Path            # BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv
    store: Path             # vector store (splade-tiny, max length 128)
    table: Path             # idf table over the store (with the tokenizer)
    queries: Path           # encoded queries (table encoder)
    extra: dict = field(default_factory=dict)

    @property
    def corpus_file(self) -> Path:
        return self.corpus / "corpus.jsonl"

    @property
    def qrels(self) -> Path:
        return self.corpus / "qrels" / "test.tsv"


@pytest.fixture(scope="session")
def tiny(scifact_dir, splade_tiny, tmp_path_factory) -> Tiny:
    from lilsr_tools.data import read_qrels
    from lilsr_tools.models.corpus import encode_corpus
    from lilsr_tools.models.presets import vocabulary
    from lilsr_tools.models.query_encoders import StaticTableEncoder, encode_queries
    from lilsr_tools.models.splade import SpladeEncoder
    from lilsr_tools.models.table import idf_table, save_table
    from lilsr_tools.vectors.queries import save_encoded_queries
    from lilsr_tools.vectors.store import vocab_digest

    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus"
    (corpus / "qrels").mkdir(parents=True)
    qrels = read_qrels(scifact_dir / "qrels" / "test.tsv")
    qids = list(qrels)[:TINY_QUERIES]
    relevant = {doc for qid in qids for doc in qrels[qid]}
    lines = (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    chosen = [line for line in lines if json.loads(line)["_id"] in relevant]
    chosen += [line for line in lines if json.loads(line)["_id"] not in relevant][: TINY_DOCS - len(chosen)]
    (corpus / "corpus.jsonl").write_text("\n".join(chosen) + "\n", encoding="utf-8")
    with open(corpus / "qrels" / "test.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid in qids:
            for doc, rel in qrels[qid].items():
                out.write(f"{qid}\t{doc}\t{rel}\n")
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as src, \
            open(corpus / "queries.jsonl", "w", encoding="utf-8") as out:
        out.writelines(line for line in src if json.loads(line)["_id"] in set(qids))

    encoder = SpladeEncoder("splade-tiny", max_length=128, batch_size=32, loaded=splade_tiny)
    store = encode_corpus(corpus / "corpus.jsonl", root / "store", encoder, progress=False)
    model, tokenizer = splade_tiny
    vocab = vocabulary(tokenizer, len(store.vocab))
    save_table(root / "table", idf_table(store), vocab, tokenizer, source="splade-tiny", params={"init": "idf"})
    from lilsr_tools.data import resolve_collection

    queries = resolve_collection(corpus).queries("test")
    table = StaticTableEncoder("table", idf_table(store), vocab, tokenizer)
    encoded = encode_queries(table, [q.id for q in queries], [q.text for q in queries])
    save_encoded_queries(root / "queries", encoded, vocab_digest=vocab_digest(vocab), params={"encoder": "table"})
    return Tiny(root, corpus, root / "store", root / "table", root / "queries")


@pytest.fixture(scope="session")
def tiny_native(tiny) -> Path:
    from lilsr_tools.engines.native import NativeEngine

    return NativeEngine.build(tiny.store, tiny.root / "native", threads=1, progress=False, n_postings=50)


@pytest.fixture(scope="session")
def tiny_lucene(tiny) -> Path:
    from lilsr_tools.engines.lucene import LuceneEngine

    return LuceneEngine.build(tiny.store, tiny.root / "lucene", scale=100.0, threads=1)


@pytest.fixture(scope="session")
def tiny_jvc(tiny) -> Path:
    from lilsr_tools.vectors.convert import write_json_vector_collection
    from lilsr_tools.vectors.store import load_vectors

    write_json_vector_collection(load_vectors(tiny.store), tiny.root / "jvc", scale=100.0)
    return tiny.root / "jvc"


@pytest.fixture(scope="session")
def tiny_engine_index(tiny):
    """``tiny_engine_index(name)``: the tiny store indexed by one of the engines that read their files with
    compiled code (pisa, bmp, kannolo, seismic-rs) or Milvus Lite (milvus), built on first use."""
    from lilsr_tools.engines import get_engine

    built: dict[str, Path] = {}
    options = {"pisa": {}, "bmp": {}, "kannolo": {"threads": 1}, "seismic-rs": {"threads": 1, "n_postings": 50},
               "milvus": {"progress": False}}

    def index(name: str) -> Path:
        if name not in built:
            built[name] = get_engine(name).build(tiny.store, tiny.root / f"idx-{name}", **options[name])
        return built[name]
    return index
