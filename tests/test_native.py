"""The native (Seismic-like) index: exactness without pruning, accuracy with it, files, errors, edge queries."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines import engine_for_index, get_engine
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.native import NativeEngine
from lilsr_tools.engines.native.layout import unpack_forward
from lilsr_tools.errors import LilsrError
from lilsr_tools.evaluation.metrics import accuracy_at_k
from lilsr_tools.vectors import SparseVectors

# nothing pruned (the budget exceeds the collection), every query term scanned, no block skipped
EXHAUSTIVE = {"query_cut": 10_000, "heap_factor": 0.0}


@pytest.fixture(scope="module")
def index(small_vectors, tmp_path_factory):
    """The small SciFact store indexed with Seismic's defaults (clustering blocks)."""
    out = tmp_path_factory.mktemp("native") / "index"
    NativeEngine.build(small_vectors, out, threads=1, progress=False)
    return out


@pytest.fixture(scope="module")
def engine(index):
    return NativeEngine.load(index)


@pytest.fixture(scope="module")
def exact_f16(small_vectors):
    """Exact search over the weights as the forward index stores them (float16), for exactness checks."""
    rounded = np.asarray(small_vectors.values).astype(np.float16).astype(np.float32)
    vectors = SparseVectors(np.asarray(small_vectors.indptr), np.asarray(small_vectors.indices), rounded,
                            small_vectors.vocab, small_vectors.ids)
    return ExactEngine(vectors)


def assert_same_ranking(ours, exact):
    """Same documents in the same order, allowing swaps only between float-level ties."""
    assert ours.qids == exact.qids
    for qid, o_ids, o_scores, e_ids, e_scores in zip(ours.qids, ours.doc_ids, ours.scores, exact.doc_ids,
                                                     exact.scores):
        assert len(o_ids) == len(e_ids), qid
        np.testing.assert_allclose(o_scores, e_scores, rtol=1e-5, atol=1e-6)
        for rank, (a, b) in enumerate(zip(o_ids, e_ids)):
            if a != b:
                assert abs(float(o_scores[rank]) - float(e_scores[rank])) <= 1e-5 * max(1.0, float(e_scores[rank])), \
                    (qid, rank, a, b)


def test_top_k_equals_exact_when_nothing_is_pruned_or_skipped(engine, exact_f16, small_queries):
    ours = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, **EXHAUSTIVE)
    exact = exact_f16.batch_search(small_queries.qids, small_queries.vectors, k=10)
    assert_same_ranking(ours, exact)
    assert ours.retrieval_ns.shape == (len(small_queries),) and (ours.retrieval_ns > 0).all()


def test_fixed_blocks_are_exact_too_and_k_beyond_the_collection(small_vectors, exact_f16, small_queries, tmp_path):
    NativeEngine.build(small_vectors, tmp_path / "fixed", threads=2, blocks="fixed:4", progress=False)
    fixed = NativeEngine.load(tmp_path / "fixed")
    k = 10 * len(small_vectors)
    ours = fixed.batch_search(small_queries.qids, small_queries.vectors, k=k, **EXHAUSTIVE)
    exact = exact_f16.batch_search(small_queries.qids, small_queries.vectors, k=k)
    assert_same_ranking(ours, exact)
    # every document sharing a term with the query comes back, and nothing more
    assert max(len(ids) for ids in ours.doc_ids) <= len(small_vectors)
    assert sum(len(ids) for ids in ours.doc_ids) > 0.5 * len(small_vectors) * len(small_queries)


def test_pruned_search_is_accurate_and_independent_of_threads(engine, small_vectors, small_queries):
    exact = ExactEngine(small_vectors).batch_search(small_queries.qids, small_queries.vectors, k=10)
    one = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, threads=1)
    two = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, threads=2)
    assert accuracy_at_k(one.as_run(), exact.as_run(), 10) >= 0.9
    assert one.doc_ids == two.doc_ids
    assert all(np.array_equal(a, b) for a, b in zip(one.scores, two.scores))
    assert one.info["query_cut"] == 10 and one.info["heap_factor"] == 0.7
    # a stricter setting skips more and cannot find more
    narrow = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, query_cut=2, heap_factor=1.0)
    assert accuracy_at_k(narrow.as_run(), exact.as_run(), 10) <= accuracy_at_k(one.as_run(), exact.as_run(), 10)


