"""Exact brute-force search with scipy: the ground truth for accuracy@k.

The "index" is the vector store itself; we keep its transpose (term-major CSR) so each query touches only
the rows of its own terms.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..vectors.store import SparseVectors, load_vectors, posting_lengths, posting_stats
from .base import SearchResults, check_known_params, folder_bytes, queries_to_ids, top_k
from .checks import checked_search


class ExactEngine:
    name = "exact"
    query_input = "vector"

    def __init__(self, vectors: SparseVectors):
        self.vectors = vectors
        self.vocab = vectors.vocab
        self._token_ids = {token: i for i, token in enumerate(vectors.vocab)}
        self._by_term = vectors.csr.T.tocsr()  # [vocab, docs]

    @classmethod
    def build(cls, source, out=None, *, overwrite: bool = False, **params) -> Path:
        """Nothing to build: exact search reads the vector store directly."""
        return Path(source.path if isinstance(source, SparseVectors) else source)

    @classmethod
    def load(cls, path, **options) -> "ExactEngine":
        vectors = path if isinstance(path, SparseVectors) else load_vectors(path)
        return cls(vectors)

    def score_all(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Dot product of one query with every document, float32."""
        if ids.size == 0:
            return np.zeros(len(self.vectors), dtype=np.float32)
        return np.asarray(self._by_term[ids].T @ weights, dtype=np.float32).reshape(-1)

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Each query timed on the call clock: mapping its tokens, scoring every document, the top k and
        their external ids (exact search has no clock of its own beyond that)."""
        check_known_params(params, (), "exact search")
        doc_ids, scores = [], []
        times = np.empty(len(queries), dtype=np.int64)
        ids_of = self.vectors.ids
        unknown = 0
        for i, query in enumerate(queries):
            start = time.perf_counter_ns()
            [(ids, weights)], missing = queries_to_ids([query], self._token_ids)
            all_scores = self.score_all(ids, weights)
            best = top_k(all_scores, k)
            found = [ids_of[j] for j in best]
            times[i] = time.perf_counter_ns() - start
            unknown += missing
            doc_ids.append(found)
            scores.append(all_scores[best])
        return SearchResults(list(qids), doc_ids, scores, times, unknown,
                             {"engine": self.name, "k": k, "timing": "call clock (scipy; no engine clock)"})

    def index_stats(self) -> dict:
        stats = posting_stats(posting_lengths(self.vectors))
        if self.vectors.path:
            stats["index_bytes"] = folder_bytes(self.vectors.path)
        return stats
