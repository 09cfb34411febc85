"""Teachers users have (dense bi-encoder, cross-encoder, a score file as TSV or MS MARCO-style JSON lines),
and training resume with each of them after SIGTERM and after kill -9.

Each resume test runs one chain: a subprocess trains and is killed with SIGKILL during step 3 (checkpoint
at step 2); the same run resumes in-process and is stopped by a real SIGTERM after step 3 (a graceful
checkpoint); it resumes again to the end. The result must equal an uninterrupted run. Runs are tiny
(2 queries x 3 candidates, 32 tokens, 4 steps) on ``split_corpus`` (real SciFact text and qrels)."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lilsr_tools.data import read_qrels, resolve_collection
from lilsr_tools.errors import LilsrError
from lilsr_tools.training import make_config, train
from lilsr_tools.training.teacher import read_score_file, teacher_kind

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A randomly initialised 1-layer BERT sequence classifier with splade-tiny's tokenizer, saved locally."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from lilsr_tools.models.presets import load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer("splade-tiny")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1)
    path = tmp_path_factory.mktemp("cross") / "tiny-cross-encoder"
    BertForSequenceClassification(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def jsonl_teacher(split_teacher, tmp_path_factory):
    """``split_teacher``'s scores in the MS MARCO hard-negatives-with-scores layout (qrels positives first)."""
    by_query: dict[str, list[tuple[str, str]]] = {}
    for line in split_teacher.read_text().splitlines():
        qid, doc, score = line.split("\t")
        by_query.setdefault(qid, []).append((doc, score))
    path = tmp_path_factory.mktemp("jsonl") / "hard-negatives.jsonl"
    with open(path, "w") as out:
        for qid, rows in by_query.items():
            positives = [(d, s) for d, s in rows if float(s) >= 1.0]
            negatives = [(d, s) for d, s in rows if float(s) < 1.0]
            out.write(json.dumps({"query_id": qid, "query": "",
                                  "positives": {"doc_id": [d for d, _ in positives], "score": [float(s) for _, s in positives]},
                                  "negatives": {"doc_id": [d for d, _ in negatives], "score": [float(s) for _, s in negatives]}}) + "\n")
    return path


def _config(split_corpus, teacher, tmp_path, **extra):
    negatives = "scores" if Path(teacher).is_file() else "bm25"
    return make_config(base="splade-tiny", collection=str(split_corpus), teacher=str(teacher), negatives=negatives,
                       negatives_depth=8, n_negatives=2, batch_size=2, steps=4, save_every=2, max_length=32,
                       query_max_length=16, teacher_max_length=32, lr=3e-4, head_lr=3e-2, warmup_steps=1, seed=0,
                       threads=1, **extra)


def _weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return {**load_file(str(run / "model" / "model.safetensors")), "table": np.load(run / "table" / "table.npy")}


def _kill_during_step_3(config, out: Path, env: dict) -> None:
    """A separate process trains until step 3 has run (checkpoint at 2), then is killed with SIGKILL."""
    marker = out.parent / f"{out.name}.at-step-3"
    script = (
        "import json, sys, time, pathlib\n"
        "from lilsr_tools.training import train\n"
        "from lilsr_tools.training.config import TrainConfig\n"
        "config = TrainConfig.from_dict(json.loads(sys.argv[1]))\n"
        "def hold(step):\n"
        "    if step == 3:\n"
        f"        pathlib.Path({str(marker)!r}).touch()\n"
        "        time.sleep(600)\n"
        f"train(config, {str(out)!r}, progress=False, on_step=hold)\n")
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps(config.to_dict())], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while not marker.exists():
            if process.poll() is not None:
                raise AssertionError(f"the training process ended early: {process.stdout.read().decode()[-2000:]}")
            if time.time() > deadline:
                raise AssertionError("the training process never reached step 3")
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["file-tsv", "file-jsonl", "dense", "cross-encoder"])
def test_resume_after_kill_9_and_sigterm_ends_where_an_uninterrupted_run_ends(kind, split_corpus, split_teacher,
                                                                              jsonl_teacher, tiny_cross_encoder,
                                                                              splade_tiny, tmp_path, monkeypatch):
    teacher = {"file-tsv": split_teacher, "file-jsonl": jsonl_teacher, "dense": "minilm",
               "cross-encoder": tiny_cross_encoder}[kind]
    cache = tmp_path / "cache"
    monkeypatch.setenv("LILSR_CACHE_DIR", str(cache))
    config = _config(split_corpus, teacher, tmp_path)

    def loaded():
        return copy.deepcopy(splade_tiny[0]), splade_tiny[1]

    straight = train(config, tmp_path / "straight", loaded=loaded(), progress=False)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LILSR_CACHE_DIR": str(cache)}
    _kill_during_step_3(config, run, env)
    assert not (run / "manifest.json").exists() and (run / "prepared.json").is_file()
    assert [p.name for p in (run / "checkpoints").glob("step-*")] == ["step-000002"]

    def terminate(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit) as stopped:
        train(config, run, loaded=loaded(), progress=False, on_step=terminate)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert [p.name for p in (run / "checkpoints").glob("step-*")] == ["step-000003"]  # graceful checkpoint
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the run
    resumed = train(config, run, loaded=loaded(), progress=False)
    assert resumed.steps == 4
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    a, b = _weights(straight.out), _weights(run)
    assert a.keys() == b.keys()
    for key in a:
        assert np.allclose(a[key], b[key], atol=1e-5), key
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["teacher_kind"] == teacher_kind(str(teacher))
    # the run's teacher scores cover exactly the queries trained on (the issue-15 resume bug: a score file
    # with more queries than the triples made the resumed run refuse its own teacher_scores.tsv)
    trained = {json.loads(line)["qid"] for line in (run / "triples.jsonl").read_text().splitlines()}
    scored = {line.split("\t")[0] for line in (run / "teacher_scores.tsv").read_text().splitlines()}
    assert scored == trained