def test_build_is_deterministic_across_threads(small_vectors, index, tmp_path):
    NativeEngine.build(small_vectors, tmp_path / "again", threads=2, progress=False)
    for name in ("postings", "block_ptr", "sum_comp", "sum_code", "small_block", "large_block"):
        assert np.array_equal(np.load(index / f"{name}.npy"), np.load(tmp_path / "again" / f"{name}.npy")), name


def test_save_load_round_trip(index, engine, small_vectors, small_queries):
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["kind"] == "lilsr.native-index" and engine_for_index(index) == "native"
    assert get_engine("native") is NativeEngine
    counts = manifest["counts"]
    assert counts["docs"] == len(small_vectors) and counts["nnz"] == small_vectors.nnz
    assert counts["postings"] == small_vectors.nnz  # the default budget keeps everything on 300 docs
    assert manifest["params"]["n_postings"] == 3500 and manifest["params"]["blocks"] == "clustering"
    again = NativeEngine.load(index, verify=True)
    assert isinstance(again.arrays.postings, np.memmap)
    assert again.ids == small_vectors.ids and again.vocab == small_vectors.vocab
    comps, weights = unpack_forward(np.asarray(again.arrays.fwd))
    assert np.array_equal(comps, np.asarray(small_vectors.indices))
    assert np.array_equal(weights, np.asarray(small_vectors.values).astype(np.float16).astype(np.float32))
    first = engine.batch_search(small_queries.qids, small_queries.vectors, k=20)
    second = again.batch_search(small_queries.qids, small_queries.vectors, k=20)
    assert first.doc_ids == second.doc_ids
    stats = again.index_stats()
    assert stats["index_bytes"] > 0 and stats["postings"] == counts["postings"]


def test_pruning_budget_and_cap(small_vectors, tmp_path):
    NativeEngine.build(small_vectors, tmp_path / "pruned", n_postings=2, max_fraction=4.0, threads=1,
                       progress=False)
    manifest = json.loads((tmp_path / "pruned" / "manifest.json").read_text())
    lengths = np.diff(np.load(tmp_path / "pruned" / "block_ptr.npy")[np.load(tmp_path / "pruned" / "list_block_ptr.npy")])
    assert 0 < manifest["counts"]["postings"] <= 2 * len(small_vectors.vocab)
    assert lengths.max() <= 8


