"""Document-side compression: store pruning, the native index's 8-bit values and --doc-top-k, the
compression ablation (cells, settings chosen on a held-out split, report) and its bad input."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.native import NativeEngine
from lilsr_tools.engines.native.layout import dequantize_rows8, quantize_rows8, stored_values
from lilsr_tools.errors import LilsrError
from lilsr_tools.reports.compression import parse_setting, plan, recommend
from lilsr_tools.vectors import SparseVectors
from lilsr_tools.vectors.compress import keep_list_share, keep_mass, keep_top_k

from test_native import EXHAUSTIVE, assert_same_ranking


def rows(vectors):
    return [vectors.row(i) for i in range(len(vectors))]


@pytest.fixture
def tiny_store():
    vocab = ["a", "b", "c", "d"]
    docs = [{"a": 3.0, "b": 1.0, "c": 1.0, "d": 0.5}, {"a": 1.0, "c": 2.0}, {"b": 0.25}]
    return SparseVectors.from_dicts(docs, vocab, ["d0", "d1", "d2"])


def test_store_pruning_keeps_the_largest_entries_with_ties_to_the_lower_id(tiny_store):
    assert rows(keep_top_k(tiny_store, 2)) == [{"a": 3.0, "b": 1.0}, {"a": 1.0, "c": 2.0}, {"b": 0.25}]
    # d0's mass is 5.5: half is reached by 'a' alone; 0.7 (3.85) needs a and the tie winner b
    assert rows(keep_mass(tiny_store, 0.5)) == [{"a": 3.0}, {"c": 2.0}, {"b": 0.25}]
    assert rows(keep_mass(tiny_store, 0.7)) == [{"a": 3.0, "b": 1.0}, {"c": 2.0, "a": 1.0}, {"b": 0.25}]
    assert keep_mass(tiny_store, 1.0).nnz == tiny_store.nnz
    # lists: a [3, 1] -> 3; b [1, 0.25] -> 1; c [1, 2] -> 2; d [0.5] -> kept (a list never empties)
    assert rows(keep_list_share(tiny_store, 0.5)) == [{"a": 3.0, "b": 1.0, "d": 0.5}, {"c": 2.0}, {}]
    for bad in (lambda: keep_top_k(tiny_store, 0), lambda: keep_mass(tiny_store, 0.0),
                lambda: keep_list_share(tiny_store, 1.5)):
        with pytest.raises(LilsrError):
            bad()


def test_eight_bit_codes_keep_each_documents_extremes_and_half_a_step_of_error(small_vectors):
    indptr = np.asarray(small_vectors.indptr)
    values = np.asarray(small_vectors.values)
    codes, scale = quantize_rows8(indptr, values)
    decoded = dequantize_rows8(indptr, codes, scale)
    steps = np.repeat(scale[1::2], np.diff(indptr))
    assert (np.abs(decoded - values) <= steps / 2 + 1e-6).all()
    for d in range(len(small_vectors)):
        lo, hi = indptr[d], indptr[d + 1]
        if hi > lo:
            assert decoded[lo:hi].min() == pytest.approx(values[lo:hi].min(), rel=1e-6)
            assert decoded[lo:hi].max() == pytest.approx(values[lo:hi].max(), rel=1e-5)


def test_native_8_bit_values_search_exactly_what_they_store_in_three_bytes(small_vectors, small_queries, tmp_path):
    NativeEngine.build(small_vectors, tmp_path / "n16", threads=1, progress=False)
    NativeEngine.build(small_vectors, tmp_path / "n8", threads=1, progress=False, value_bits=8)
    eight = NativeEngine.load(tmp_path / "n8")
    ours = eight.batch_search(small_queries.qids, small_queries.vectors, k=10, **EXHAUSTIVE)
    stored = SparseVectors(np.asarray(small_vectors.indptr), np.asarray(small_vectors.indices),
                           stored_values(small_vectors.indptr, small_vectors.values, 8), small_vectors.vocab,
                           small_vectors.ids)
    assert_same_ranking(ours, ExactEngine(stored).batch_search(small_queries.qids, small_queries.vectors, k=10))
    fwd = {bits: sum((tmp_path / f"n{bits}" / f"{name}.npy").stat().st_size
                     for name in ("fwd", "fwd_code", "fwd_scale")) for bits in (16, 8)}
    # 4 bytes an entry become 2 (component) + 1 (code), plus a minimum and a step per document
    assert fwd[16] - fwd[8] == pytest.approx(small_vectors.nnz - 8 * len(small_vectors), abs=300)
    manifest = json.loads((tmp_path / "n8" / "manifest.json").read_text())
    assert manifest["params"]["value_bits"] == 8 and manifest["format_version"] == 2

    # a format-1 index (no fwd_code/fwd_scale files) still loads and searches as float16
    old = tmp_path / "n16"
    (old / "fwd_code.npy").unlink()
    (old / "fwd_scale.npy").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert NativeEngine.load(old).batch_search(small_queries.qids[:5], small_queries.vectors[:5], k=5).doc_ids


def test_native_doc_top_k_indexes_the_pruned_documents(small_vectors, small_queries, tmp_path):
    NativeEngine.build(small_vectors, tmp_path / "top", threads=1, progress=False, doc_top_k=16)
    engine = NativeEngine.load(tmp_path / "top")
    pruned = keep_top_k(small_vectors, 16)
    counts = engine.manifest["counts"]
    assert counts["nnz"] == pruned.nnz and counts["dropped_by_doc_top_k"] == small_vectors.nnz - pruned.nnz > 0
    f16 = SparseVectors(pruned.indptr, pruned.indices, stored_values(pruned.indptr, pruned.values, 16),
                        pruned.vocab, pruned.ids)
    assert_same_ranking(engine.batch_search(small_queries.qids, small_queries.vectors, k=10, **EXHAUSTIVE),
                        ExactEngine(f16).batch_search(small_queries.qids, small_queries.vectors, k=10))


def test_native_doc_mass_indexes_the_documents_pruned_to_that_share_of_their_mass(small_vectors, small_queries,
                                                                                   tmp_path):
    out = tmp_path / "mass"
    result = CliRunner().invoke(main, ["index", "native", str(small_vectors.path), str(out), "--doc-mass", "0.8",
                                       "--threads", "1"])
    assert result.exit_code == 0, result.output
    pruned = keep_mass(small_vectors, 0.8)
    engine = NativeEngine.load(out)
    counts = engine.manifest["counts"]
    assert counts["nnz"] == pruned.nnz and counts["dropped_by_doc_mass"] == small_vectors.nnz - pruned.nnz > 0
    assert f"--doc-mass 0.8: {small_vectors.nnz - pruned.nnz} of {small_vectors.nnz} document entries dropped" \
        in result.output
    f16 = SparseVectors(pruned.indptr, pruned.indices, stored_values(pruned.indptr, pruned.values, 16),
                        pruned.vocab, pruned.ids)
    assert_same_ranking(engine.batch_search(small_queries.qids, small_queries.vectors, k=10, **EXHAUSTIVE),
                        ExactEngine(f16).batch_search(small_queries.qids, small_queries.vectors, k=10))


@pytest.mark.parametrize("flag, value, message", [("--value-bits", "4", "'4' is not one of '16', '8'"),
                                                   ("--doc-top-k", "0", "0 is not in the range x>=1"),
                                                   ("--doc-mass", "0", "0"), ("--doc-mass", "1.5", "1.5")])
def test_native_build_refuses_bad_compression_options(small_vectors, tmp_path, flag, value, message):
    out = tmp_path / "index"
    result = CliRunner().invoke(main, ["index", "native", str(small_vectors.path), str(out), flag, value])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("lilsr: error: ")
    assert message in lines[0] and not out.exists()


def test_settings_parse_and_apply_only_where_an_engine_has_the_parameter():
    assert parse_setting("none") == ()
    top, energy = parse_setting("top_k=128+energy=0.3")
    assert (top.kind, top.value, energy.kind, energy.value) == ("top_k", 128, "energy", 0.3)
    scale, = parse_setting("scale=10")
    bits, = parse_setting("bits=8")
    assert plan((scale,), "lucene") == ((), {"scale": 10})
    assert plan((scale,), "exact") == ((scale,), {})  # exact searches the store rounded as Lucene stores it
    assert plan((scale,), "native") is None
    assert plan((top, energy), "native") == ((top,), {"summary_energy": 0.3})
    assert plan((energy,), "exact") is None and plan((bits,), "lucene") is None
    for bad in ("top_k=0", "top_k=2.5", "mass=0", "postings=1.01", "bits=4", "scale=-1", "zip=3",
                "top_k=16+top_k=32"):
        with pytest.raises(LilsrError):
            parse_setting(bad)


def test_recommendation_is_chosen_on_the_tuning_split_and_reported_on_the_other():
    def frame(deltas):
        return pd.DataFrame([{"model": "big", "engine": "native", "setting": s, "status": "ok", "index_bytes": b,
                              "index_MB": b / 1e6, "size_ratio": b / 100, "nDCG@10": 0.7 + d / 100,
                              "delta_nDCG@10_points": d, "accuracy@10": 0.9, "retrieval_p50_ms": 1.0,
                              "latency_ratio": 1.0} for (s, b), d in zip([("none", 100), ("top_k=64", 40),
                                                                          ("top_k=32", 20)], deltas)])

    tuned, report = frame([0.0, -0.4, -3.0]), frame([0.0, -2.0, -0.1])
    chosen = recommend(tuned, report, 0.5).iloc[0]
    assert chosen["setting"] == "top_k=64" and chosen["tuning_delta_points"] == -0.4
    assert chosen["delta_nDCG@10_points"] == -2.0 and chosen["halves_bytes"]  # reported as measured, not hidden


@pytest.fixture(scope="module")
def split_corpus(small_corpus, tmp_path_factory):
    """The small corpus with its judged queries split in two: 'dev' (tuning) and 'test' (report)."""
    out = tmp_path_factory.mktemp("scifact-dev-test")
    for name in ("corpus.jsonl", "queries.jsonl"):
        (out / name).symlink_to(small_corpus / name)
    (out / "qrels").mkdir()
    lines = (small_corpus / "qrels" / "test.tsv").read_text().splitlines()
    qids = sorted({line.split("\t")[0] for line in lines[1:]})
    dev = set(qids[::2])
    for split, keep in (("dev", lambda q: q in dev), ("test", lambda q: q not in dev)):
        body = [line for line in lines[1:] if keep(line.split("\t")[0])]
        (out / "qrels" / f"{split}.tsv").write_text("\n".join([lines[0], *body]) + "\n")
    return out


def test_ablate_compression_end_to_end(split_corpus, small_vectors, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    args = ["ablate", "compression", "--model", f"tiny={small_vectors.path}", "--collection", str(split_corpus),
            "--tune-split", "dev", "--engine", "exact", "--engine", "native", "--top-k", "16", "--mass", "",
            "--postings", "", "--scale", "", "--value-bits", "8", "--summary-energy", "0.2", "-k", "100",
            "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compression.csv").set_index(["setting", "engine"])
    assert sorted(table.index) == [("bits=8", "exact"), ("bits=8", "native"), ("energy=0.2", "native"),
                                   ("none", "exact"), ("none", "native"), ("top_k=16", "exact"),
                                   ("top_k=16", "native")]
    assert (table["status"] == "ok").all()
    assert table.loc[("none", "exact"), "accuracy@10"] == 1.0 and table.loc[("none", "exact"), "size_ratio"] == 1.0
    assert table.loc[("top_k=16", "native"), "mean_doc_nnz"] <= 16
    for setting in ("top_k=16", "bits=8", "energy=0.2"):
        assert table.loc[(setting, "native"), "size_ratio"] < 1.0
    assert table.loc[("top_k=16", "exact"), "accuracy@10"] < 1.0  # pruning changes the exact top 10
    # exact keeps the float32 store (bits=8 changes only its values): the same bytes, up to the manifest
    assert abs(table.loc[("bits=8", "exact"), "index_bytes"] - table.loc[("none", "exact"), "index_bytes"]) < 2000
    assert (out / "compression-dev.csv").is_file() and (out / "tune-dev" / "cells").is_dir()
    recommended = pd.read_csv(out / "recommended.csv")
    assert sorted(recommended["engine"]) == ["exact", "native"]
    report = (out / "report.md").read_text()
    assert "chosen on the 'dev' split, reported on 'test'" in report and "energy=0.2 on exact" in report
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 1

    # a re-run computes nothing again
    def no_search(*args, **kwargs):
        raise AssertionError("a finished cell was searched again")

    monkeypatch.setattr("lilsr_tools.reports.cells.run_search", no_search)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert pd.read_csv(out / "compression.csv")["nDCG@10"].tolist() == table["nDCG@10"].tolist()


@pytest.mark.parametrize("flag, value", [("--top-k", "16,0"), ("--mass", "0.9,1.2"), ("--postings", "0"),
                                         ("--value-bits", "12"), ("--summary-energy", "-0.1"),
                                         ("--also", "top_k=16+bits=4")])
def test_ablate_compression_refuses_bad_grids_before_writing(small_corpus, small_vectors, tmp_path, flag, value):
    out = tmp_path / "never"
    result = CliRunner().invoke(main, ["ablate", "compression", "--model", f"tiny={small_vectors.path}",
                                       "--collection", str(small_corpus), flag, value, "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith(f"lilsr: error: {flag}")


def test_a_qrels_file_can_be_the_tuning_split_but_never_the_evaluation_queries(split_corpus, small_vectors,
                                                                              tmp_path):
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.reports.compression import tune_collection

    held_out = tmp_path / "dev_qrels.tsv"
    held_out.write_text((split_corpus / "qrels" / "dev.tsv").read_text())
    coll, name = tune_collection(resolve_collection(str(split_corpus)), str(held_out), tmp_path / "out")
    assert name == "dev_qrels" and set(coll.qrels(name)) == set(resolve_collection(str(split_corpus)).qrels("dev"))
    assert len(coll.queries(name)) == len(coll.qrels(name))
    out = tmp_path / "never"
    leaky = CliRunner().invoke(main, ["ablate", "compression", "--model", f"tiny={small_vectors.path}",
                                      "--collection", str(split_corpus), "--tune-split",
                                      str(split_corpus / "qrels" / "test.tsv"), "--out", str(out)])
    assert leaky.exit_code == 2 and "shares" in leaky.output and not out.exists()
