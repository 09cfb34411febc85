"""Comparing an engine's run with exact search's, shared by the native tests."""

from __future__ import annotations

import numpy as np


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
