"""``lilsr vectors synth``: synthetic stores keep the statistics engines depend on, deterministically, and
refuse bad input; ``lilsr ablate lambda --docs`` measures every engine on them."""

from __future__ import annotations

import json
import shutil
import traceback

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.reports.synth_validation import store_statistics
from lilsr_tools.vectors import synth as synth_module
from lilsr_tools.vectors.store import SparseVectors, load_vectors, save_vectors, vocab_digest
from lilsr_tools.vectors.synth import synthesize


def lilsr(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def grown(small_vectors, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "grown"
    return synthesize(small_vectors, out, 3000, seed=1, progress=False)


def test_synthetic_store_keeps_lengths_document_frequencies_and_weights(small_vectors, grown):
    assert len(grown) == 3000 and grown.manifest["vocab_digest"] == vocab_digest(small_vectors.vocab)
    assert grown.manifest["synthetic"]["method"] == "mix" and grown.manifest["params"]["seed"] == 1
    # rows are valid store rows: components ascending, positive finite weights
    for i in range(0, 3000, 97):
        row = grown.indices[grown.indptr[i]:grown.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)
    assert np.all(grown.values > 0) and np.all(np.isfinite(grown.values))
    stats = store_statistics(grown, small_vectors)
    real = store_statistics(small_vectors, small_vectors)
    # lengths: each synthetic document takes a real document's length (a neighbourhood can run short)
    assert abs(stats["mean_doc_nnz"] / real["mean_doc_nnz"] - 1) < 0.03
    assert abs(stats["doc_nnz_p50"] / real["doc_nnz_p50"] - 1) < 0.1
    # document-frequency rates and weight distributions follow the real ones
    assert stats["df_rate_spearman"] > 0.6
    assert stats["weight_ks_mean"] < 0.2
    # recombined, not copied: no synthetic document is a near-copy of another
    assert stats["near_copies_0.9"] < 0.05


def test_templates_method_makes_near_copy_families(small_vectors, tmp_path):
    """The first method's weak spot, measured: from 300 templates, 3000 documents hold families of near-copies."""
    copies = synthesize(small_vectors, tmp_path / "templates", 3000, method="templates", seed=1, progress=False)
    assert store_statistics(copies, small_vectors)["nearest_cos_mean"] > \
        store_statistics(synthesize(small_vectors, tmp_path / "mix", 3000, seed=1, progress=False),
                         small_vectors)["nearest_cos_mean"]


def test_same_seed_same_store_and_resume_after_interruption(small_vectors, grown, tmp_path, monkeypatch):
    monkeypatch.setattr(synth_module, "SHARD_DOCS", 1000)
    monkeypatch.setattr(synth_module, "BATCH_DOCS", 400)
    fresh = synthesize(small_vectors, tmp_path / "fresh", 3000, seed=1, progress=False)
    calls = {"n": 0}
    real_generator = synth_module._GENERATORS["mix"]

    def dies_in_second_shard(*args):
        calls["n"] += 1
        if calls["n"] == 4:  # shard 0 done (3 batches), killed inside shard 1
            raise KeyboardInterrupt
        return real_generator(*args)

    monkeypatch.setitem(synth_module._GENERATORS, "mix", dies_in_second_shard)
    with pytest.raises(KeyboardInterrupt):
        synthesize(small_vectors, tmp_path / "resumed", 3000, seed=1, progress=False)
    work = tmp_path / ".resumed.synth-work"
    assert (work / "shard-00000.npz").is_file() and not (tmp_path / "resumed").exists()
    monkeypatch.setitem(synth_module._GENERATORS, "mix", real_generator)
    resumed = synthesize(small_vectors, tmp_path / "resumed", 3000, seed=1, progress=False)
    assert not work.exists()
    for name in ("indptr", "indices", "values"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(fresh, name))
    other = synthesize(small_vectors, tmp_path / "other", 3000, seed=2, progress=False)
    assert not np.array_equal(np.asarray(other.indices[:1000]), np.asarray(fresh.indices[:1000]))


@pytest.mark.parametrize("case", ["below", "zero", "negative", "no-manifest", "foreign-vocab", "disk", "pool"])
def test_bad_input_is_one_line_and_leaves_nothing(case, small_vectors, tmp_path, monkeypatch):
    source = small_vectors.path
    args = ["--docs", 1000]
    if case == "below":
        args = ["--docs", 100]
    elif case == "zero":
        args = ["--docs", 0]
    elif case == "negative":
        args = ["--docs", -5]
    elif case == "no-manifest":
        source = tmp_path / "copy"
        shutil.copytree(small_vectors.path, source)
        (source / "manifest.json").unlink()
    elif case == "foreign-vocab":
        source = tmp_path / "copy"
        shutil.copytree(small_vectors.path, source)
        vocab = json.loads((source / "vocab.json").read_text())
        (source / "vocab.json").write_text(json.dumps(vocab[::-1]))
    elif case == "disk":
        monkeypatch.setattr(synth_module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 1 << 20))
    elif case == "pool":
        args += ["--pool", 1000]
    result = lilsr("vectors", "synth", source, tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("lilsr: error:") or lines[-1].startswith("Error: Invalid value"), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.synth-work").exists()


def test_ablate_lambda_at_a_grown_size_measures_every_engine(small_corpus, small_vectors, tmp_path):
    """Two 'lambda' models (the store and a sparser copy of it) grown to 900 documents each."""
    sparse = tmp_path / "sparser"
    csr = small_vectors.csr.copy()
    for i in range(csr.shape[0]):  # keep each document's 40 heaviest terms: a stronger regularizer's output
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        row = csr.data[lo:hi]
        if row.size > 40:
            row[row < np.sort(row)[-40]] = 0
    save_vectors(sparse, SparseVectors.from_scipy(csr, small_vectors.vocab, small_vectors.ids), model="splade-tiny",
                 params={"derived_from": str(small_vectors.path)})
    out = tmp_path / "ablate"
    collection = small_corpus
    result = lilsr("ablate", "lambda", "--model", f"dense={small_vectors.path}", "--model", f"sparse={sparse}",
                   "--lambda", "dense=1e-5", "--lambda", "sparse=1e-3", "--collection", collection, "--docs", 900,
                   "--engine", "exact", "--engine", "native", "--engine", "lucene", "--out", out)
    assert result.exit_code == 0, result.output + "".join(traceback.format_exception(*result.exc_info))
    import pandas as pd

    table = pd.read_csv(out / "lambda.csv")
    assert len(table) == 2 * 3 * 2  # models x engines x (k=10, k=1000)
    assert set(table["k"]) == {10, 1000}
    assert (table.loc[table["engine"] == "exact", "accuracy@10"] == 1.0).all()
    lucene = table[table["engine"] == "lucene"]
    assert (lucene["accuracy@10"] > 0.95).all()  # safe on the quantized vectors
    assert (table["build_peak_rss_GiB"] > 0).all() and (table["build_s"] > 0).all()
    dense, sparser = (table[(table["model"] == m) & (table["engine"] == "native")]["mean_doc_nnz"].iloc[0]
                      for m in ("dense", "sparse"))
    assert dense > sparser  # the grown stores keep each model's density
    assert load_vectors(next((out / "artifacts" / "synthetic").iterdir())).manifest["counts"]["docs"] == 900
    assert (out / "report.html").is_file() and (out / "figures" / "lambda.png").is_file()
