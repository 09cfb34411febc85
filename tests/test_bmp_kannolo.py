"""BMP and kANNolo behind the engine protocol, saved indexes found by `lilsr search`, and native search
returning k results whenever k documents match."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines import engine_for_index, get_engine
from lilsr_tools.engines.bmp import BmpEngine
from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.kannolo import KannoloEngine
from lilsr_tools.errors import LilsrError
from lilsr_tools.evaluation.metrics import accuracy_at_k
from lilsr_tools.vectors.queries import save_encoded_queries
from lilsr_tools.vectors.store import SparseVectors


@pytest.fixture(scope="module")
def bmp_index(small_vectors, tmp_path_factory):
    return BmpEngine.build(small_vectors, tmp_path_factory.mktemp("bmp") / "index", bsize=16)


@pytest.fixture(scope="module")
def kannolo_index(small_vectors, tmp_path_factory):
    return KannoloEngine.build(small_vectors, tmp_path_factory.mktemp("kannolo") / "index", m=16,
                               ef_construction=100, threads=1)


@pytest.fixture(scope="module")
def queries_dir(small_queries, tmp_path_factory):
    return save_encoded_queries(tmp_path_factory.mktemp("q") / "queries", small_queries)


def bmp_reference(vectors: SparseVectors, scale: float, query: dict) -> np.ndarray:
    """BMP's integer score of every document, recomputed: impacts round(w * scale), query weights
    ceil(w * 32 / largest weight) in float32 as BMP computes them, over the query's indexed terms."""
    impacts = vectors.csr.copy()
    impacts.data = np.rint(impacts.data.astype(np.float64) * scale)
    impacts.eliminate_zeros()
    indexed = np.asarray((impacts > 0).sum(axis=0)).ravel() > 0
    token_id = {t: i for i, t in enumerate(vectors.vocab)}
    terms = [(token_id[t], w) for t, w in query.items() if t in token_id and w > 0 and indexed[token_id[t]]]
    if not terms:
        return np.zeros(len(vectors))
    ids = np.array([t for t, _ in terms])
    weights = np.array([w for _, w in terms], np.float32)
    levels = np.ceil(weights * (np.float32(32) / weights.max())).astype(np.float64)
    return np.asarray(impacts[:, ids] @ levels).ravel()


def test_bmp_finds_the_exact_top_k_of_the_integers_it_scores(bmp_index, small_vectors, small_queries):
    engine = BmpEngine.load(bmp_index)
    manifest = engine.manifest
    assert manifest["kind"] == "lilsr.bmp-index" and manifest["params"]["bsize"] == 16
    # the default scale maps the largest weight to 127 (headroom for BMP's 16-bit sums)
    assert manifest["counts"]["max_impact"] == 127
    assert manifest["counts"]["postings"] + manifest["counts"]["dropped_zero_after_rounding"] == small_vectors.nnz
    results = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, alpha=1, beta=1)
    assert results.qids == small_queries.qids and (results.retrieval_ns > 0).all()
    checked = 0
    for query, ids, scores in zip(small_queries.vectors, results.doc_ids, results.scores):
        reference = bmp_reference(small_vectors, engine.scale, query)
        if reference.max() > 65_535:
            continue  # BMP's u16 scores may wrap: the engine counts such queries, it cannot fix them
        positive = int((reference > 0).sum())
        assert len(ids) == min(10, positive)  # ties at BMP's seeded threshold are not lost
        expected = np.sort(reference)[::-1][:len(ids)]
        row = {doc: i for i, doc in enumerate(small_vectors.ids)}
        got = np.array([reference[row[doc]] for doc in ids])
        assert np.array_equal(np.sort(got)[::-1], expected)  # the top-k, up to the order of ties
        np.testing.assert_allclose(scores * engine.scale * 32 / max(
            w for t, w in query.items() if t in engine._token_ids and engine.term_max[engine._token_ids[t]] > 0),
            got, rtol=1e-4)
        checked += 1
    assert checked >= len(small_queries.qids) // 2
    assert results.info["queries_over_u16_bound"] >= len(small_queries.qids) - checked


def test_bmp_scores_the_block_bmp_itself_skips(tmp_path):
    """BMP 0.2.8 never scores its last candidate block: alone, a query whose only match is in one block
    gets nothing (bmp.Searcher returns []); the sentinel block takes that place."""
    rows = [{"x": 1.0} for _ in range(64)]
    rows[5]["a"], rows[40]["b"], rows[41]["b"], rows[2]["b"] = 2.0, 1.5, 1.5, 0.5
    vectors = SparseVectors.from_dicts(rows, ["x", "a", "b"], [f"d{i}" for i in range(64)])
    engine = BmpEngine.load(BmpEngine.build(vectors, tmp_path / "tiny", bsize=32))
    results = engine.batch_search(["a", "b"], [{"a": 1.0}, {"b": 1.0}], k=10)
    assert results.doc_ids == [["d5"], ["d40", "d41", "d2"]]
    np.testing.assert_allclose(results.scores[1], [1.5, 1.5, 0.5], rtol=0.01)


