"""The compiled exact engine against an independent scorer: scipy's CSR dot products and a stable sort."""

from __future__ import annotations

import numpy as np
import pytest

from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.vectors.store import SparseVectors


def scipy_run(vectors: SparseVectors, queries: list[dict], k: int) -> list[list[tuple[str, float]]]:
    """The scipy path exact search used to take: transpose, mat-vec, then score desc / index asc."""
    by_term = vectors.csr.T.tocsr()
    token_ids = {t: i for i, t in enumerate(vectors.vocab)}
    rows = []
    for query in queries:
        pairs = [(token_ids[t], w) for t, w in query.items() if t in token_ids and w > 0]
        ids = np.asarray([p[0] for p in pairs], np.int32)
        weights = np.asarray([p[1] for p in pairs], np.float32)
        scores = (np.asarray(by_term[ids].T @ weights, np.float32).reshape(-1) if ids.size
                  else np.zeros(len(vectors), np.float32))
        positive = np.flatnonzero(scores > 0)
        order = positive[np.lexsort((positive, -scores[positive]))][:k]
        rows.append([(vectors.ids[j], float(scores[j])) for j in order])
    return rows


@pytest.fixture(scope="module")
def grown(small_vectors, tmp_path_factory):
    """SciFact's small store grown to 3,000 documents, so that k=1000 cuts the ranking."""
    from lilsr_tools.vectors.synth import synthesize

    return synthesize(small_vectors, tmp_path_factory.mktemp("exact") / "grown", 3000, seed=1, progress=False)


@pytest.mark.parametrize("k", [10, 1000])
def test_compiled_exact_gives_the_scipy_runs(grown, small_queries, k):
    results = ExactEngine(grown).batch_search(small_queries.qids, small_queries.vectors, k=k)
    expected = scipy_run(grown, small_queries.vectors, k)
    assert sum(len(r) for r in expected) >= len(expected) * min(k, 500)  # deep runs, not a few hits
    for found, scores, want in zip(results.doc_ids, results.scores, expected):
        assert found == [doc for doc, _ in want]
        assert scores.dtype == np.float32
        np.testing.assert_array_equal(scores, np.asarray([s for _, s in want], np.float32))


def test_ties_rank_by_document_index_and_zero_scores_are_not_returned():
    # documents 0..5; 1, 3 and 4 tie on the query, 5 scores 0 (term absent), 2 scores higher
    indptr = np.array([0, 1, 2, 4, 5, 6, 7], np.int64)
    indices = np.array([1, 0, 0, 1, 0, 0, 1], np.int32)
    values = np.array([1.0, 0.5, 1.5, 2.0, 0.5, 0.5, 0.25], np.float32)
    vectors = SparseVectors(indptr, indices, values, ["a", "b"], [f"d{i}" for i in range(6)])
    engine = ExactEngine(vectors)
    results = engine.batch_search(["q"], [{"a": 2.0}], k=3)
    assert results.doc_ids[0] == ["d2", "d1", "d3"]  # 3.0 is d2's; the 1.0 ties keep index order
    results = engine.batch_search(["q"], [{"a": 2.0}], k=10)
    assert results.doc_ids[0] == ["d2", "d1", "d3", "d4"]  # d0 and d5 score 0: not returned
    assert engine.batch_search(["q"], [{"zzz": 1.0}], k=10).doc_ids[0] == []


def test_accuracy_counts_a_tie_just_past_rank_k_as_a_hit():
    from lilsr_tools.evaluation.metrics import accuracy_at_k

    # d1, d3 and d4 tie at 1.0 behind d2 (3.0): the exact top 2 is d2, d1; d3 and d4 tie with its 2nd score
    indptr = np.array([0, 1, 2, 4, 5, 6, 7], np.int64)
    indices = np.array([1, 0, 0, 1, 0, 0, 1], np.int32)
    values = np.array([1.0, 0.5, 1.5, 2.0, 0.5, 0.5, 0.25], np.float32)
    vectors = SparseVectors(indptr, indices, values, ["a", "b"], [f"d{i}" for i in range(6)])
    reference = ExactEngine(vectors).batch_search(["q"], [{"a": 2.0}], k=2, ties=True).as_run()
    assert [doc for doc, _ in reference["q"]] == ["d2", "d1", "d3", "d4"]
    assert accuracy_at_k({"q": [("d2", 3.0), ("d4", 1.0)]}, reference, k=2) == 1.0  # a tie, not a miss
    assert accuracy_at_k({"q": [("d2", 3.0), ("d5", 0.5)]}, reference, k=2) == 0.5  # d5 scores 0: a miss
    assert accuracy_at_k({"q": [("d4", 1.0), ("d3", 1.0)]}, reference, k=2) == 0.5  # d2 missed
    plain = ExactEngine(vectors).batch_search(["q"], [{"a": 2.0}], k=2).as_run()
    assert [doc for doc, _ in plain["q"]] == ["d2", "d1"]  # without ties=true: the top k only
