"""The PISA engine (pyterrier-pisa's compiled PISA): exact top-k on the quantized weights, integers that
reach PISA unchanged, the index folder, the CLI, grid cells and bad input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main
from lilsr_tools.engines import engine_for_index, get_engine
from lilsr_tools.engines.pisa import PisaEngine
from lilsr_tools.engines.pisa.build import pisa_term, write_binary_collection
from lilsr_tools.errors import LilsrError
from lilsr_tools.vectors.convert import impact_matrix

SCALE = 100.0


@pytest.fixture(scope="module")
def pisa_index(small_vectors, tmp_path_factory):
    return PisaEngine.build(small_vectors, tmp_path_factory.mktemp("pisa") / "index", scale=SCALE)


@pytest.fixture(scope="module")
def pisa(pisa_index):
    return PisaEngine.load(pisa_index)


def integer_top_k(vectors, queries, k):
    """Exact search on the quantized vectors in integers: doc impacts round(w * 100) . query round(q * 100);
    best first, ties to the lower store position (as PISA breaks them)."""
    impacts = impact_matrix(vectors, SCALE).astype(np.int64)
    token_ids = {token: i for i, token in enumerate(vectors.vocab)}
    runs = []
    for query in queries:
        dense = np.zeros(len(vectors.vocab), dtype=np.int64)
        for token, weight in query.items():
            if token in token_ids:
                dense[token_ids[token]] = int(np.rint(weight * SCALE))
        scores = impacts @ dense
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[scores[order] > 0][:k]
        runs.append(([vectors.ids[i] for i in order], scores[order]))
    return runs


@pytest.mark.parametrize("algorithm", ["maxscore", "block_max_wand", "block_max_maxscore", "wand", "ranked_or"])
def test_safe_algorithms_return_the_exact_top_10_with_exact_integer_scores(pisa, small_vectors, small_queries,
                                                                           algorithm):
    results = pisa.batch_search(small_queries.qids, small_queries.vectors, k=10, query_algorithm=algorithm)
    expected = integer_top_k(small_vectors, small_queries.vectors, 10)
    assert results.qids == small_queries.qids and results.info["query_algorithm"] == algorithm
    divisor = results.info["score_divisor"]
    assert divisor == SCALE * SCALE
    for ids, scores, (want_ids, want_scores) in zip(results.doc_ids, results.scores, expected):
        assert ids == want_ids
        # the integers reached PISA unchanged: its scores are the integer dot products, to the unit
        assert np.array_equal(np.rint(scores * divisor), want_scores)
        assert np.allclose(scores * divisor, want_scores, rtol=1e-12, atol=1e-6)
    assert (results.retrieval_ns > 0).all() and results.engine_ns is None
    assert "one _pisathon.retrieve call" in results.info["timing"]


def test_pisa_called_directly_with_the_lexicon_finds_what_the_engine_finds(pisa, small_queries):
    """benchmarks/pisa_wrapper.py calls PISA itself (``binding()``, ``lexicon``) to measure what our query
    handling costs: with the engine's integer terms, the bare call returns the engine's top 10."""
    retrieve_module, context = pisa.binding()
    results = pisa.batch_search(small_queries.qids[:10], small_queries.vectors[:10], k=10)
    for query, want in zip(small_queries.vectors[:10], results.doc_ids):
        terms = {pisa.lexicon[t]: float(np.rint(w * SCALE)) for t, w in query.items()
                 if t in pisa.lexicon and np.rint(w * SCALE) > 0}
        docnos = np.empty(10, dtype=object)
        found = retrieve_module.retrieve(context, "maxscore", [(0, terms)], k=10, threads=1, pretokenised=True,
                                         query_weighted=1, result_qidxs=np.empty(10, np.int32),
                                         result_docnos=docnos, result_ranks=np.empty(10, np.int32),
                                         result_scores=np.empty(10, np.float32))
        assert docnos[:found].tolist() == want


def test_every_positive_document_at_large_k_and_threads(pisa, small_vectors, small_queries):
    qids, queries = small_queries.qids[:20], small_queries.vectors[:20]
    one = pisa.batch_search(qids, queries, k=10**9)  # k beyond the collection: no giant buffers
    expected = integer_top_k(small_vectors, queries, len(small_vectors))
    assert [ids for ids, _ in expected] == one.doc_ids
    two = pisa.batch_search(qids, queries, k=len(small_vectors), threads=2)
    assert two.qids == qids and two.doc_ids == one.doc_ids and "batch" in two.info["timing"]


def test_query_scale_unknown_tokens_and_empty_queries(pisa, small_queries):
    query = small_queries.vectors[0]
    indexed = next(iter(pisa.lexicon))  # a token with postings
    results = pisa.batch_search(["a", "b", "c", "d"], [query, {**query, "no-such-token": 1.0}, {}, {indexed: 0.001}],
                                k=10)
    assert results.unknown_tokens == 1 and results.doc_ids[0] == results.doc_ids[1]
    assert results.doc_ids[2] == [] and results.doc_ids[3] == []  # 0.001 x 100 rounds to zero
    assert results.info["query_weights_rounded_to_zero"] == 1
    coarse = pisa.batch_search(["a"], [query], k=10, query_scale=1000)
    assert coarse.info["score_divisor"] == SCALE * 1000
    assert np.allclose(coarse.scores[0], results.scores[0][:len(coarse.scores[0])], rtol=0.02)


def test_upper_case_tokens_are_found(small_vectors, tmp_path):
    """PISA lower-cases query terms: tokens like [CLS] must still be found (terms are vocabulary ids)."""
    from lilsr_tools.vectors.store import SparseVectors
    import scipy.sparse as sp

    vectors = SparseVectors.from_scipy(sp.csr_matrix(np.array([[1.0, 0.5], [0.2, 2.0]], dtype=np.float32)),
                                       ["[CLS]", "Apple"], ["d0", "d1"])
    engine = PisaEngine.load(PisaEngine.build(vectors, tmp_path / "idx"))
    results = engine.batch_search(["q", "r"], [{"[CLS]": 1.0}, {"Apple": 1.0}], k=5)
    assert results.doc_ids == [["d0", "d1"], ["d1", "d0"]]


def test_our_collection_is_what_pyterrier_toks_indexer_writes_at_scale_1(small_vectors, tmp_path):
    """PyTerrier's PisaToksIndexer, fed our integers with scale=1, writes the same posting lists; at its
    default scale (100) it would multiply our impacts again."""
    from pyterrier_pisa import PisaToksIndexer

    small = small_vectors.csr[:60]
    from lilsr_tools.vectors.store import SparseVectors

    vectors = SparseVectors.from_scipy(small, small_vectors.vocab, small_vectors.ids[:60])
    impacts = impact_matrix(vectors, SCALE)
    docs = [{"docno": doc, "toks": {pisa_term(int(t)): int(v) for t, v in
                                    zip(impacts[i].indices, impacts[i].data)}} for i, doc in enumerate(vectors.ids)]
    ours = tmp_path / "ours"
    ours.mkdir()
    write_binary_collection(vectors, ours, SCALE)
    for scale, same in ((1.0, True), (100.0, False)):
        theirs = tmp_path / f"theirs-{scale:g}"
        theirs.mkdir()
        PisaToksIndexer(theirs, scale=scale)._index(iter(docs))
        for name in ("fwd.terms", "fwd.documents", "inv.docs"):
            assert (theirs / name).read_bytes() == (ours / name).read_bytes(), name
        for name in ("inv.freqs", "inv.sizes"):  # the impacts and the document lengths (their sums)
            assert ((theirs / name).read_bytes() == (ours / name).read_bytes()) is same, (name, scale)


def test_index_folder_manifest_and_loading_errors(pisa_index, small_vectors, tmp_path):
    manifest = json.loads((pisa_index / "manifest.json").read_text())
    assert manifest["kind"] == "lilsr.pisa-index" and engine_for_index(pisa_index) == "pisa"
    assert manifest["params"]["scale"] == SCALE and manifest["params"]["encoding"] == "block_simdbp"
    assert manifest["counts"]["postings"] == impact_matrix(small_vectors, SCALE).nnz
    assert manifest["index_bytes"] > 0 and manifest["build_seconds"] > 0
    assert not list((pisa_index / "pisa").glob("inv.*"))  # the uncompressed copy is gone
    assert get_engine("pisa") is PisaEngine
    with pytest.raises(LilsrError, match="holds a 'lilsr.vectors'"):
        PisaEngine.load(small_vectors.path)
    with pytest.raises(LilsrError, match="unknown pisa build parameter"):
        PisaEngine.build(small_vectors, tmp_path / "x", n_postings=10)
    with pytest.raises(LilsrError, match="overflows a 32-bit integer impact; lower the scale"):
        PisaEngine.build(small_vectors, tmp_path / "x", scale=1e12)
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))


def test_search_parameters_and_vocabulary_are_checked(pisa, small_queries):
    with pytest.raises(LilsrError, match="unknown pisa search parameter"):
        pisa.batch_search(["q"], small_queries.vectors[:1], k=10, query_cut=5)
    with pytest.raises(LilsrError, match="safe ones"):
        pisa.batch_search(["q"], small_queries.vectors[:1], k=10, query_algorithm="ranked_and")
    with pytest.raises(LilsrError, match="pass a smaller query_scale"):
        pisa.batch_search(["q"], small_queries.vectors[:1], k=10, query_scale=1e9)
    with pytest.raises(LilsrError, match="none of the 2 query tokens is in the index vocabulary"):
        pisa.batch_search(["q"], [{"Fremdwort": 1.0, "autre": 2.0}], k=10)


def test_missing_package_names_make_venv(monkeypatch):
    import sys

    from lilsr_tools.engines.pisa import pisathon

    monkeypatch.delitem(sys.modules, pisathon.MODULE, raising=False)
    monkeypatch.setattr(pisathon.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LilsrError, match="make venv"):
        pisathon.load_pisathon()


def test_cli_index_search_evaluate(pisa_index, small_vectors, small_queries, small_corpus, tmp_path):
    from lilsr_tools.vectors.queries import save_encoded_queries

    queries = save_encoded_queries(tmp_path / "q", small_queries)
    runner = CliRunner()
    out = tmp_path / "idx"
    result = runner.invoke(main, ["index", "pisa", str(small_vectors.path), str(out), "--block-size", "32"])
    assert result.exit_code == 0, result.output
    assert "docs at scale 100" in result.output and "quantized.q0" not in result.output
    run = tmp_path / "run.trec"
    result = runner.invoke(main, ["search", str(out), str(queries), "--run", str(run), "-k", "10",
                                  "-p", "query_algorithm=block_max_wand"])
    assert result.exit_code == 0, result.output
    assert "engine pisa" in result.output
    lines = run.read_text().splitlines()
    assert len(lines) == 10 * len(small_queries)
    latency = json.loads(run.with_suffix(".latency.json").read_text())
    assert latency["info"]["query_algorithm"] == "block_max_wand" and latency["info"]["block_size"] == 32
    result = runner.invoke(main, ["evaluate", str(run), "--collection", str(small_corpus)])
    assert result.exit_code == 0 and "nDCG@10" in result.output

    # bad input: one line, exit 2, nothing written
    for args, message in [
        (["search", str(out), str(queries), "--run", str(tmp_path / "bad.trec"), "-p", "heap_factor=0.5"],
         "unknown pisa search parameter"),
        (["search", str(small_vectors.path), str(queries), "--engine", "pisa", "--run", str(tmp_path / "bad.trec")],
         "holds a 'lilsr.vectors'"),
        (["index", "pisa", str(small_vectors.path), str(out)], "already exists"),
        (["index", "pisa", str(pisa_index), str(tmp_path / "bad-idx")], "index a vector store"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("lilsr: error: ") and message in result.output
        assert result.output.count("\n") == 1
    assert not (tmp_path / "bad.trec").exists() and not (tmp_path / "bad-idx").exists()


def test_grid_cells_by_name(small_corpus, small_vectors, tmp_path):
    from lilsr_tools.reports.compare import compare
    from lilsr_tools.reports.grid import EngineSpec, Grid, ModelSpec

    grid = Grid(collection=str(small_corpus), k=10, encoders=["binary"],
                models=[ModelSpec("tiny", checkpoint="splade-tiny", vectors=str(small_vectors.path))],
                engines=[EngineSpec("pisa", {"scale": 100}, ({"query_algorithm": "maxscore"},
                                                              {"query_algorithm": "block_max_wand"},
                                                              {"query_cut": 3}))])
    frame = compare(grid, tmp_path / "cmp", progress=False).frame.set_index("cell")
    ok = ["tiny/binary/pisa/scale=100/query_algorithm=maxscore", "tiny/binary/pisa/scale=100/query_algorithm=block_max_wand"]
    assert (frame.loc[ok, "status"] == "ok").all()
    assert frame.loc[ok[0], "nDCG@10"] == frame.loc[ok[1], "nDCG@10"]  # both safe: the same top 10
    bad = frame.loc["tiny/binary/pisa/scale=100/query_cut=3"]
    assert bad["status"] == "failed" and "unknown pisa search parameter" in bad["error"]
