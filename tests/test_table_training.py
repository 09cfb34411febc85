"""What training does to the query table: in-batch negatives, and the exact per-token gradient split that
explains why training on mined negatives alone ranks stopwords above content tokens (training/diagnostics.py).
Real parts: splade-tiny, SciFact text; tiny batches."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lilsr_tools.errors import LilsrError
from lilsr_tools.training import make_config
from lilsr_tools.training.diagnostics import token_gradient_terms
from lilsr_tools.training.losses import in_batch_ce_loss, kl_loss, positive_ce_loss
from lilsr_tools.training.loop import build_student, compute_loss


@pytest.fixture(scope="module")
def student(splade_tiny):
    model, tokenizer = splade_tiny
    config = make_config(base="splade-tiny", max_length=64, query_max_length=32)
    built = build_student(config, (copy.deepcopy(model), tokenizer))
    built.eval()
    return built


QUERIES = ["vitamin d deficiency increases the risk of tuberculosis",
           "statins reduce the incidence of heart failure"]
DOCS = ["Vitamin D deficiency and tuberculosis risk in a cohort of adults.",            # q0 positive
        "Vitamin D supplements and the risk of fractures in the elderly.",              # q0 negative
        "Tuberculosis incidence in the population of the United Kingdom.",               # q0 negative
        "Statins and heart failure: a randomized trial of incidence.",                  # q1 positive
        "Heart rate variability in athletes during the season.",                         # q1 negative
        "Vitamin D deficiency and tuberculosis risk in a cohort of adults."]            # q1 negative = q0's positive


def test_in_batch_scores_hold_the_own_candidates_scores(student):
    out = student(QUERIES, DOCS, 3, max_length=64, query_max_length=32, in_batch=True)
    batch = out["batch_scores"]
    assert batch.shape == (2, 6)
    for q in range(2):
        assert torch.allclose(batch[q, q * 3:(q + 1) * 3], out["scores"][q], rtol=1e-5, atol=1e-5)


def test_in_batch_cross_entropy_masks_another_copy_of_the_positive_and_reduces_to_the_plain_one():
    scores = torch.tensor([[3.0, 1.0, 0.5, 2.0, 0.1, 9.0],
                           [0.2, 0.3, 0.1, 4.0, 1.0, 2.0]])
    texts = ["p0", "n", "m", "p1", "x", "p0"]  # query 1's last candidate is query 0's positive
    loss = in_batch_ce_loss(scores, texts, 3)
    # query 0: column 5 is its own positive again, so it must not count as a negative
    expected0 = -torch.log_softmax(scores[0, :5], 0)[0]
    expected1 = -torch.log_softmax(scores[1], 0)[3]
    assert loss.item() == pytest.approx(((expected0 + expected1) / 2).item(), rel=1e-6)
    own = torch.tensor([[3.0, 1.0, 0.5]])
    assert in_batch_ce_loss(own, ["a", "b", "c"], 3).item() == pytest.approx(positive_ce_loss(own).item())


def test_in_batch_needs_the_cross_entropy_term():
    with pytest.raises(LilsrError, match="--ce-weight"):
        make_config(base="splade-tiny", in_batch_negatives=True, ce_weight=0.0)


def test_token_gradients_match_autograd_on_the_table_weights(student):
    """The closed form of training/diagnostics.py against torch autograd through the real loss terms."""
    teacher = torch.tensor([[2.0, 0.5, 0.0], [1.5, 0.2, 1.0]])
    inputs = (QUERIES, DOCS, teacher, 3)
    grads = token_gradient_terms(student, inputs, ce_weight=1.0, lambda_q=1e-3, max_length=64, query_max_length=32)
    tokens, mask = student.query_tokens(QUERIES, 32)
    with torch.no_grad():
        docs, _ = student.encode_splade(student.tokenize(DOCS, 64))
    candidates = docs.view(2, 3, -1)
    z = (student.token_scores(tokens) * mask).detach().requires_grad_(True)
    scores = (candidates.gather(2, tokens.unsqueeze(1).expand(-1, 3, -1)) * z.unsqueeze(1)).sum(-1)
    for term, loss in (("kl", kl_loss(scores, teacher)), ("ce", positive_ce_loss(scores))):
        (grad,) = torch.autograd.grad(loss, z, retain_graph=True)
        expected = np.bincount(tokens.reshape(-1).numpy(), weights=(grad * mask).reshape(-1).double().numpy(),
                               minlength=student.vocab_size)
        assert np.allclose(grads[term], expected, atol=1e-7), term
    assert np.allclose(grads["l1"][tokens[mask > 0]], 1e-3 / 2 * np.bincount(
        tokens[mask > 0].numpy(), minlength=student.vocab_size)[tokens[mask > 0]])


def test_compute_loss_with_in_batch_negatives_runs_and_differs(student, splade_tiny):
    teacher = torch.tensor([[2.0, 0.5, 0.0], [1.5, 0.2, 1.0]])
    plain = make_config(base="splade-tiny", ce_weight=1.0, max_length=64, query_max_length=32)
    batch = plain.replace(in_batch_negatives=True)
    with torch.no_grad():
        a, _ = compute_loss(student, plain, (QUERIES, DOCS, teacher, 3), step=10_000)
        b, _ = compute_loss(student, batch, (QUERIES, DOCS, teacher, 3), step=10_000)
    assert torch.isfinite(b) and b.item() > a.item()  # more negatives: the cross-entropy can only grow


TOPICS = ["vitamin", "tuberculosis", "insulin", "malaria", "asthma", "obesity", "dementia", "influenza",
          "hepatitis", "anemia", "arthritis", "leukemia"]
SHARED = "the study of patients and the results in this trial"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A planted problem whose right table is known: each document is the same shared sentence plus one topic
    word (three documents a topic); each query is the shared words and its topic word; the positive is a
    document of its topic, the negatives documents of other topics. Only the topic word separates them."""
    import json

    root = tmp_path_factory.mktemp("planted")
    docs, queries, qrels, teacher = [], [], [], []
    for t, word in enumerate(TOPICS):
        for j in range(3):
            docs.append({"_id": f"d{t}-{j}", "title": "", "text": f"{SHARED} {word} " + " ".join(["report"] * j)})
        queries.append({"_id": f"q{t}", "text": f"{word} in {SHARED}"})
        qrels.append(f"q{t}\td{t}-0\t1")
        teacher.append(f"q{t}\td{t}-0\t1.0")
        teacher += [f"q{t}\td{(t + s) % len(TOPICS)}-{s % 3}\t0.2" for s in range(1, 6)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")
    (root / "teacher.tsv").write_text("\n".join(teacher) + "\n")
    return root


def test_training_raises_the_separating_tokens_over_the_shared_ones(planted, splade_tiny, tmp_path, monkeypatch):
    from lilsr_tools.training import train

    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    config = make_config(base="splade-tiny", collection=str(planted), split="train", evals=[],
                         teacher=str(planted / "teacher.tsv"), negatives="scores", n_negatives=3, batch_size=4,
                         steps=24, max_length=32, query_max_length=32, lr=1e-5, head_lr=5e-2, ce_weight=1.0,
                         warmup_steps=1, save_every=24, seed=0, threads=2, dev_fraction=0.2)
    model, tokenizer = splade_tiny
    before = build_student(config, (copy.deepcopy(model), tokenizer)).table()
    result = train(config, tmp_path / "run", progress=False, loaded=(copy.deepcopy(model), tokenizer))
    after = np.load(result.table / "table.npy")
    topic = sorted({i for w in TOPICS for i in tokenizer(w, add_special_tokens=False)["input_ids"]})
    shared = sorted(set(tokenizer(SHARED, add_special_tokens=False)["input_ids"]) - set(topic))
    gain_topic = float(np.mean(after[topic] - before[topic]))
    gain_shared = float(np.mean(after[shared] - before[shared]))
    assert gain_topic > gain_shared + 0.05, (gain_topic, gain_shared)
    assert np.median(after[topic]) > np.median(after[shared])
