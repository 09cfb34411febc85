"""Li-LSR training on real parts: splade-tiny, a 300-document SciFact folder, a teacher score file.

The runs are tiny (4 queries x 4 candidates, 64 tokens, a handful of steps) so the whole file takes well
under a minute on 2 cores; the full-size runs and their figures live in docs/training.md.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lilsr_tools.data import resolve_collection
from lilsr_tools.errors import LilsrError
from lilsr_tools.training import make_config, train
from lilsr_tools.training.data import BatchSampler, load_training_data
from lilsr_tools.training.loop import build_student, compute_loss, train_step_inputs
from lilsr_tools.training.model import load_student
from lilsr_tools.training.teacher import read_score_file

N_QUERIES = 8


@pytest.fixture(scope="module")
def teacher_file(small_corpus, tmp_path_factory):
    """Scores for 8 judged queries: the positive 1.0, six other documents 0.6 down to 0.1."""
    collection = resolve_collection(small_corpus)
    qrels = collection.qrels("test")
    doc_ids = [doc.id for doc in collection.corpus()]
    path = tmp_path_factory.mktemp("teacher") / "scores.tsv"
    lines = []
    for n, qid in enumerate(sorted(qrels)[:N_QUERIES]):
        positives = [d for d, rel in qrels[qid].items() if rel > 0]
        lines += [f"{qid}\t{d}\t1.0" for d in positives]
        others = [d for d in doc_ids[n * 7:] if d not in positives][:6]
        lines += [f"{qid}\t{d}\t{0.6 - 0.1 * i:.1f}" for i, d in enumerate(others)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def config(small_corpus, teacher_file, tmp_path, monkeypatch):
    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    return make_config(base="splade-tiny", collection=str(small_corpus), split="test", teacher=str(teacher_file),
                       negatives="scores", n_negatives=3, batch_size=4, steps=6, max_length=64, lr=3e-4,
                       head_lr=3e-2, warmup_steps=1, save_every=3, seed=0, threads=2)


def fresh(splade_tiny):
    """A private copy of the session's splade-tiny: training must not touch the shared fixture."""
    model, tokenizer = splade_tiny
    return copy.deepcopy(model), tokenizer


def test_memory_lean_document_forward_matches_full_logits_values_and_gradients(splade_tiny):
    from lilsr_tools.models.splade import splade_pool
    from lilsr_tools.models.table import init_head
    from lilsr_tools.training.model import LiLSRStudent

    model, tokenizer = fresh(splade_tiny)
    model.eval()  # no dropout: both paths must see the same activations
    student = LiLSRStudent(model, tokenizer, init_head(128), "static")
    texts = ["Vitamin D supplementation and bone mineral density in elderly women.", "short text",
             "Myelodysplastic syndromes are age-dependent stem cell malignancies that share biological features."]
    batch = student.tokenize(texts, 64)
    probe = torch.rand(len(texts), student.vocab_size)

    ours, nonzeros = student.encode_splade(batch)
    (ours * probe).sum().backward()
    grad_ours = model.bert.encoder.layer[1].output.dense.weight.grad.clone()
    grad_emb_ours = model.get_input_embeddings().weight.grad.clone()
    model.zero_grad()

    reference = splade_pool(model(**batch).logits, batch["attention_mask"])
    reference[:, student.special_ids] = 0.0
    (reference * probe).sum().backward()
    assert torch.allclose(ours, reference, atol=1e-5)
    assert nonzeros.tolist() == (reference > 0).sum(dim=1).tolist()
    assert torch.allclose(grad_ours, model.bert.encoder.layer[1].output.dense.weight.grad, atol=1e-4)
    assert torch.allclose(grad_emb_ours, model.get_input_embeddings().weight.grad, atol=1e-4)


