"""Sharded encoding (``encode corpus --shard I/N``) and ``vectors merge``: merged shards equal a one-shot
encode array for array; bad shards and bad merges are refused with one line and nothing written."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.errors import LilsrError
from lilsr_tools.vectors.shards import merge_vectors, parse_shard, shard_range
from lilsr_tools.vectors.store import load_vectors, save_vectors

DOCS = 40


@pytest.fixture(scope="module")
def parts(small_corpus, splade_tiny, tmp_path_factory):
    """The first DOCS documents of the small corpus encoded in one go and as shards 1/2, 2/2 and 1/3."""
    from lilsr_tools.models.corpus import encode_corpus
    from lilsr_tools.models.splade import SpladeEncoder

    encoder = SpladeEncoder("splade-tiny", max_length=128, batch_size=8, loaded=splade_tiny)
    root = tmp_path_factory.mktemp("shards")
    corpus = small_corpus / "corpus.jsonl"
    made = {"one": encode_corpus(corpus, root / "one", encoder, limit=DOCS, progress=False)}
    for index, count in ((1, 2), (2, 2), (1, 3)):
        made[f"{index}/{count}"] = encode_corpus(corpus, root / f"part-{index}-of-{count}", encoder, limit=DOCS,
                                                 progress=False, shard=(index, count))
    return made


def test_two_merged_shards_equal_a_one_shot_encode(parts, tmp_path):
    first, second = parts["1/2"], parts["2/2"]
    assert first.manifest["params"]["shard"] == {"index": 1, "count": 2, "start": 0, "stop": 20, "total_docs": DOCS}
    assert len(first) == len(second) == DOCS // 2
    # given in any order, the parts are put back in corpus order
    merge_vectors(tmp_path / "merged", [second.path, first.path])
    merged, one = load_vectors(tmp_path / "merged", verify=True), parts["one"]
    assert merged.ids == one.ids and merged.vocab == one.vocab
    for name in ("indptr", "indices", "values"):
        assert np.array_equal(getattr(merged, name), getattr(one, name)), name
    manifest = merged.manifest
    assert manifest["model"] == one.manifest["model"] and manifest["counts"]["parts"] == 2
    assert "shard" not in manifest["params"] and len(manifest["params"]["merged_from"]) == 2
    assert manifest["counts"]["docs"] == DOCS and manifest["counts"]["vocab_used"] == one.stats()["vocab_used"]


def test_shard_split_is_contiguous_and_covers_every_document():
    for total in (0, 1, 7, 100, 101):
        for count in (1, 2, 3, 8):
            ranges = [shard_range(total, i, count) for i in range(1, count + 1)]
            assert ranges[0][0] == 0 and ranges[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1
    assert parse_shard(" 2/4 ") == (2, 4)
    for bad in ("3/2", "0/0", "0/2", "1", "a/b", "1/2/3", "-1/2"):
        with pytest.raises(LilsrError):
            parse_shard(bad)


@pytest.mark.parametrize("option", [("--shard", "3/2"), ("--shard", "0/0"), ("--shard", "two/4"),
                                    ("--device", "cuda:99"), ("--device", "tpu")])
def test_malformed_shard_or_device_exits_2_and_writes_nothing(option, small_corpus, tmp_path):
    out = tmp_path / "part"
    result = CliRunner().invoke(main, ["encode", "corpus", str(small_corpus / "corpus.jsonl"), str(out), *option])
    assert result.exit_code == 2 and result.output.startswith(f"lilsr: error: {option[0]}")
    assert result.output.count("\n") == 1 and not list(tmp_path.iterdir())


def test_bad_merges_exit_2_and_write_nothing(parts, tmp_path):
    runner = CliRunner()
    out = tmp_path / "merged"

    def merge(*stores):
        return runner.invoke(main, ["vectors", "merge", str(out), *[str(s.path) for s in stores]])

    overlap = merge(parts["1/2"], parts["1/3"], parts["2/2"])
    assert overlap.exit_code == 2 and "overlaps" in overlap.output
    gap = merge(parts["1/3"], parts["2/2"])
    assert gap.exit_code == 2 and "docs 13-19 of 40 are in no part" in gap.output
    missing = merge(parts["1/2"])
    assert missing.exit_code == 2 and "docs 20-39 of 40 are in no part" in missing.output
    # the same vectors said to come from another model
    relabelled = load_vectors(parts["2/2"].path)
    save_vectors(tmp_path / "other-model", relabelled, model="another-model",
                 params=relabelled.manifest["params"])
    other = merge(parts["1/2"], load_vectors(tmp_path / "other-model"))
    assert other.exit_code == 2 and "model 'another-model' differs" in other.output
    plain = merge(parts["1/2"], parts["one"])
    assert plain.exit_code == 2 and "is not a shard" in plain.output
    for result in (overlap, gap, missing, other, plain):
        assert result.output.count("\n") == 1 and result.output.startswith("lilsr: error:")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["other-model"]
    ok = merge(parts["2/2"], parts["1/2"])
    assert ok.exit_code == 0 and json.loads((out / "manifest.json").read_text())["counts"]["docs"] == DOCS
