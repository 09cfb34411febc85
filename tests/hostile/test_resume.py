"""Resume reuses work only when the inputs that made it are unchanged: each encode shard records a digest of
its documents (ids and texts) and of the parameters. Fix a bad line and also edit another document, re-run:
the edited document is encoded again (before: it kept its old vector, since the shard's ids matched)."""

from __future__ import annotations

import json

from hostile_helpers import assert_refused, lilsr

ARGS = ["--max-length", 128, "--batch-size", 8, "--shard-size", 10]


def _hashes(folder):
    return json.loads((folder / "manifest.json").read_text())["sha256"]


def test_resume_after_fix_reencodes_an_edited_document(tiny, tmp_path):
    lines = tiny.corpus_file.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:25] + ["{not json"] + lines[25:]) + "\n", encoding="utf-8")
    out = tmp_path / "store"
    assert_refused(lilsr("encode", "corpus", broken, out, *ARGS), names=[f"{broken}:26"])
    shards = tmp_path / ".store.shards"
    assert (shards / "shard-00000.npz").is_file() and (shards / "shard-00001.npz").is_file()

    edited = json.loads(lines[3])
    edited["text"] = "Vitamin D deficiency and bone fractures in elderly patients. " + edited["text"]
    fixed_lines = lines[:3] + [json.dumps(edited)] + lines[4:]
    broken.write_text("\n".join(fixed_lines) + "\n", encoding="utf-8")  # the same file, fixed and edited
    result = lilsr("encode", "corpus", broken, out, *ARGS)
    assert result.exit_code == 0, result.output
    assert "shard-00000.npz of an earlier run was made from other documents" in result.output
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["shards_reused"] == 1 and counts["shards_discarded_changed"] == 1

    fresh_corpus = tmp_path / "fresh.jsonl"
    fresh_corpus.write_text("\n".join(fixed_lines) + "\n", encoding="utf-8")
    fresh = tmp_path / "fresh"
    assert lilsr("encode", "corpus", fresh_corpus, fresh, *ARGS).exit_code == 0
    assert _hashes(out) == _hashes(fresh)


def test_resume_with_other_parameters_starts_over(tiny, tmp_path):
    lines = tiny.corpus_file.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:25] + ["{not json"]) + "\n", encoding="utf-8")
    out = tmp_path / "store"
    assert_refused(lilsr("encode", "corpus", broken, out, *ARGS), names=[f"{broken}:26"])
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = lilsr("encode", "corpus", broken, out, "--max-length", 64, "--batch-size", 8, "--shard-size", 10)
    assert result.exit_code == 0, result.output
    assert "shards of an earlier run with other parameters discarded" in result.output
    assert json.loads((out / "manifest.json").read_text())["counts"]["shards_reused"] == 0


def test_saved_tokenizer_does_not_depend_on_the_last_call(splade_tiny, tmp_path):
    """A training run saves its tokenizer (model and table) after tokenizing at its own lengths; a resumed run
    that only writes the final model saves it without any call. Both must write the same tokenizer files
    (before: tokenizer.json recorded the last call's truncation, 32 against 512, and the table's query
    encoder truncated long queries in one and not the other)."""
    from lilsr_tools.training.config import TrainConfig
    from lilsr_tools.training.loop import build_student

    student = build_student(TrainConfig(), splade_tiny)
    student.save(tmp_path / "resumed", source="x")
    student.tokenize(["a long query about vitamin d and bone density " * 10], 32)
    student.save(tmp_path / "trained", source="x")
    for name in ("tokenizer.json", "table/tokenizer.json"):
        resumed = json.loads((tmp_path / "resumed" / name).read_text(encoding="utf-8"))
        trained = json.loads((tmp_path / "trained" / name).read_text(encoding="utf-8"))
        assert trained["truncation"] is None and trained["padding"] is None
        assert trained == resumed
