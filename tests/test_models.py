"""Document encoding, query encoders and the Li-LSR table, on the real splade-tiny model."""

import json

import numpy as np
import pytest
import torch

from lilsr_tools.errors import LilsrError
from lilsr_tools.models.corpus import encode_corpus
from lilsr_tools.models.presets import load_masked_lm, vocabulary
from lilsr_tools.models.query_encoders import encode_queries, make_query_encoder
from lilsr_tools.models.splade import SpladeEncoder, splade_pool
from lilsr_tools.models.table import load_table, save_table, table_from_head

TEXTS = ["Vitamin D supplementation and bone mineral density in elderly women.",
         "Myelodysplastic syndromes are age-dependent stem cell malignancies.", "short"]


@pytest.fixture(scope="module")
def encoder(splade_tiny):
    return SpladeEncoder("splade-tiny", max_length=64, batch_size=2, loaded=splade_tiny)


def test_pooled_path_equals_reference_splade(encoder):
    batch = encoder.tokenize(TEXTS)
    with torch.no_grad():
        reference = splade_pool(encoder.model(**batch).logits, batch["attention_mask"])
    reference[:, encoder.special_ids] = 0
    ours = encoder.encode_batch(TEXTS)
    assert torch.allclose(ours, reference, atol=1e-5)
    # rows come back in input order although batches are formed by length
    matrix = encoder.encode(TEXTS + TEXTS[:1])
    assert np.allclose(matrix.toarray()[:3], reference.numpy(), atol=1e-4)  # other batches, other padding
    assert np.allclose(matrix.toarray()[3], matrix.toarray()[0], atol=1e-4)


def test_special_tokens_never_appear_and_vectors_are_on_topic(encoder):
    vector = encoder.encode_one(TEXTS[0])
    assert not {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"} & set(vector)
    top = sorted(vector, key=vector.get, reverse=True)[:8]
    assert {"vitamin", "bone", "elderly"} <= set(top)


def test_empty_documents_become_counted_empty_vectors(tmp_path, encoder):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "title": "", "text": "Vitamin D and bone density."}\n'
                      '{"_id": "b", "title": "", "text": "   "}\n'
                      '{"_id": "c", "title": "Stem cells", "text": "malignancies"}\n')
    vectors = encode_corpus(corpus, tmp_path / "store", encoder, progress=False)
    assert vectors.ids == ["a", "b", "c"]
    assert vectors.row(1) == {}
    counts = vectors.manifest["counts"]
    assert counts["empty_docs"] == 1 and counts["empty_input_docs"] == 1 and counts["docs"] == 3


def test_duplicate_document_ids_are_an_error(tmp_path, encoder):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "one"}\n{"_id": "a", "text": "two"}\n')
    with pytest.raises(LilsrError, match="duplicate document id 'a'"):
        encode_corpus(corpus, tmp_path / "store", encoder, progress=False)
    assert not (tmp_path / "store").exists()


def test_encoding_resumes_from_finished_shards(tmp_path, encoder, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": TEXTS[i % 3]}) + "\n" for i in range(6)))
    calls = []
    original = SpladeEncoder.encode

    def failing(self, texts, progress=None, **kwargs):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, texts, progress, **kwargs)

    monkeypatch.setattr(SpladeEncoder, "encode", failing)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(corpus, tmp_path / "store", encoder, shard_size=2, progress=False)
    assert not (tmp_path / "store").exists()
    calls.clear()
    monkeypatch.setattr(SpladeEncoder, "encode", lambda self, texts, progress=None, **kwargs: (calls.append(len(texts)),
                                                                                 original(self, texts, progress))[1])
    vectors = encode_corpus(corpus, tmp_path / "store", encoder, shard_size=2, progress=False)
    assert calls == [2, 2]  # the first shard was reused
    assert vectors.ids == [f"d{i}" for i in range(6)]
    assert not (tmp_path / ".store.shards").exists()