def test_bmp_pruning_knobs_and_bad_input(bmp_index, small_vectors, small_queries, tmp_path):
    engine = BmpEngine.load(bmp_index)
    exact = ExactEngine(small_vectors).batch_search(small_queries.qids, small_queries.vectors, k=10)
    full = engine.batch_search(small_queries.qids, small_queries.vectors, k=10)
    cut = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, beta=0.3)
    assert accuracy_at_k(full.as_run(), exact.as_run(), 10) > accuracy_at_k(cut.as_run(), exact.as_run(), 10)
    with pytest.raises(LilsrError, match="unknown bmp search parameter"):
        engine.batch_search(["q"], [{}], k=10, alpah=0.5)
    with pytest.raises(LilsrError, match=r"beta must be a number in \(0, 1\]"):
        engine.batch_search(["q"], [{}], k=10, beta=0)
    with pytest.raises(LilsrError, match="above BMP's one-byte maximum 255"):
        BmpEngine.build(small_vectors, tmp_path / "over", scale=1000)
    with pytest.raises(LilsrError, match="bsize must be in 1..256"):
        BmpEngine.build(small_vectors, tmp_path / "big", bsize=512)
    assert not (tmp_path / "over").exists() and not (tmp_path / "big").exists()


def test_kannolo_search_threads_and_variants(kannolo_index, small_vectors, small_queries, tmp_path):
    engine = KannoloEngine.load(kannolo_index)
    assert engine.manifest["kind"] == "lilsr.kannolo-index" and engine.manifest["params"]["m"] == 16
    exact = ExactEngine(small_vectors).batch_search(small_queries.qids, small_queries.vectors, k=10)
    one = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, ef_search=100)
    assert accuracy_at_k(one.as_run(), exact.as_run(), 10) >= 0.95
    assert all(np.all(np.diff(s) <= 1e-6) and np.all(s > 0) for s in one.scores)
    two = engine.batch_search(small_queries.qids, small_queries.vectors, k=10, ef_search=100, threads=2)
    assert two.doc_ids == one.doc_ids and "batch_search" in two.info["timing"]
    empty = engine.batch_search(["a", "b"], [{}, small_queries.vectors[0]], k=5)
    assert empty.doc_ids[0] == [] and len(empty.doc_ids[1]) == 5
    with pytest.raises(LilsrError, match="unknown kannolo search parameter"):
        engine.batch_search(["q"], [{}], k=10, ef=10)
    # fixed-point variants would clip weights above their range silently: refused
    big = SparseVectors(np.array([0, 1, 2]), np.array([0, 1], np.int32), np.array([5.0, 1.0], np.float32),
                        ["a", "b"], ["d1", "d2"])
    with pytest.raises(LilsrError, match="above what kannolo variant u8 stores"):
        KannoloEngine.build(big, tmp_path / "u8", variant="u8")
    assert not (tmp_path / "u8").exists()


def test_kannolo_ignores_query_tokens_past_its_largest_document_component(kannolo_index, small_vectors,
                                                                         small_queries):
    """A query token no document uses, with an id past every document's components (kANNolo's space ends at
    the largest one and aborted the process on such a query): it matches nothing and changes nothing."""
    engine = KannoloEngine.load(kannolo_index)
    dimension = engine.manifest["counts"]["dimension"]
    assert dimension == int(small_vectors.indices.max()) + 1 < len(small_vectors.vocab)
    query = dict(small_queries.vectors[0])
    plain = engine.batch_search(["q"], [query], k=10, ef_search=100)
    query[small_vectors.vocab[-1]] = 3.0
    extended = engine.batch_search(["q"], [query], k=10, ef_search=100)
    assert extended.doc_ids == plain.doc_ids and len(plain.doc_ids[0]) == 10


