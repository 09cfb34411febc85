"""The text-idf baseline on real SciFact text, and one rule for repeated query tokens in lookup and training."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from lilsr_tools.models.presets import load_tokenizer, vocabulary
from lilsr_tools.models.query_encoders import make_query_encoder
from lilsr_tools.models.text_idf import text_idf

STOPWORDS = ["the", "of", "and", "in", "to", "a", "with", "is", ",", ".", "(", ")"]
CONTENT = ["vitamin", "tumor", "insulin", "mutations", "bone"]


@pytest.fixture(scope="module")
def scifact_idf(scifact_dir, tmp_path_factory):
    import os

    os.environ["LILSR_CACHE_DIR"] = str(tmp_path_factory.mktemp("idf-cache"))
    tokenizer = load_tokenizer("splade-tiny")
    return text_idf(scifact_dir, tokenizer, progress=False), tokenizer


def test_stopwords_and_punctuation_rank_low_in_text_idf_over_scifact(scifact_idf):
    counted, tokenizer = scifact_idf
    assert counted.n_docs == 5183
    vocab = vocabulary(tokenizer, len(counted.df))
    weights = counted.weights
    seen = np.sort(weights[counted.df > 0])
    low = seen[int(0.02 * len(seen))]  # the 2nd percentile of the tokens that occur in the corpus
    for word in STOPWORDS:
        assert weights[vocab.index(word)] <= low, (word, float(weights[vocab.index(word)]), float(low))
    for word in CONTENT:
        assert weights[vocab.index(word)] > 5 * max(weights[vocab.index(s)] for s in STOPWORDS), word
    # BM25's idf of a token in every document is log(1 + 0.5 / (N + 0.5)): nearly 0
    assert counted.df[vocab.index("the")] > 0.9 * counted.n_docs
    special = [i for i in tokenizer.all_special_ids]
    assert (weights[special] == 0).all() and (weights[counted.df == 0] == 0).all()


def test_the_idf_encoder_weighs_content_words_over_function_words_and_caches_its_counts(scifact_idf, scifact_dir,
                                                                                        monkeypatch):
    encoder = make_query_encoder("idf", model="splade-tiny", corpus=scifact_dir)
    vector = encoder.encode("the effect of vitamin d on bone density")
    assert vector["vitamin"] > 4 * vector["of"] and vector["bone"] > 4 * vector["the"]
    assert encoder.dup == "sum" and encoder.encode("bone bone")["bone"] == pytest.approx(2 * vector["bone"])

    def no_pass(*args, **kwargs):
        raise AssertionError("the corpus was read again: the cached counts were not used")

    monkeypatch.setattr("lilsr_tools.data.collection.read_corpus", no_pass)
    again = make_query_encoder("idf", model="splade-tiny", corpus=scifact_dir)
    assert again.encode("vitamin") == {"vitamin": vector["vitamin"]}


def test_exported_tables_record_how_repeated_tokens_count_and_lookup_follows(small_corpus, tmp_path):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    for init in ("idf", "binary"):
        result = CliRunner().invoke(main, ["table", "export", "splade-tiny", str(tmp_path / init), "--init", init,
                                           "--collection", str(small_corpus)])
        assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "idf" / "manifest.json").read_text())["params"]["query_dup"] == "sum"
    assert json.loads((tmp_path / "binary" / "manifest.json").read_text())["params"]["query_dup"] == "max"
    assert make_query_encoder("table", table=tmp_path / "binary").encode("cell cell protein") == \
        {"cell": 1.0, "protein": 1.0}
    idf = make_query_encoder("table", table=tmp_path / "idf").encode("cell cell")
    assert idf["cell"] == pytest.approx(2 * make_query_encoder("table", table=tmp_path / "idf").encode("cell")["cell"])


@pytest.mark.parametrize("dup", ["sum", "max"])
def test_training_scores_a_repeated_token_as_the_table_lookup_does(splade_tiny, tmp_path, dup):
    from lilsr_tools.models.presets import vocabulary as vocab_of
    from lilsr_tools.models.table import init_head, save_table
    from lilsr_tools.training.model import LiLSRStudent

    model, tokenizer = copy.deepcopy(splade_tiny[0]), splade_tiny[1]
    model.eval()
    student = LiLSRStudent(model, tokenizer, init_head(128, seed=3), "static", query_dup=dup)
    query, docs = "vitamin d vitamin bone vitamin", ["Vitamin D and bone density.", "Stem cell malignancies."]
    with torch.no_grad():
        out = student([query], docs, 2, max_length=64, query_max_length=32)
    save_table(tmp_path / "t", student.table(), vocab_of(tokenizer, student.vocab_size), tokenizer,
               params={"init": "head", "query_dup": dup})
    looked_up = make_query_encoder("table", table=tmp_path / "t").encode(query)  # dup from the manifest
    vocab = {t: i for i, t in enumerate(vocab_of(tokenizer, student.vocab_size))}
    doc_vectors = out["docs"].numpy()
    expected = [sum(w * doc_vectors[c, vocab[t]] for t, w in looked_up.items()) for c in range(2)]
    assert np.allclose(out["scores"][0].numpy(), expected, rtol=1e-5)


def test_encoding_records_how_many_documents_were_cut_at_max_length(small_corpus, small_vectors):
    """Nothing silently truncated: the store says how many documents the 128-token limit cut, and what share
    of their tokens, counted here independently."""
    from lilsr_tools.data import read_corpus

    tokenizer = load_tokenizer("splade-tiny")
    lengths = [len(tokenizer(d.contents)["input_ids"]) for d in read_corpus(small_corpus / "corpus.jsonl")]
    record = small_vectors.manifest["counts"]["truncation"]
    assert record["max_length"] == 128 and record["texts"] == len(lengths)
    assert record["truncated"] == sum(n > 128 for n in lengths) > 0
    cut = sum(max(0, n - 128) for n in lengths) / sum(lengths)
    assert record["tokens_cut_share"] == pytest.approx(cut, abs=1e-4)


def test_head_init_idf_fits_the_text_idf_table_closely(scifact_idf, splade_tiny):
    """--head-init idf: the head's table starts near the text-idf table (stopwords near 0), at the untrained
    head's scale (mean weight log 2), with a head of ordinary size (not a bias in the hundreds)."""
    from lilsr_tools.models.table import init_head
    from lilsr_tools.training.loop import fit_head_to_idf
    from lilsr_tools.training.model import LiLSRStudent

    counted, tokenizer = scifact_idf
    student = LiLSRStudent(copy.deepcopy(splade_tiny[0]), tokenizer, init_head(128, 0))
    error = fit_head_to_idf(student, counted.weights)
    table, idf = student.table(), counted.weights
    live = idf > 0
    assert error < 0.05 and np.corrcoef(table[live], idf[live])[0, 1] > 0.7
    assert table[live].mean() == pytest.approx(np.log(2), rel=0.1)
    weight, bias = student.head()
    assert np.linalg.norm(weight) < 50 and abs(bias) < 10
    vocab = vocabulary(tokenizer, len(idf))
    stopwords = max(table[vocab.index(w)] for w in ("the", "of", ","))  # 0.09 against a mean of 0.69
    assert stopwords < 0.15 and table[vocab.index("vitamin")] > 3 * stopwords