def test_cross_encoder_scores_are_the_models_logits_and_are_cached(split_corpus, tiny_cross_encoder, tmp_path,
                                                                   monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lilsr_tools.training import teacher as teachers
    from lilsr_tools.training.data import TrainingData

    collection = resolve_collection(split_corpus)
    docs = {d.id: d.contents for d in collection.corpus()}
    queries = {q.id: q.text for q in collection.queries("train")}
    qids = sorted(queries)[:3]
    doc_ids = sorted(docs)[:4]
    data = TrainingData({q: queries[q] for q in qids}, docs, {q: [doc_ids[0]] for q in qids},
                        {q: doc_ids[1:] for q in qids}, [(q, doc_ids[0]) for q in qids])
    scores = teachers.cross_encoder_scores(str(tiny_cross_encoder), data, tmp_path, "key", progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_cross_encoder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_cross_encoder))
    with torch.no_grad():
        batch = tokenizer([queries[qids[1]]], [docs[doc_ids[2]]], truncation="longest_first", max_length=128,
                          return_tensors="pt")
        expected = float(model(**batch).logits[0, 0])
    assert scores[qids[1]][doc_ids[2]] == pytest.approx(expected, abs=1e-4)
    assert {q: set(s) for q, s in scores.items()} == {q: set(doc_ids) for q in qids}
    assert teacher_kind(str(tiny_cross_encoder)) == "cross-encoder" and teacher_kind("minilm") == "dense"

    def no_model(*args, **kwargs):
        raise AssertionError("pairs scored again: the cache was not used")

    monkeypatch.setattr(teachers.CrossEncoderTeacher, "score", no_model)
    assert teachers.cross_encoder_scores(str(tiny_cross_encoder), data, tmp_path, "key", progress=False) == scores


def test_jsonl_hard_negatives_layout_reads_as_the_tsv_does(split_corpus, split_teacher, jsonl_teacher):
    collection = resolve_collection(split_corpus)
    queries, docs = {q.id for q in collection.queries()}, {d.id for d in collection.corpus()}
    assert read_score_file(jsonl_teacher, queries, docs) == read_score_file(split_teacher, queries, docs)
    assert teacher_kind(str(jsonl_teacher)) == "file"


@pytest.mark.parametrize("line, message", [
    ('{"query_id": "nosuchquery", "positives": {"doc_id": ["DOC"], "score": [1.0]}}', "unknown query id 'nosuchquery'"),
    ('{"query_id": "QID", "positives": {"doc_id": ["nosuchdoc"], "score": [1.0]}}', "unknown document id 'nosuchdoc'"),
    ('{"query_id": "QID", "negatives": {"doc_id": ["DOC"], "score": ["high"]}}', "score 'high' is not a number"),
    ('{"query_id": "QID", "negatives": {"doc_id": ["DOC", "DOC"], "score": [0.1]}}', "has 2 doc_id but 1 score"),
    ('{"positives": {"doc_id": ["DOC"], "score": [1.0]}}', "expected a JSON object with 'query_id'"),
])
def test_a_bad_jsonl_teacher_is_refused_with_file_and_line(split_corpus, jsonl_teacher, tmp_path, line, message):
    good = jsonl_teacher.read_text().splitlines()
    first = json.loads(good[0])
    line = line.replace("QID", first["query_id"]).replace("DOC", first["positives"]["doc_id"][0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(good[:2] + [line] + good[2:]) + "\n")
    collection = resolve_collection(split_corpus)
    with pytest.raises(LilsrError, match=f"bad.jsonl:3: .*{message}"):
        read_score_file(bad, {q.id for q in collection.queries()}, {d.id for d in collection.corpus()})


def test_a_non_numeric_tsv_score_is_one_line_exit_2(split_corpus, split_teacher, tmp_path):
    from click.testing import CliRunner

    from lilsr_tools.cli import main

    good = split_teacher.read_text().splitlines()
    qid, doc, _ = good[0].split("\t")
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(good[:4] + [f"{qid}\t{doc}\tabc"] + good[4:]) + "\n")
    result = CliRunner().invoke(main, ["train", str(split_corpus), str(tmp_path / "run"), "--teacher", str(bad),
                                       "--negatives", "scores", "--no-evaluate"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"lilsr: error: {bad}:5: score 'abc' is not a number"]
    assert not (tmp_path / "run").exists()