def test_saved_indexes_are_searched_by_their_own_engine(bmp_index, kannolo_index, small_vectors, queries_dir,
                                                       tmp_path):
    runner = CliRunner()
    seismic = tmp_path / "seismic"
    result = runner.invoke(main, ["index", "seismic-rs", str(small_vectors.path), str(seismic), "--threads", "1"])
    assert result.exit_code == 0, result.output
    for index, engine in ((bmp_index, "bmp"), (kannolo_index, "kannolo"), (seismic, "seismic-rs")):
        assert engine_for_index(index) == engine
        run = tmp_path / f"{engine}.trec"
        result = runner.invoke(main, ["search", str(index), str(queries_dir), "--run", str(run), "-k", "10"])
        assert result.exit_code == 0, result.output
        assert f"engine {engine}" in result.output
        lines = run.read_text().splitlines()
        assert lines and all(line.split()[2] in set(small_vectors.ids) for line in lines)
        latency = json.loads(run.with_suffix(".latency.json").read_text())
        assert latency["info"]["engine"] == engine and latency["info"]["timing"]
    # another engine's folder, an unknown parameter, an existing output: one line, exit 2, nothing written
    bad_run = str(tmp_path / "x.trec")
    for args, message in ((["search", str(bmp_index), str(queries_dir), "--engine", "kannolo", "--run", bad_run],
                           "holds a 'lilsr.bmp-index', not a 'lilsr.kannolo-index'"),
                          (["search", str(kannolo_index), str(queries_dir), "-p", "efs=3", "--run", bad_run],
                           "unknown kannolo search parameter"),
                          (["index", "bmp", str(small_vectors.path), str(bmp_index)], "already exists"),
                          (["index", "kannolo", str(small_vectors.path), str(tmp_path / "k"), "--m", "1"],
                           "1 is not in the range 2<=x<=512")):
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and result.output.startswith("lilsr: error:") and message in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.trec").exists() and not (tmp_path / "k").exists()


def test_queries_from_another_vocabulary_are_refused(bmp_index, kannolo_index):
    foreign = [{"zz-not-a-token": 1.0, "yy-nor-this": 0.5}]
    for engine in (BmpEngine.load(bmp_index), KannoloEngine.load(kannolo_index)):
        with pytest.raises(LilsrError, match="2 of 2 query tokens are not in the vocabulary"):
            engine.batch_search(["q"], foreign, k=10)


def test_native_search_returns_k_results_whenever_k_documents_match(small_vectors, small_queries, tmp_path):
    native = get_engine("native")
    exact = ExactEngine(small_vectors).batch_search(small_queries.qids, small_queries.vectors, k=1000)
    matching = [len(ids) for ids in exact.doc_ids]
    # heavy static pruning (lists miss matches) and a query cut of one list: both fallbacks are needed
    for n_postings in (1, 3500):
        index = native.build(small_vectors, tmp_path / f"native-{n_postings}", n_postings=n_postings, threads=1,
                             progress=False)
        engine = native.load(index)
        for k in (10, 200):
            results = engine.batch_search(small_queries.qids, small_queries.vectors, k=k, query_cut=1,
                                          heap_factor=0.7)
            assert [len(ids) for ids in results.doc_ids] == [min(k, m) for m in matching]


def test_compare_grid_cells_by_engine_name(small_corpus, small_vectors, tmp_path):
    from lilsr_tools.reports.compare import compare
    from lilsr_tools.reports.grid import grid_from_dict

    grid = grid_from_dict({"collection": str(small_corpus), "k": 10, "encoders": ["binary"],
                           "models": [{"name": "tiny", "checkpoint": "splade-tiny",
                                       "vectors": str(small_vectors.path)}],
                           "engines": {"bmp": {"search": [{"alpha": 1.0}, {"alpha": 0.8}]},
                                       "kannolo": {"build": {"m": 8, "ef_construction": 40}},
                                       "seismic-rs": {}}})
    result = compare(grid, tmp_path / "cmp", progress=False)
    frame = result.frame.set_index("cell")
    assert list(frame.index) == ["tiny/binary/bmp/alpha=1.0", "tiny/binary/bmp/alpha=0.8",
                                 "tiny/binary/kannolo/ef_construction=40/m=8", "tiny/binary/seismic-rs"]
    assert (frame["status"] == "ok").all(), frame.get("error")
    assert (frame["accuracy@10"] > 0.5).all() and (frame["nDCG@10"] > 0).all()


def test_native_defaults_depend_on_k():
    from lilsr_tools.engines.native.engine import K_DEFAULTS, defaults_for_k, search_params

    assert defaults_for_k(10)["query_cut"] == 10 and defaults_for_k(1000)["query_cut"] == 20
    assert [defaults_for_k(k)["heap_factor"] for k in (1, 10, 11, 100, 101, 10_000)] == [0.7, 0.7, 1.0, 1.0, 0.9, 0.9]
    assert K_DEFAULTS[-1][0] is None  # an open last band: every k has defaults
    assert search_params({"query_cut": 3}, 1000) == {**defaults_for_k(1000), "query_cut": 3}