def test_unknown_model_lists_presets():
    with pytest.raises(LilsrError, match=r"preset: splade-tiny .*minilm"):
        load_masked_lm("no-such-org/no-such-model")


def test_minilm_preset_gets_a_sparse_head_on_the_documents_words():
    model, tokenizer = load_masked_lm("minilm")
    head = model.cls.predictions
    assert torch.equal(head.decoder.weight, model.get_input_embeddings().weight)  # tied
    assert float(head.bias.detach().mean()) == -8.0
    encoder = SpladeEncoder("minilm", max_length=64, loaded=(model, tokenizer))
    vector = encoder.encode_one(TEXTS[0])
    assert 0 < len(vector) < 400
    own = set(tokenizer.tokenize(TEXTS[0]))
    top = sorted(vector, key=vector.get, reverse=True)[:10]
    assert len(own & set(top)) >= 3


def test_table_is_log1p_relu_of_embeddings_and_round_trips(tmp_path, splade_tiny):
    model, tokenizer = splade_tiny
    embeddings = model.get_input_embeddings().weight.detach().numpy()
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=embeddings.shape[1]).astype(np.float32), -0.5
    weights = table_from_head(embeddings, w, b)
    expected = np.log1p(np.maximum(embeddings.astype(np.float64) @ w.astype(np.float64) + b, 0))
    assert np.allclose(weights, expected, atol=1e-4)
    vocab = vocabulary(tokenizer, len(weights))
    save_table(tmp_path / "table", weights, vocab, tokenizer, source="splade-tiny")
    table = load_table(tmp_path / "table")
    assert np.array_equal(table.weights, weights)
    idf = json.loads((tmp_path / "table" / "idf.json").read_text())
    assert len(idf) == len(vocab) and idf["protein"] == pytest.approx(float(weights[vocab.index("protein")]))


def test_static_encoders_and_duplicate_modes(tmp_path, splade_tiny, small_vectors):
    model, tokenizer = splade_tiny
    vocab = vocabulary(tokenizer, model.get_input_embeddings().weight.shape[0])
    weights = np.zeros(len(vocab), np.float32)
    weights[vocab.index("cell")] = 2.0
    weights[vocab.index("protein")] = 0.5
    save_table(tmp_path / "table", weights, vocab, tokenizer, source="splade-tiny")
    text = "cell protein cell membrane"
    assert make_query_encoder("table", table=tmp_path / "table").encode(text) == {"cell": 4.0, "protein": 0.5}
    assert make_query_encoder("table", table=tmp_path / "table", dup="max").encode(text) == {"cell": 2.0, "protein": 0.5}
    assert make_query_encoder("table", table=tmp_path / "table", dup="binary").encode(text) == {"cell": 1.0, "protein": 1.0}
    binary = make_query_encoder("binary", model="splade-tiny").encode(text)
    assert binary == {"cell": 1.0, "protein": 1.0, "membrane": 1.0}  # each distinct token weighs 1
    assert make_query_encoder("binary", model="splade-tiny", dup="sum").encode(text)["cell"] == 2.0
    idf = make_query_encoder("vector-idf", vectors=small_vectors)  # tokenizer: the model recorded in the store
    weights_idf = idf.encode("cell zzzzqqq")
    assert weights_idf["cell"] > 0 and all(w > 0 for w in weights_idf.values())
    encoded = encode_queries(idf, ["q1", "q2"], ["cell", ""])
    assert encoded.vectors[1] == {} and encoded.encode_ns.shape == (2,) and (encoded.encode_ns > 0).all()


def test_table_from_another_vocabulary_is_refused(tmp_path):
    model, tokenizer = load_masked_lm("minilm")
    weights = np.ones(len(tokenizer), np.float32)
    vocab = vocabulary(tokenizer)
    vocab[1000] = "not-the-same"
    save_table(tmp_path / "table", weights, vocab, tokenizer=None, source="minilm")
    with pytest.raises(LilsrError, match="different vocabulary"):
        make_query_encoder("table", table=tmp_path / "table")