def test_static_scores_equal_table_lookup_dot_document(splade_tiny):
    """Training scores a query exactly as the 'table' encoder plus a dot product will at search time."""
    from lilsr_tools.models.table import init_head
    from lilsr_tools.training.model import LiLSRStudent

    model, tokenizer = fresh(splade_tiny)
    model.eval()
    student = LiLSRStudent(model, tokenizer, init_head(128, seed=3), "static")
    query, docs = "vitamin d vitamin bone", ["Vitamin D and bone density.", "Stem cell malignancies."]
    with torch.no_grad():
        out = student([query], docs, 2, max_length=64, query_max_length=32)
    table = student.table()
    doc_vectors = out["docs"].numpy()
    expected = [sum(table[t] * doc_vectors[c, t] for t in student.token_ids(query)) for c in range(2)]
    assert np.allclose(out["scores"][0].numpy(), expected, rtol=1e-5)


def test_contextual_query_side_scores_are_splade_dot_products(splade_tiny):
    """The ablation: queries through the SPLADE encoder itself, as 'encode_one' gives them at search time."""
    from lilsr_tools.models.splade import SpladeEncoder
    from lilsr_tools.models.table import init_head
    from lilsr_tools.training.model import LiLSRStudent

    model, tokenizer = fresh(splade_tiny)
    model.eval()
    student = LiLSRStudent(model, tokenizer, init_head(128), "contextual")
    query, docs = "vitamin d and bone density", ["Vitamin D and bone density.", "Stem cell malignancies."]
    with torch.no_grad():
        out = student([query], docs, 2, max_length=64, query_max_length=64)
    reference = SpladeEncoder("splade-tiny", max_length=64, loaded=(model, tokenizer))
    q = reference.encode_one(query)
    rows = reference.encode(docs).toarray()
    vocab = {t: i for i, t in enumerate(reference.vocab)}
    expected = [sum(w * rows[c, vocab[t]] for t, w in q.items()) for c in range(2)]
    assert np.allclose(out["scores"][0].numpy(), expected, rtol=1e-4)
    assert out["query_nonzeros"].tolist() == [len(q)]


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(config, splade_tiny, tmp_path):
    loaded = fresh(splade_tiny)
    data = load_training_data(config, cache_dir=tmp_path, teacher_candidates=read_score_file(
        config.teacher, {q.id for q in resolve_collection(config.collection).queries()}, set(_doc_ids(config))))
    scores = read_score_file(config.teacher, data.queries, data.docs)
    fixed = train_step_inputs(BatchSampler(data, config.batch_size, config.n_negatives, 123), data, scores, 0, 1.0)

    def loss_now(student):
        student.eval()
        with torch.no_grad():
            return float(compute_loss(student, config, fixed, step=config.steps)[0])

    before = loss_now(build_student(config, copy.deepcopy(loaded)))
    result = train(config.replace(steps=8, save_every=8), tmp_path / "run", loaded=loaded, progress=False)
    assert result.steps == 8
    after = loss_now(load_student(result.model))
    assert after < before * 0.8, (before, after)


def _doc_ids(config):
    return [d.id for d in resolve_collection(config.collection).corpus()]


