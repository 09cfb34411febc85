"""Honest training data: no evaluation-judged document trains the model, a seeded dev carve, per-side
regularizers. Real SciFact documents and qrels (``split_corpus``: 300 documents, train and test qrels),
splade-tiny, tiny runs (4 queries x 4 candidates, 64 tokens)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.data import read_qrels, resolve_collection
from lilsr_tools.errors import LilsrError
from lilsr_tools.training import make_config, train
from lilsr_tools.training.heldout import build_heldout, carve_dev, parse_eval_spec


@pytest.fixture(scope="module")
def judged(split_corpus):
    return {split: read_qrels(split_corpus / "qrels" / f"{split}.tsv") for split in ("train", "test")}


@pytest.fixture()
def config(split_corpus, split_teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("LILSR_CACHE_DIR", str(tmp_path / "cache"))
    return make_config(base="splade-tiny", collection=str(split_corpus), teacher=str(split_teacher),
                       negatives="scores", n_negatives=3, batch_size=4, steps=2, max_length=64, lr=3e-4,
                       head_lr=3e-2, warmup_steps=1, save_every=2, seed=0, threads=2)


def fresh(splade_tiny):
    model, tokenizer = splade_tiny
    return copy.deepcopy(model), tokenizer


def _trained_docs(run):
    docs, queries = set(), set()
    for line in (run / "triples.jsonl").read_text().splitlines():
        row = json.loads(line)
        queries.add(row["qid"])
        docs |= set(row["positives"]) | set(row["negatives"])
    scored = {line.split("\t")[1] for line in (run / "teacher_scores.tsv").read_text().splitlines()}
    return docs, queries, scored


def test_by_default_no_test_judged_document_trains_the_model_and_the_overlap_is_stated(config, splade_tiny,
                                                                                        judged, tmp_path):
    result = train(config, tmp_path / "run", loaded=fresh(splade_tiny), progress=False)
    test_docs = {d for docs in judged["test"].values() for d in docs}  # any grade
    docs, queries, scored = _trained_docs(result.out)
    assert docs and not docs & test_docs            # positives and negatives
    assert not scored & test_docs                   # teacher-scored candidates
    manifest = json.loads((result.out / "manifest.json").read_text())
    label = f"{config.collection}:test"
    assert manifest["evals"] == [label]
    target = manifest["heldout"]["targets"][label]
    assert target == {"same_corpus": True, "judged_docs": len(test_docs), "judged_docs_seen_in_training": 0}
    # dropped examples are counted: training positives that are test-judged, computed from the qrels here
    dev = set(manifest["heldout"]["dev"] and json.loads((result.out / "prepared.json").read_text())["dev_qids"])
    expected = sum(1 for q, d in judged["train"].items() if q not in dev for doc, rel in d.items()
                   if rel > 0 and doc in test_docs)
    assert expected > 10 and manifest["counts"]["positives_held_out"] >= expected
    assert manifest["heldout"]["training_queries"] == len(queries)
    assert manifest["heldout"]["allow_eval_docs"] is False
    assert (result.model / "lilsr_training.json").is_file()  # the checkpoint carries its overlap along
    from lilsr_tools.training.heldout import training_overlap

    collection = resolve_collection(config.collection)
    assert training_overlap(result.model, collection, "test")["judged_docs_seen_in_training"] == 0
    truncation = manifest["truncation"]["student"]["documents"]
    assert truncation["max_length"] == 64 and 0 < truncation["truncated"] <= truncation["texts"]

    allowed = train(config.replace(allow_eval_docs=True), tmp_path / "allowed", loaded=fresh(splade_tiny),
                    progress=False)
    docs, _, _ = _trained_docs(allowed.out)
    seen = json.loads((allowed.out / "manifest.json").read_text())["heldout"]["targets"][label]
    assert seen["judged_docs_seen_in_training"] == len(docs & test_docs) > 0
    assert training_overlap(allowed.model, collection, "test")["judged_docs_seen_in_training"] == len(docs & test_docs)


def test_mined_negatives_skip_held_out_documents(config, judged, tmp_path):
    from lilsr_tools.training.data import load_training_data

    collection = resolve_collection(config.collection)
    mining = config.replace(negatives="bm25", negatives_depth=20)
    heldout = build_heldout(mining, collection, judged["train"], {d.id for d in collection.corpus()})
    data = load_training_data(mining, cache_dir=tmp_path, heldout=heldout, progress=False)
    test_docs = {d for docs in judged["test"].values() for d in docs}
    assert heldout.excluded >= test_docs
    assert not data.training_docs & heldout.excluded
    assert data.dropped["negatives_held_out"] == 0  # mining skipped them, deeper, instead of losing them
    assert max(len(p) for p in data.pools.values()) == 20
    assert not set(heldout.dev_qids) & set(data.queries)


def test_dev_is_a_seeded_carve_of_the_training_queries():
    qids = [f"q{i}" for i in range(200)]
    a, b = carve_dev(qids, 0.1, seed=0), carve_dev(list(reversed(qids)), 0.1, seed=0)
    assert a == b and len(a) == 20 and set(a) <= set(qids)
    assert carve_dev(qids, 0.1, seed=1) != a
    assert len(carve_dev(qids, 0.5, seed=0)) == 100


@pytest.mark.parametrize("args, message", [
    (["--dev-fraction", "0.7"], "--dev-fraction must be in (0, 0.5]"),
    (["--dev-fraction", "0"], "--dev-fraction must be in (0, 0.5]"),
    (["--eval", "scifact"], "expected COLLECTION:SPLIT"),
])
def test_bad_dev_fraction_or_eval_spec_is_one_line_and_exit_2(config, tmp_path, args, message):
    from lilsr_tools.cli import main

    result = CliRunner().invoke(main, ["train", config.collection, str(tmp_path / "run"), "--teacher",
                                       config.teacher, "--negatives", "scores", "--no-evaluate", *args])
    assert result.exit_code == 2, result.output
    assert "lilsr: error:" in result.output and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_evaluation_qrels_naming_an_unknown_document_are_refused_with_file_and_line(config, split_corpus, tmp_path):
    import shutil

    bad = tmp_path / "badeval"
    shutil.copytree(split_corpus, bad)
    lines = (bad / "qrels" / "test.tsv").read_text().splitlines()
    lines.insert(3, f"{lines[2].split()[0]}\tno-such-doc\t1")
    (bad / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(LilsrError, match=r"test.tsv:4: document id 'no-such-doc' is not in"):
        train(config.replace(evals=[f"{bad}:test"]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    assert parse_eval_spec("nfcorpus:test").label == "nfcorpus:test"


def test_lambda_q_moves_the_tables_mass_and_lambda_d_the_documents_non_zeros(config, splade_tiny, tmp_path):
    """Same seed, same batches: only one lambda differs between two runs. The table's mass is measured where
    the query regularizer acts: the table weights of the training queries' tokens."""
    from lilsr_tools.models.query_encoders import make_query_encoder

    base = config.replace(steps=4, save_every=4, reg_warmup_steps=1, lambda_d=0.0, lambda_q=0.0, allow_eval_docs=True,
                          head_lr=0.5, batch_size=2, n_negatives=2, max_length=32)
    runs = {name: train(base.replace(**change), tmp_path / name, loaded=fresh(splade_tiny), progress=False)
            for name, change in {"none": {}, "q": {"lambda_q": 1.0}, "d": {"lambda_d": 1.0}}.items()}
    collection = resolve_collection(config.collection)
    texts = [q.text for q in collection.queries("train")]

    def query_mass(result):
        encoder = make_query_encoder("table", table=result.table)
        return sum(sum(encoder.encode(text).values()) for text in texts)

    mass = {name: query_mass(r) for name, r in runs.items()}
    doc_nnz = {name: r.last["doc_nnz"] for name, r in runs.items()}
    assert mass["q"] < 0.7 * mass["none"], mass
    assert doc_nnz["d"] < 0.8 * doc_nnz["none"], doc_nnz
    from lilsr_tools.training.config import PRESETS

    assert {name: p["lambda_d"] for name, p in PRESETS.items()} == {"big": 1e-5, "medium": 1e-4, "small": 1e-3}
    assert all(set(p) == {"lambda_d"} for p in PRESETS.values())  # presets leave the query side alone


def test_a_warmup_longer_than_the_run_is_warned_about(config, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("q d nan\n")
    with pytest.warns(UserWarning, match="--warmup-steps 10 exceeds --steps 2"), pytest.raises(LilsrError):
        train(config.replace(warmup_steps=10, teacher=str(bad)), tmp_path / "run", progress=False)