@pytest.mark.parametrize("damage, message", [
    ("truncate", "postings.npy: unreadable or truncated"),
    ("header", "postings.npy: unreadable or truncated"),
    ("out_of_range", "a posting names a document that does not exist"),
    ("missing", "postings.npy is missing"),
])
def test_damaged_index_is_refused(index, tmp_path, damage, message):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index, copy)
    postings = copy / "postings.npy"
    data = postings.read_bytes()
    if damage == "truncate":
        postings.write_bytes(data[:-12])
    elif damage == "header":
        postings.write_bytes(b"garbage!" + data[8:])
    elif damage == "out_of_range":
        array = np.load(postings)
        array[len(array) // 2] = 10**9
        np.save(postings, array)
    else:
        postings.unlink()
    with pytest.raises(LilsrError, match=message):
        NativeEngine.load(copy)


def test_flipped_byte_is_caught_by_verify(index, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index, copy)
    values = copy / "fwd.npy"
    data = bytearray(values.read_bytes())
    data[-2] ^= 0x01  # the last weight's lowest bit: a different, still valid float16, only a checksum can tell
    values.write_bytes(bytes(data))
    NativeEngine.load(copy)
    with pytest.raises(LilsrError, match="fwd.npy: checksum differs"):
        NativeEngine.load(copy, verify=True)


def test_unknown_tokens_and_empty_queries(engine, small_queries):
    query = small_queries.vectors[0]
    with_unknown = {**query, "no-such-token-1": 2.0, "no-such-token-2": 0.5}
    results = engine.batch_search(["q", "q-unknown", "empty", "only-unknown"],
                                  [query, with_unknown, {}, {"no-such-token-3": 1.0}], k=10)
    assert results.unknown_tokens == 3
    assert results.doc_ids[0] == results.doc_ids[1] and len(results.doc_ids[0]) == 10
    assert results.doc_ids[2] == [] and results.doc_ids[3] == []
    assert results.scores[2].shape == (0,)


def test_bad_parameters_are_refused(engine, small_vectors, tmp_path):
    with pytest.raises(LilsrError, match="unknown native search parameter"):
        engine.batch_search(["q"], [{}], k=10, query_kut=3)
    with pytest.raises(LilsrError, match="query_cut must be >= 1"):
        engine.batch_search(["q"], [{}], k=10, query_cut=0)
    with pytest.raises(LilsrError, match="parameter prefetch must be true or false, not 'maybe'"):
        engine.batch_search(["q"], [{}], k=10, prefetch="maybe")
    with pytest.raises(LilsrError, match="--blocks must be 'clustering' or 'fixed:N'"):
        NativeEngine.build(small_vectors, tmp_path / "x", blocks="fixed:0")
    with pytest.raises(LilsrError, match="unknown native build parameter"):
        NativeEngine.build(small_vectors, tmp_path / "x", n_posting=10)
    assert not (tmp_path / "x").exists()


def test_cli_index_and_search(small_vectors, small_queries, tmp_path):
    from lilsr_tools.vectors.queries import save_encoded_queries

    save_encoded_queries(tmp_path / "queries", small_queries)
    runner = CliRunner()
    result = runner.invoke(main, ["index", "native", str(small_vectors.path), str(tmp_path / "idx"), "--blocks",
                                  "fixed:8", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "postings" in result.output and "MiB" in result.output
    result = runner.invoke(main, ["search", str(tmp_path / "idx"), str(tmp_path / "queries"), "--run",
                                  str(tmp_path / "run.trec"), "-k", "10", "-p", "query_cut=5", "-p", "heap_factor=0.9"])
    assert result.exit_code == 0, result.output
    assert "engine native" in result.output
    latency = json.loads((tmp_path / "run.latency.json").read_text())
    assert latency["engine"] == "native" and latency["retrieval"]["n"] == len(small_queries)
    assert latency["info"]["query_cut"] == 5 and latency["info"]["heap_factor"] == 0.9
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert len(lines) == 10 * len(small_queries)
    assert lines[0].split()[-1] == "native.contextual.heap_factor=0.9.query_cut=5"  # engine, encoder, -p
    result = runner.invoke(main, ["search", str(tmp_path / "idx"), str(tmp_path / "queries"), "--run",
                                  str(tmp_path / "bad.trec"), "-p", "heap=1"])
    assert result.exit_code == 2 and "unknown native search parameter" in result.output


def test_summaries_bound_every_block_maximum(index, small_vectors):
    """Each kept summary component's dequantised value is at least the largest weight of that component
    among the block's documents (codes rounded up; before, rounded to nearest, about half fell below)."""
    from lilsr_tools.engines.native.layout import summary_entries

    arrays = NativeEngine.load(index).arrays
    blocks, comps, values = summary_entries(arrays)
    assert values.size == arrays.sum_code.size > 0
    block_ptr, postings = np.asarray(arrays.block_ptr), np.asarray(arrays.postings)
    sizes = np.diff(block_ptr)[blocks]  # documents of each entry's block
    first = np.cumsum(sizes) - sizes
    entry_of = np.repeat(np.arange(blocks.size), sizes)  # one (entry, document of its block) pair per row
    docs = postings[block_ptr[blocks][entry_of] + np.arange(sizes.sum()) - first[entry_of]]
    weights = np.asarray(small_vectors.csr[docs, comps[entry_of]]).ravel()
    true_max = np.maximum.reduceat(weights, first)
    assert (true_max > 0).all()  # a summary keeps only components some document of the block has
    assert (values >= true_max * (1 - 1e-6)).all(), int((values < true_max * (1 - 1e-6)).sum())