def test_resume_continues_the_same_step_count_and_ends_where_an_uninterrupted_run_ends(config, splade_tiny, tmp_path):
    straight = train(config, tmp_path / "straight", loaded=fresh(splade_tiny), progress=False)
    assert train(config, tmp_path / "resumed", loaded=fresh(splade_tiny), progress=False, stop_after=3) is None
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    assert (tmp_path / "resumed" / "checkpoints" / "step-000003" / "trainer_state.pt").is_file()
    resumed = train(config, tmp_path / "resumed", loaded=fresh(splade_tiny), progress=False)

    assert resumed.steps == straight.steps == 6
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    from safetensors.numpy import load_file

    a = load_file(str(straight.model / "model.safetensors"))
    b = load_file(str(resumed.model / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert np.allclose(a[key], b[key], atol=1e-5), key
    assert np.allclose(np.load(straight.table / "table.npy"), np.load(resumed.table / "table.npy"), atol=1e-5)
    # a finished run is not silently retrained; another config does not resume someone else's run
    with pytest.raises(LilsrError, match="finished training run"):
        train(config, tmp_path / "straight", loaded=fresh(splade_tiny), progress=False)
    partial = tmp_path / "partial"
    train(config, partial, loaded=fresh(splade_tiny), progress=False, stop_after=3)
    with pytest.raises(LilsrError, match="lambda_d differ"):
        train(config.replace(lambda_d=0.5), partial, loaded=fresh(splade_tiny), progress=False)


def test_exported_table_equals_head_over_word_embeddings_computed_independently(config, splade_tiny, tmp_path):
    from safetensors.numpy import load_file

    from lilsr_tools.models.table import load_table
    from lilsr_tools.models.table_export import export_table

    result = train(config.replace(steps=3, save_every=3), tmp_path / "run", loaded=fresh(splade_tiny), progress=False)
    weights = load_file(str(result.model / "model.safetensors"))
    embeddings = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight")).astype(np.float64)
    head = load_file(str(result.model / "lilsr_head.safetensors"))
    w, b = head["weight"].astype(np.float64), float(head["bias"][0])
    assert head["weight"].shape == (128,) and head["bias"].shape == (1,)
    expected = np.log1p(np.maximum(embeddings @ w + b, 0.0))
    special = [0, 100, 101, 102, 103]  # [PAD] [UNK] [CLS] [SEP] [MASK] never weigh anything
    expected[special] = 0.0

    table = load_table(result.table)
    assert np.allclose(table.weights, expected, atol=1e-5)
    assert table.manifest["kind"] == "lilsr.table"
    assert not np.allclose(w, np.random.default_rng(config.seed).normal(0, 0.02, 128))  # the head was trained
    # 'lilsr table export CKPT --init head' reads the same head from the checkpoint
    exported, *_ = export_table(str(result.model), "head")
    assert np.allclose(exported, table.weights, atol=1e-6)


@pytest.mark.parametrize("line, message", [
    ("nosuchquery\t{doc}\t0.5", "unknown query id 'nosuchquery'"),
    ("{qid}\tnosuchdoc\t0.5", "unknown document id 'nosuchdoc'"),
    ("{qid}\t{doc}\tnan", "score is nan"),
    ("{qid}\t{doc}\tinf", "score is inf"),
    ("{qid}\t{doc}", "expected 'qid docid score'"),
])
def test_teacher_score_file_with_unknown_ids_or_bad_scores_is_refused(config, teacher_file, tmp_path, line, message):
    good = teacher_file.read_text().splitlines()
    qid, doc, _ = good[0].split("\t")
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(good[:3] + [line.format(qid=qid, doc=doc)] + good[3:]) + "\n")
    with pytest.raises(LilsrError, match=f"bad.tsv:4: .*{message}"):
        train(config.replace(teacher=str(bad)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_cli_reports_a_bad_teacher_file_in_one_line(config, tmp_path):
    from lilsr_tools.cli import main

    bad = tmp_path / "bad.tsv"
    bad.write_text("q1 d1 nan\n")
    result = CliRunner().invoke(main, ["train", config.collection, str(tmp_path / "run"), "--split", "test",
                                       "--teacher", str(bad), "--negatives", "scores", "--no-evaluate"])
    assert result.exit_code == 2
    assert "lilsr: error:" in result.output and "bad.tsv:1" in result.output


def test_losses_and_the_quadratic_warmup():
    from lilsr_tools.training.losses import flops_reg, kl_loss, l1_reg, margin_mse_loss, quadratic_warmup

    student = torch.tensor([[3.0, 1.0, 0.0], [0.5, 2.0, 1.0]])
    assert float(kl_loss(student, student + 7.0)) == pytest.approx(0.0, abs=1e-6)  # softmax ignores shifts
    assert float(kl_loss(student, student.flip(1))) > 0.1
    assert float(margin_mse_loss(student, student - 4.0)) == pytest.approx(0.0, abs=1e-6)  # only margins count
    assert float(margin_mse_loss(student, torch.zeros(2, 3))) == pytest.approx(((2 ** 2 + 3 ** 2) + (1.5 ** 2 + 0.5 ** 2)) / 4)
    docs = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert float(l1_reg(docs)) == pytest.approx(3.0)
    assert float(flops_reg(docs)) == pytest.approx(2.0 ** 2 + 1.0 ** 2)
    assert [quadratic_warmup(1.0, t, 10) for t in (0, 5, 10, 20)] == [0.0, 0.25, 1.0, 1.0]


def test_batches_are_a_function_of_seed_and_position_and_never_hold_a_positive_as_negative(config, tmp_path):
    teacher = read_score_file(config.teacher, {q.id for q in resolve_collection(config.collection).queries()},
                              set(_doc_ids(config)))
    data = load_training_data(config, cache_dir=tmp_path, teacher_candidates=teacher)
    a, b = BatchSampler(data, 4, 3, seed=7), BatchSampler(data, 4, 3, seed=7)
    assert [a.batch(m) for m in (5, 0, 3)] == [b.batch(m) for m in (5, 0, 3)]
    assert a.batch(0) != BatchSampler(data, 4, 3, seed=8).batch(0)
    for m in range(10):
        for qid, (positive, *negatives) in a.batch(m):
            assert positive in data.positives[qid] and len(negatives) == 3
            assert not set(negatives) & set(data.positives[qid])
    # one epoch visits every (query, positive) example once
    epoch = [(qid, cands[0]) for m in range(len(data.examples) // 4) for qid, cands in a.batch(m)]
    assert len(set(epoch)) == len(epoch)


def test_sweep_varies_lambda_d_chooses_on_dev_and_reports_test_once(split_corpus, split_teacher, splade_tiny,
                                                                    tmp_path, monkeypatch):
    from lilsr_tools.training.sweep import run_sweep

    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    base = make_config(base="splade-tiny", collection=str(split_corpus), teacher=str(split_teacher),
                       negatives="scores", n_negatives=3, batch_size=4, steps=4, save_every=4, max_length=64, lr=3e-4,
                       head_lr=3e-2, warmup_steps=1, reg_warmup_steps=1, threads=2)
    rows = run_sweep(base, tmp_path / "sweep", lambdas=[0.0, 0.01], encoders=("table", "idf"), progress=False)
    assert [r["name"] for r in rows] == ["lambda-0", "lambda-0.01"]
    assert [(r["lambda_d"], r["lambda_q"]) for r in rows] == [(0.0, 1e-4), (0.01, 1e-4)]  # lambda_d alone
    assert rows[1]["doc_nnz"] < rows[0]["doc_nnz"] * 0.9
    test_label = f"{split_corpus}:test"
    for row in rows:
        assert 0.0 < row["dev_nDCG@10"] <= 1.0 and row["flops"] > 0 and row["query_nnz"] > 0
        assert row["dev_idf_nDCG@10"] is not None
        assert set(row["test"]) == {test_label} and row["test"][test_label]["judged_docs_seen_in_training"] == 0
    assert sum(r["best_on_dev"] for r in rows) == 1
    results = json.loads((tmp_path / "sweep" / "lambda-0" / "eval" / "results.json").read_text())["targets"]
    assert {r["role"] for r in results.values()} == {"dev", "test"}
    assert set(results[test_label]["encoders"]) == {"table"}  # test: the chosen encoder only, once
    csv_lines = (tmp_path / "sweep" / "sweep.csv").read_text().splitlines()
    assert csv_lines[0].startswith("name,lambda_d,lambda_q,doc_nnz") and len(csv_lines) == 3
    assert "TEST" in (tmp_path / "sweep" / "sweep.md").read_text()
    assert json.loads((tmp_path / "sweep" / "manifest.json").read_text())["kind"] == "lilsr.sweep"
    with pytest.raises(LilsrError, match="finished sweep"):
        run_sweep(base, tmp_path / "sweep", lambdas=[0.0, 0.01], progress=False)


def test_bm25_negatives_come_from_the_bm25_engine(config, tmp_path):
    from lilsr_tools.engines import get_engine
    from lilsr_tools.training.data import mine_bm25

    collection = resolve_collection(config.collection)
    positives = {qid: [d for d, r in docs.items() if r > 0] for qid, docs in list(collection.qrels("test").items())[:5]}
    queries = {q.id: q.text for q in collection.queries() if q.id in positives}
    pools = mine_bm25(collection, queries, positives, 10, cache_dir=tmp_path)
    assert set(pools) == set(queries)
    engine = get_engine("bm25").load(next(tmp_path.glob("bm25-*")))
    qids = sorted(queries)
    ranked = engine.batch_search(qids, [queries[q] for q in qids], k=20)
    for qid, ids in zip(qids, ranked.doc_ids):
        expected = [d for d in ids if d not in positives[qid]][:10]
        assert pools[qid] == expected and len(expected) == 10


def test_teacher_agreement_with_the_qrels_is_recorded_and_a_contrary_teacher_is_flagged(
        config, teacher_file, splade_tiny, tmp_path):
    """The preparation line and the manifest say how often the teacher ranks the qrels positive above a
    mined negative: the fixture's teacher always does; the same scores with the positives pushed to the
    bottom never do, and that is flagged before any step is trained."""
    from lilsr_tools.training.loop import prepare, summary_line

    result = train(config.replace(steps=2, save_every=2), tmp_path / "run", loaded=fresh(splade_tiny), progress=False)
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["teacher_agreement"]["positive_above_negative"] == 1.0
    assert manifest["teacher_agreement"]["pairs"] > 0
    assert manifest["table"]["collapsed"] is False and manifest["table"]["nonzero_tokens"] > 0
    assert manifest["warnings"] == []

    contrary = tmp_path / "contrary.tsv"
    contrary.write_text("".join(line.replace("\t1.0", "\t-1.0") for line in teacher_file.open()))
    prepared = prepare(config.replace(teacher=str(contrary)), tmp_path / "contrary-run", False, fresh(splade_tiny),
                       False)
    assert prepared.stats["teacher_agreement"]["positive_above_negative"] == 0.0
    line = summary_line(prepared)
    assert "above a mined negative in 0% of" in line and "weak" in line


def test_a_table_that_died_during_training_is_reported_with_the_step_it_died(tmp_path):
    """As in an NFCorpus run whose teacher disagreed with the qrels: query weights fell to nothing and
    stayed there (a stray batch with a fraction of a token does not revive it)."""
    from lilsr_tools.training.loop import collapse_warning, table_health

    nnz = [6.5, 0.0, 3.0] + [0.0] * 40 + [0.125] + [0.0] * 20
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s + 1, "query_nnz": q}) + "\n" for s, q in enumerate(nnz)))
    nearly_dead = np.zeros(30522, dtype=np.float32)
    nearly_dead[[2059, 2279]] = 0.2
    health = table_health(nearly_dead, log)
    assert health["collapsed"] and health["nonzero_tokens"] == 2 and health["dead_from_step"] == 4
    message = collapse_warning(health, {"pairs": 100, "positive_above_negative": 0.34})
    assert "collapsed: 2 tokens" in message and "since step 4" in message and "34%" in message
    assert table_health(np.zeros(30522, dtype=np.float32), tmp_path / "no-log.jsonl")["collapsed"]

    alive_log = tmp_path / "alive.jsonl"
    alive_log.write_text("".join(json.dumps({"step": s + 1, "query_nnz": 18.0}) + "\n" for s in range(60)))
    health = table_health(np.full(30522, 0.5, dtype=np.float32), alive_log)
    assert not health["collapsed"] and "dead_from_step" not in health
    assert collapse_warning(health, None) is None


def test_training_evaluation_says_its_document_length_against_encode_corpus():
    # train evaluates at the training length (cpu: 128) while `lilsr encode corpus` cuts at 256 by default:
    # documents encoded by hand are not the ones training reported on, and the output says so
    from lilsr_tools.cli import main
    from lilsr_tools.training.evaluation import ENCODE_CORPUS_MAX_LENGTH, format_results

    encode_corpus = main.commands["encode"].commands["corpus"]
    default = next(p.default for p in encode_corpus.params if p.name == "max_length")
    assert default == ENCODE_CORPUS_MAX_LENGTH
    assert format_results({"doc_max_length": 128, "targets": {}}).splitlines()[0] == (
        f"evaluation documents encoded at 128 tokens (the training length; 'lilsr encode corpus' defaults to "
        f"{default}: --eval-max-length {default} evaluates the documents it encodes)")
    assert format_results({"doc_max_length": default, "targets": {}}) == (
        f"evaluation documents encoded at {default} tokens")


def test_a_run_stopped_during_its_final_write_shows_no_model_and_its_rerun_matches(config, splade_tiny, tmp_path,
                                                                                  monkeypatch):
    """``model/`` is what users point at: it appears whole, with this run's tokenizer settings, or not at
    all. A run stopped while writing its table, or inside the model folder's write, leaves no model and no
    manifest (before: ``model/`` was renamed into place first, so a stop at the table left a model without
    table or manifest); its re-run writes the files an uninterrupted run writes."""
    from lilsr_tools.models import table as table_module
    from lilsr_tools.training import loop

    config = config.replace(steps=3, save_every=3)
    straight = train(config, tmp_path / "straight", loaded=fresh(splade_tiny), progress=False)
    run = tmp_path / "run"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C; a kill -9 leaves the temporary sibling, which the re-run removes

    save_table = table_module.save_table
    monkeypatch.setattr(table_module, "save_table", stopped)
    with pytest.raises(KeyboardInterrupt):
        train(config, run, loaded=fresh(splade_tiny), progress=False)
    assert not (run / "model").exists() and not (run / "manifest.json").exists()
    monkeypatch.setattr(table_module, "save_table", save_table)
    monkeypatch.setattr(loop, "fault_point", lambda name, **_: stopped() if name == "train:final" else None)
    with pytest.raises(KeyboardInterrupt):
        train(config, run, loaded=fresh(splade_tiny), progress=False)
    assert not (run / "model").exists() and not (run / "manifest.json").exists()
    assert not [p.name for p in run.iterdir() if p.name.startswith(".model.")]  # no temporary model left
    monkeypatch.setattr(loop, "fault_point", lambda name, **_: None)
    resumed = train(config, run, loaded=fresh(splade_tiny), progress=False)
    assert resumed.steps == straight.steps
    for name in ("model/tokenizer.json", "model/tokenizer_config.json", "table/tokenizer.json"):
        assert (run / name).read_text() == (tmp_path / "straight" / name).read_text(), name
    assert json.loads((run / "model" / "tokenizer.json").read_text())["truncation"] is None
    from safetensors.numpy import load_file

    a, b = load_file(str(straight.model / "model.safetensors")), load_file(str(resumed.model / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.allclose(a[key], b[key], atol=1e-5) for key in a)


def test_a_full_disk_at_the_final_write_is_one_error_naming_the_model(config, splade_tiny, tmp_path):
    """The disk fills while the final model is written (checkpoints fit, the model copy does not): a
    ``LilsrError`` naming ``OUT/model`` and the space, no model and no temporary folder left. On a tmpfs
    sized for the test (root only: skipped with the reason otherwise)."""
    import subprocess

    config = config.replace(steps=3, save_every=3)
    straight = train(config, tmp_path / "straight", loaded=fresh(splade_tiny), progress=False).out
    sizes = {p: p.stat().st_size for p in straight.rglob("*") if p.is_file()}
    model = sum(size for p, size in sizes.items() if "model" in p.relative_to(straight).parts[:1])
    rest = sum(sizes.values()) - model - sum(size for p, size in sizes.items()
                                              if p.relative_to(straight).parts[0] == "table")
    disk = tmp_path / "disk"
    disk.mkdir()
    pages = (rest + model // 2 + 64 * 4096) // 4096  # the checkpoint and the table fit, half the model does
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * 4096}", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'}; needs root)")
    try:
        run = disk / "run"
        with pytest.raises(LilsrError, match="no space left") as error:
            train(config, run, loaded=fresh(splade_tiny), progress=False)
        assert str(run / "model") in str(error.value) and "\n" not in str(error.value)
        assert not (run / "model").exists() and not (run / "manifest.json").exists()
        assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
