"""CIFF v1 export and import: the round trip, an independent reader (BMP's ciff2bmp), and bad files."""

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.vectors.ciff import _delimited, messages, read_ciff, read_header
from lilsr_tools.vectors.convert import impact_matrix, quantized
from lilsr_tools.vectors.store import load_vectors

SCALE = 100.0


def lilsr(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def ciff_file(small_vectors, tmp_path_factory):
    out = tmp_path_factory.mktemp("ciff") / "scifact.ciff"
    result = lilsr("vectors", "export", small_vectors.path, out, "--format", "ciff", "--scale", SCALE)
    assert result.exit_code == 0, result.output
    assert f"{len(small_vectors)} docs" in result.output
    return out


def test_delimited_framing_is_protobufs():
    """A message is its varint length then its bytes: Header(version=1) is 08 01, so 02 08 01."""
    assert _delimited(messages()["Header"](version=1)) == b"\x02\x08\x01"
    assert _delimited(messages()["Posting"](docid=300, tf=1)) == b"\x05\x08\xac\x02\x10\x01"


def test_round_trip_up_to_quantization(ciff_file, small_vectors, tmp_path):
    header = read_header(ciff_file)
    impacts = impact_matrix(small_vectors, SCALE)
    assert header.version == 1 and header.num_doc_records == len(small_vectors)
    assert header.num_postings_lists == int((np.diff(impacts.tocsc().indptr) > 0).sum())
    assert header.total_terms_in_collection == int(impacts.sum()) and "scale=100" in header.description
    result = lilsr("vectors", "import", ciff_file, tmp_path / "back", "--format", "ciff", "--model", "splade-tiny")
    assert result.exit_code == 0, result.output
    back, want = load_vectors(tmp_path / "back"), quantized(small_vectors, SCALE)
    assert back.vocab == small_vectors.vocab and back.ids == small_vectors.ids
    assert np.array_equal(back.indptr, want.indptr) and np.array_equal(back.indices, want.indices)
    assert np.array_equal(back.values, want.values)
    assert back.manifest["params"]["scale"] == SCALE
    # without a model, the vocabulary is the file's terms (sorted), the weights the same
    alone, scale, _ = read_ciff(ciff_file, progress=False)
    assert scale == SCALE and alone.vocab == sorted(alone.vocab) and alone.nnz == want.nnz
    assert all(alone.row(i) == want.row(i) for i in range(0, len(want), 37))


def test_bmp_reads_our_ciff_as_its_own_indexer_builds_it(ciff_file, small_vectors, small_queries, tmp_path):
    """The BMP authors' ciff2bmp (an independent CIFF reader) and bmp.Indexer fed the same integers build
    indexes that answer every query identically."""
    import bmp

    bmp.ciff2bmp(str(ciff_file), str(tmp_path / "from-ciff.bmp"), 32, False)
    impacts = impact_matrix(small_vectors, SCALE)
    vocab = small_vectors.vocab
    indexer = bmp.Indexer(str(tmp_path / "direct.bmp"), 32, False)
    for i, doc in enumerate(small_vectors.ids):
        row = impacts[i]
        indexer.add_document(doc, {vocab[t]: int(v) for t, v in zip(row.indices, row.data)})
    indexer.finish()
    from_ciff, direct = bmp.Searcher(str(tmp_path / "from-ciff.bmp")), bmp.Searcher(str(tmp_path / "direct.bmp"))
    compared = 0
    for query in small_queries.vectors:
        weights = {t: int(np.rint(w * SCALE)) for t, w in query.items() if np.rint(w * SCALE) > 0}
        a, b = from_ciff.search(weights, 10, 1.0, 1.0), direct.search(weights, 10, 1.0, 1.0)
        assert a == b
        compared += bool(a[0])
    assert compared > 0.9 * len(small_queries)


def _write(path, header, lists, docs):
    classes = messages()
    with open(path, "wb") as handle:
        handle.write(_delimited(classes["Header"](**header)))
        for term, gaps in lists:
            message = classes["PostingsList"](term=term, df=len(gaps), cf=len(gaps))
            for gap in gaps:
                message.postings.add(docid=gap, tf=1)
            handle.write(_delimited(message))
        for i, doc in enumerate(docs):
            handle.write(_delimited(classes["DocRecord"](docid=i, collection_docid=doc, doclength=1)))


@pytest.mark.parametrize("case, message", [
    ("truncated", "truncated CIFF file"),
    ("wrong-header", "not a CIFF v1 file"),
    ("not-protobuf", "not a CIFF v1 file"),
    ("out-of-order", "postings out of order"),
    ("beyond-docs", "beyond the header's 3 documents"),
    ("vocabulary", "not in the given vocabulary"),
    ("no-scale", "pass --scale"),
])
def test_bad_files_fail_with_one_line_and_write_nothing(ciff_file, tmp_path, case, message):
    bad = tmp_path / f"{case}.ciff"
    header = {"version": 1, "num_postings_lists": 2, "num_doc_records": 3, "description": "scale=10"}
    lists, docs = [("alpha", [0, 2]), ("beta", [1])], ["a", "b", "c"]
    args = []
    if case == "truncated":
        data = ciff_file.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif case == "wrong-header":
        _write(bad, {**header, "version": 2}, lists, docs)
    elif case == "not-protobuf":
        bad.write_text('{"id": "d1", "vector": {"a": 1}}\n')
    elif case == "out-of-order":
        _write(bad, header, [("alpha", [2, 0]), ("beta", [1])], docs)
    elif case == "beyond-docs":
        _write(bad, header, [("alpha", [1, 2]), ("beta", [1])], docs)
    elif case == "vocabulary":
        _write(bad, header, [("alpha", [0]), ("zzzfremdwortzzz", [1])], docs)
        args = ["--model", "splade-tiny"]
    else:
        _write(bad, {**header, "description": "from elsewhere"}, lists, docs)
    out = tmp_path / "out"
    result = lilsr("vectors", "import", bad, out, "--format", "ciff", *args)
    assert result.exit_code == 2, result.output
    error = result.output.split("\r")[-1]  # what follows the progress bar, if one was drawn
    assert error.startswith("lilsr: error: ") and error.count("\n") == 1
    assert message in error and str(bad) in error
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_a_hand_made_file_imports_and_export_refuses_to_overwrite(ciff_file, small_vectors, tmp_path):
    good = tmp_path / "good.ciff"
    _write(good, {"version": 1, "num_postings_lists": 2, "num_doc_records": 3, "description": "scale=10"},
           [("alpha", [0, 2]), ("beta", [1])], ["a", "b", "c"])
    vectors, scale, _ = read_ciff(good, progress=False)
    assert scale == 10 and vectors.vocab == ["alpha", "beta"] and vectors.ids == ["a", "b", "c"]
    tenth = float(np.float32(0.1))  # tf 1 / scale 10, as float32
    assert [vectors.row(i) for i in range(3)] == [{"alpha": tenth}, {"beta": tenth}, {"alpha": tenth}]
    result = lilsr("vectors", "export", small_vectors.path, ciff_file, "--format", "ciff")
    assert result.exit_code == 2 and "already exists" in result.output
