"""The native (Seismic-like) index: exactness without pruning, accuracy with it, files, errors, edge queries."""

import json

import numpy as np
import pytest
from ranking_checks import assert_same_ranking
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


@pytest.mark.parametrize("k", [10, 1000])
def test_top_k_equals_exact_when_nothing_is_pruned_or_skipped(engine, exact_f16, small_queries, k):
    """k=1000 is past the 300 documents: every document sharing a term with the query, in exact order."""
    ours = engine.batch_search(small_queries.qids, small_queries.vectors, k=k, **EXHAUSTIVE)
    exact = exact_f16.batch_search(small_queries.qids, small_queries.vectors, k=k)
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


def _set(name, position, value):
    """Damage: one element of array ``name`` (a fraction of its length, or an index) set to ``value``."""
    def edit(folder):
        file = folder / f"{name}.npy"
        array = np.array(np.load(file))
        array[int(position * len(array)) if isinstance(position, float) else position] = value
        np.save(file, array)
    return edit


def _truncate(name):
    def edit(folder):
        file = folder / name
        file.write_bytes(file.read_bytes()[:-12])
    return edit


def _garble_header(name):
    def edit(folder):
        file = folder / name
        file.write_bytes(b"garbage!" + file.read_bytes()[8:])
    return edit


def _rewrite(name, change):
    def edit(folder):
        file = folder / name
        file.write_text(change(file.read_text(encoding="utf-8")), encoding="utf-8")
    return edit


DAMAGE = {
    **{f"truncated {name}": (_truncate(f"{name}.npy"), f"{name}.npy: unreadable or truncated")
       for name in ("fwd_ptr", "fwd", "list_block_ptr", "block_ptr", "postings", "block_min", "block_quant",
                    "list_comp_ptr", "list_entry_ptr", "list_small_comp_ptr", "list_small_entry_ptr", "sum_comp",
                    "sum_code", "small_off", "small_block", "large_off", "large_block", "fwd_code", "fwd_scale")},
    "header": (_garble_header("postings.npy"), "postings.npy: unreadable or truncated"),
    "missing": (lambda folder: (folder / "postings.npy").unlink(), "postings.npy is missing"),
    "posting out of range": (_set("postings", 0.5, 10**9), "postings.npy: a posting names a document"),
    "negative posting": (_set("postings", 0.2, -1), "postings.npy: a posting names a document"),
    "fwd_ptr decreasing": (_set("fwd_ptr", 0.5, 0), "fwd_ptr.npy: not a non-decreasing list"),
    "block_ptr past the postings": (_set("block_ptr", -1, 10**12), "block_ptr.npy: not a non-decreasing list"),
    "list_block_ptr decreasing": (_set("list_block_ptr", 0.5, -5), "list_block_ptr.npy: not a non-decreasing"),
    "list_comp_ptr past the end": (_set("list_comp_ptr", -1, 10**9), "list_comp_ptr.npy: not a non-decreasing"),
    "list_entry_ptr decreasing": (_set("list_entry_ptr", 0.5, -1), "list_entry_ptr.npy: not a non-decreasing"),
    "component id past the vocabulary": (_set("fwd", 0.5, np.uint32(0xFFFF)),
                                         "fwd.npy: a forward-index component id lies outside the vocabulary"),
    "summary component past the vocabulary": (_set("sum_comp", -1, 65535), "sum_comp.npy: a summary's components"),
    "summary entry in no block": (_set("small_block", 0, 255), "small_block.npy: a summary entry names a block"),
    "summary offsets past the entries": (_set("small_off", 1, 65535), "small_off.npy: a posting list's summary"),
    "NaN block minimum": (_set("block_min", 0.5, np.nan), "block_min.npy: a block's dequantisation constants"),
    "another vocabulary": (_rewrite("vocab.json", lambda text: json.dumps(json.loads(text)[::-1])),
                           "vocab.json: vocabulary (digest"),
    "vocab.json not JSON": (_rewrite("vocab.json", lambda text: text[:-20]), "vocab.json: unreadable"),
    "vocab.json not tokens": (_rewrite("vocab.json", lambda text: json.dumps(list(range(len(json.loads(text)))))),
                              "vocab.json: not a list of the"),
    "an id missing": (_rewrite("ids.txt", lambda text: "\n".join(text.splitlines()[1:]) + "\n"),
                      "ids.txt: 299 document ids, the arrays hold 300"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_is_refused_naming_the_file(index, tmp_path, damage):
    """Every damage a structural check can see is refused at load, naming the file, before any compiled
    search code runs (numba does not bounds-check)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index, copy)
    edit, message = DAMAGE[damage]
    edit(copy)
    with pytest.raises(LilsrError) as info:
        NativeEngine.load(copy)
    assert f"{copy}/{message}" in str(info.value) and "\n" not in str(info.value)


def test_damaged_index_through_the_cli(index, small_vectors, small_queries, tmp_path):
    """An index whose vocabulary was swapped for another: one line naming the file, exit 2, no run."""
    import shutil

    from lilsr_tools.vectors.queries import save_encoded_queries

    save_encoded_queries(tmp_path / "queries", small_queries)
    copy = tmp_path / "copy"
    shutil.copytree(index, copy)
    DAMAGE["another vocabulary"][0](copy)
    result = CliRunner().invoke(main, ["search", str(copy), str(tmp_path / "queries"), "--run",
                                       str(tmp_path / "run.trec")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lilsr: error: ") and str(copy / "vocab.json") in lines[0]
    assert not (tmp_path / "run.trec").exists()


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
    with pytest.raises(LilsrError, match="parameter query_cut must be a whole number >= 1"):
        engine.batch_search(["q"], [{}], k=10, query_cut=0)
    with pytest.raises(LilsrError, match=r"parameter heap_factor must be a number in \[0, 1\].*not 1.5"):
        engine.batch_search(["q"], [{}], k=10, heap_factor=1.5)
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


def test_profile_counts_the_work(engine, small_vectors, small_queries):
    """The kernel's profile (benchmarks/native_kernel.py): with nothing skipped every block whose summary
    was scored is visited and every document sharing a term with the query is scored once; with the k=10
    defaults some blocks are skipped; the stage clocks ran."""
    from lilsr_tools.engines.native.profile import counters, profile_queries, stage_ms

    queries = small_queries.vectors[:20]
    full = counters(profile_queries(engine, queries, k=1000, **EXHAUSTIVE))
    assert (full["blocks_visited"] == full["summaries"]).all() and (full["summaries"] > 0).all()
    token_ids = {token: i for i, token in enumerate(small_vectors.vocab)}
    csc = small_vectors.csr.tocsc()
    matching = [np.unique(csc[:, [token_ids[t] for t in q if t in token_ids]].indices).size for q in queries]
    assert full["docs_scored"].tolist() == matching
    table = profile_queries(engine, queries, k=10)
    pruned = counters(table)
    assert (pruned["blocks_visited"] <= pruned["summaries"]).all() and (pruned["blocks_visited"] < pruned["summaries"]).any()
    stages = stage_ms(table)
    assert (stages["summaries"] > 0).all() and (stages["documents"] > 0).all()
