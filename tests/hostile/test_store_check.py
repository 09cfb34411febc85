"""The vectorised store check against a plain per-row reference, on random stores and random damage: it must
refuse exactly the stores the reference refuses (empty rows, chunk boundaries and every kind of damage)."""

from __future__ import annotations

import numpy as np
import pytest

from lilsr_tools.errors import LilsrError
from lilsr_tools.vectors import store as store_module
from lilsr_tools.vectors.store import SparseVectors, validate


def reference_ok(indptr, indices, values, vocab_size) -> bool:
    for r in range(len(indptr) - 1):
        row = indices[indptr[r]:indptr[r + 1]]
        weights = values[indptr[r]:indptr[r + 1]]
        if any(t < 0 or t >= vocab_size for t in row) or any(b <= a for a, b in zip(row, row[1:])):
            return False
        if not all(np.isfinite(w) and w > 0 for w in weights):
            return False
    return True


def random_store(rng, n_docs: int, vocab_size: int):
    lengths = rng.integers(0, 12, n_docs) * (rng.random(n_docs) > 0.2)  # some empty rows
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(vocab_size, n, replace=False)) for n in lengths]
                             + [np.zeros(0, np.int64)]).astype(np.int32)
    values = rng.uniform(0.01, 3.0, indptr[-1]).astype(np.float32)
    return indptr, indices, values


DAMAGE = ["none", "swap", "duplicate", "too_big", "negative_id", "nan", "inf", "zero", "negative_weight"]


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_check_matches_the_reference(seed, monkeypatch):
    monkeypatch.setattr(store_module, "_CHECK_CHUNK", 7)  # many chunk boundaries inside and between rows
    rng = np.random.default_rng(seed)
    vocab_size = 50
    for damage in DAMAGE:
        indptr, indices, values = random_store(rng, 25, vocab_size)
        nnz = len(indices)
        j = int(rng.integers(1, nnz)) if nnz > 1 else 0
        if damage == "swap":
            indices[j - 1], indices[j] = indices[j], indices[j - 1]
        elif damage == "duplicate":
            indices[j] = indices[j - 1]
        elif damage == "too_big":
            indices[j] = vocab_size + int(rng.integers(0, 3))
        elif damage == "negative_id":
            indices[j] = -1
        elif damage in ("nan", "inf", "zero", "negative_weight"):
            values[j] = {"nan": np.nan, "inf": np.inf, "zero": 0.0, "negative_weight": -0.5}[damage]
        vectors = SparseVectors(indptr, indices, values, [f"t{i}" for i in range(vocab_size)],
                                [f"d{i}" for i in range(len(indptr) - 1)])
        expected = reference_ok(indptr, indices, values, vocab_size)
        try:
            validate(vectors, "random")
            accepted = True
        except LilsrError:
            accepted = False
        assert accepted == expected, (seed, damage, j)
