"""Shared fixtures: real data from ../shared/data (SciFact), encoded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # as engines/milvus/client.py: no gRPC code in forked children

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LILSR_DATA_DIR") or REPO.parent / "shared" / "data")
os.environ.setdefault("LILSR_DATA_DIR", str(DATA))

SMALL_DOCS = 300


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    path = DATA / "scifact"
    if not (path / "corpus.jsonl").is_file():
        pytest.fail(f"SciFact not found at {path}; set LILSR_DATA_DIR to the shared data folder")
    return path


@pytest.fixture(scope="session")
def splade_tiny():
    """(model, tokenizer) of the splade-tiny preset, loaded once."""
    from lilsr_tools.models.presets import load_masked_lm

    return load_masked_lm("splade-tiny")


@pytest.fixture(scope="session")
def small_corpus(scifact_dir, tmp_path_factory) -> Path:
    """The SciFact documents judged in the test split plus the first documents of the corpus, up to
    SMALL_DOCS in all, as a BEIR folder (queries and qrels restricted to documents present)."""
    import json

    from lilsr_tools.data import read_qrels

    qrels = read_qrels(scifact_dir / "qrels" / "test.tsv")
    relevant = {doc for docs in qrels.values() for doc in docs}
    out = tmp_path_factory.mktemp("scifact-small")
    kept = set()
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as src:
        lines = src.readlines()
    chosen = [line for line in lines if json.loads(line)["_id"] in relevant][: SMALL_DOCS // 2]
    chosen += [line for line in lines if json.loads(line)["_id"] not in relevant][: SMALL_DOCS - len(chosen)]
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as dst:
        for line in chosen:
            kept.add(json.loads(line)["_id"])
            dst.write(line)
    (out / "qrels").mkdir()
    judged = set()
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as dst:
        dst.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for doc, rel in docs.items():
                if doc in kept:
                    dst.write(f"{qid}\t{doc}\t{rel}\n")
                    judged.add(qid)
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as src, \
            open(out / "queries.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["_id"] in judged:
                dst.write(line)
    return out


@pytest.fixture(scope="session")
def small_vectors(small_corpus, splade_tiny, tmp_path_factory):
    """``small_corpus`` encoded with splade-tiny (max length 128), as a loaded vector store."""
    from lilsr_tools.models.corpus import encode_corpus
    from lilsr_tools.models.splade import SpladeEncoder

    encoder = SpladeEncoder("splade-tiny", max_length=128, batch_size=32, loaded=splade_tiny)
    out = tmp_path_factory.mktemp("vectors") / "scifact-small"
    return encode_corpus(small_corpus / "corpus.jsonl", out, encoder, progress=False)


@pytest.fixture(scope="session")
def small_queries(small_corpus, splade_tiny):
    """Judged queries of ``small_corpus`` encoded with the contextual splade-tiny encoder."""
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.models.query_encoders import ContextualEncoder, encode_queries

    queries = resolve_collection(small_corpus).queries("test")
    encoder = ContextualEncoder("splade-tiny", loaded=splade_tiny)
    return encode_queries(encoder, [q.id for q in queries], [q.text for q in queries])


@pytest.fixture(scope="session")
def small_table(small_vectors, tmp_path_factory) -> Path:
    """A vector-idf Li-LSR table over ``small_vectors`` (splade-tiny's vocabulary), as a table folder."""
    from lilsr_tools.models.table import save_table
    from lilsr_tools.models.table_export import export_table

    out = tmp_path_factory.mktemp("table") / "idf-table"
    weights, vocab, tokenizer, params = export_table("splade-tiny", "vector-idf", vectors=small_vectors.path)
    save_table(out, weights, vocab, tokenizer, source="splade-tiny", params=params)
    return out


@pytest.fixture(scope="session")
def split_corpus(scifact_dir, tmp_path_factory) -> Path:
    """A 300-document SciFact folder with both splits: documents judged in test (up to 100), training
    positives (up to 120; SciFact shares many with test) and other documents; train and test qrels and the
    queries restricted to those documents. For held-out-document and dev tests on real data."""
    import json

    from lilsr_tools.data import read_qrels

    qrels = {split: read_qrels(scifact_dir / "qrels" / f"{split}.tsv") for split in ("train", "test")}
    test_docs = sorted({d for docs in qrels["test"].values() for d in docs})
    train_docs = sorted({d for docs in qrels["train"].values() for d in docs})
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as src:
        lines = {json.loads(line)["_id"]: line for line in src}
    keep = list(dict.fromkeys(test_docs[:100] + train_docs[:120]))
    keep += [d for d in lines if d not in set(keep)][: SMALL_DOCS - len(keep)]
    kept = set(keep)
    out = tmp_path_factory.mktemp("scifact-split")
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as dst:
        dst.writelines(lines[d] for d in keep)
    (out / "qrels").mkdir()
    judged = set()
    for split, table in qrels.items():
        with open(out / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as dst:
            dst.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in table.items():
                for doc, rel in docs.items():
                    if doc in kept:
                        dst.write(f"{qid}\t{doc}\t{rel}\n")
                        judged.add(qid)
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as src, \
            open(out / "queries.jsonl", "w", encoding="utf-8") as dst:
        dst.writelines(line for line in src if json.loads(line)["_id"] in judged)
    return out


@pytest.fixture(scope="session")
def split_teacher(split_corpus, tmp_path_factory) -> Path:
    """A teacher score file for ``split_corpus``'s training queries: each positive, then 8 candidates chosen
    so that every query's candidates include documents judged in test (the pairs a held-out rule drops)."""
    from lilsr_tools.data import read_qrels, resolve_collection

    train = read_qrels(split_corpus / "qrels" / "train.tsv")
    test_docs = sorted({d for docs in read_qrels(split_corpus / "qrels" / "test.tsv").values() for d in docs})
    others = [d.id for d in resolve_collection(split_corpus).corpus() if d.id not in set(test_docs)]
    lines = []
    for n, qid in enumerate(sorted(train)):
        positives = [d for d, rel in train[qid].items() if rel > 0]
        lines += [f"{qid}\t{d}\t{1.0 + 0.1 * i:.2f}" for i, d in enumerate(positives)]
        candidates = test_docs[n % 50: n % 50 + 4] + others[n % 90: n % 90 + 4]
        lines += [f"{qid}\t{d}\t{0.5 - 0.05 * i:.2f}" for i, d in enumerate(candidates) if d not in positives]
    path = tmp_path_factory.mktemp("teacher") / "scores.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path
