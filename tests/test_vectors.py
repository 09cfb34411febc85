"""The vector store and its converters."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from lilsr_tools.errors import LilsrError
from lilsr_tools.vectors import SparseVectors, load_vectors, save_vectors
from lilsr_tools.vectors.convert import (quantize, quantized, read_json_vector_collection, read_seismic_jsonl,
                                         write_json_vector_collection, write_seismic_jsonl)

VOCAB = ["[PAD]", "cell", "##s", "protein", "fold"]


def tiny(values=(0.5, 1.25, 2.0, 0.004)):
    matrix = sp.csr_matrix((np.asarray(values, np.float32), [1, 3, 2, 4], [0, 2, 2, 4]), shape=(3, 5))
    return SparseVectors.from_scipy(matrix, VOCAB, ["d1", "d2", "d3"])


def test_save_load_round_trip_memory_mapped(tmp_path):
    vectors = tiny()
    save_vectors(tmp_path / "store", vectors, model="test", params={"p": 1})
    loaded = load_vectors(tmp_path / "store", verify=True)
    assert isinstance(loaded.values, np.memmap)
    assert loaded.ids == ["d1", "d2", "d3"] and loaded.vocab == VOCAB
    assert loaded.row(0) == {"cell": 0.5, "protein": 1.25}
    assert loaded.row(1) == {}
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["counts"]["docs"] == 3 and manifest["counts"]["empty_docs"] == 1
    assert set(manifest["sha256"]) == {"indptr.npy", "indices.npy", "values.npy", "vocab.json", "ids.txt"}


def test_only_check_false_skips_the_structure_check(tmp_path):
    """``load_vectors`` checks a store's arrays on every load; ``check=False`` (store_check's baseline, to
    measure what the check costs) loads even a damaged one, and is the only way to."""
    save_vectors(tmp_path / "store", tiny())
    values = np.load(tmp_path / "store" / "values.npy", mmap_mode="r+")
    values[0] = np.nan  # same size, so only the structure check can tell
    values.flush()
    del values
    with pytest.raises(LilsrError, match="values.npy|finite|weight"):
        load_vectors(tmp_path / "store")
    assert np.isnan(load_vectors(tmp_path / "store", check=False).values[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_non_finite_or_negative_weights_are_refused(tmp_path, bad):
    vectors = tiny((0.5, bad, 2.0, 0.1))
    with pytest.raises(LilsrError, match="document 'd1'"):
        save_vectors(tmp_path / "store", vectors)
    assert not (tmp_path / "store").exists() and not list(tmp_path.iterdir())


def test_duplicate_ids_and_existing_output(tmp_path):
    vectors = tiny()
    vectors.ids = ["d1", "d1", "d3"]
    with pytest.raises(LilsrError, match="duplicate document id 'd1'"):
        save_vectors(tmp_path / "store", vectors)
    save_vectors(tmp_path / "store", tiny())
    with pytest.raises(LilsrError, match="already exists; pass --overwrite"):
        save_vectors(tmp_path / "store", tiny())
    save_vectors(tmp_path / "store", tiny(), overwrite=True)


def test_truncated_store_is_refused(tmp_path):
    save_vectors(tmp_path / "store", tiny())
    values = tmp_path / "store" / "values.npy"
    values.write_bytes(values.read_bytes()[:-8])
    with pytest.raises(LilsrError, match="values.npy"):
        load_vectors(tmp_path / "store")
    (tmp_path / "store" / "manifest.json").unlink()
    with pytest.raises(LilsrError, match="manifest.json is missing"):
        load_vectors(tmp_path / "store")


def test_quantize_rounds_not_truncates():
    assert quantize(np.array([0.016, 0.004, 1.999, 0.5049]), 100).tolist() == [2, 0, 200, 50]


def test_json_vector_collection_round_trips_up_to_quantization(small_vectors, tmp_path):
    counts = write_json_vector_collection(small_vectors, tmp_path / "jvc", scale=100)
    back, scale = read_json_vector_collection(tmp_path / "jvc")
    expected = quantized(small_vectors, 100)
    assert scale == 100 and back.ids == small_vectors.ids
    assert np.array_equal(back.indptr, expected.indptr) and np.array_equal(back.indices, expected.indices)
    assert np.allclose(back.values, expected.values, rtol=0, atol=1e-6)
    assert np.abs(back.csr - small_vectors.csr).max() <= 0.005 + 1e-6  # half a quantization step
    assert counts["postings"] == expected.nnz
    assert counts["dropped_zero_after_rounding"] == small_vectors.nnz - expected.nnz
    line = json.loads(next(open(next((tmp_path / "jvc" / "docs").glob("*.jsonl")))))
    assert all(isinstance(w, int) and w > 0 for w in line["vector"].values())


def test_float_weights_in_a_json_vector_collection_are_refused(small_vectors, tmp_path):
    write_json_vector_collection(small_vectors, tmp_path / "jvc")
    file = next((tmp_path / "jvc" / "docs").glob("*.jsonl"))
    lines = file.read_text().splitlines()
    row = json.loads(lines[1])
    row["vector"] = {token: weight / 100 for token, weight in row["vector"].items()}
    lines[1] = json.dumps(row)
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(LilsrError, match=r"docs00000\.jsonl:2: .*not an integer"):
        read_json_vector_collection(tmp_path / "jvc")


def test_seismic_jsonl_round_trip(tmp_path):
    vectors = tiny()
    write_seismic_jsonl(vectors, tmp_path / "docs.jsonl")
    back = read_seismic_jsonl(tmp_path / "docs.jsonl", VOCAB)
    assert back.ids == vectors.ids
    assert np.array_equal(back.csr.toarray(), vectors.csr.toarray())


def test_anserini_export_refuses_a_token_with_whitespace_naming_document_and_token(tmp_path):
    # Anserini indexes a JsonVectorCollection as whitespace-split words: "new york" would be two terms
    vocab = ["[PAD]", "cell", "new york", "protein", "unused x"]
    matrix = sp.csr_matrix((np.asarray([0.5, 1.25, 2.0], np.float32), [1, 3, 2], [0, 2, 2, 3]), shape=(3, 5))
    save_vectors(tmp_path / "store", SparseVectors.from_scipy(matrix, vocab, ["d1", "d2", "d3"]))
    with pytest.raises(LilsrError, match=r"document 'd3' has token 'new york', which contains whitespace"):
        write_json_vector_collection(load_vectors(tmp_path / "store"), tmp_path / "jvc")
    assert not (tmp_path / "jvc").exists()
    # a whitespace token no document uses ("unused x") is no obstacle
    matrix = sp.csr_matrix((np.asarray([0.5, 1.25], np.float32), [1, 3], [0, 2, 2, 2]), shape=(3, 5))
    save_vectors(tmp_path / "used", SparseVectors.from_scipy(matrix, vocab, ["d1", "d2", "d3"]))
    assert write_json_vector_collection(load_vectors(tmp_path / "used"), tmp_path / "jvc")["postings"] == 2
