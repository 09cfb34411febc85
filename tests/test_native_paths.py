"""The native engine's fallback paths: the scalar dot product chosen with LILSR_NO_SIMD=1 even when numba's
cache holds the AVX2 build, and the wide forward index (32-bit component ids) of a vocabulary over 65,536
tokens. Small synthetic stores: each path is checked against exact search, nothing pruned or skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ranking_checks import assert_same_ranking

from lilsr_tools.engines.exact import ExactEngine
from lilsr_tools.engines.native import NativeEngine
from lilsr_tools.engines.native.layout import stored_values
from lilsr_tools.engines.native.lowlevel import HAVE_AVX2
from lilsr_tools.vectors import SparseVectors

REPO = Path(__file__).resolve().parents[1]
EXHAUSTIVE = {"query_cut": 10_000, "heap_factor": 0.0}  # every query list scanned, no block skipped


def synthetic_store(n_docs: int, vocab_size: int, per_doc: int, seed: int, wide_share: float = 0.0) -> SparseVectors:
    """Random documents of ``per_doc`` components; ``wide_share`` of them drawn from ids >= 65,536."""
    rng = np.random.default_rng(seed)
    indptr, indices, values = [0], [], []
    for _ in range(n_docs):
        wide = int(round(wide_share * per_doc))
        comps = np.concatenate([rng.choice(min(vocab_size, 1 << 16), per_doc - wide, replace=False),
                                rng.choice(np.arange(1 << 16, vocab_size), wide, replace=False)]).astype(np.int32)
        comps = np.unique(comps)
        indices.append(comps)
        values.append(rng.lognormal(0.0, 0.7, comps.size).astype(np.float32))
        indptr.append(indptr[-1] + comps.size)
    vocab = [f"t{i}" for i in range(vocab_size)]
    return SparseVectors(np.asarray(indptr, np.int64), np.concatenate(indices), np.concatenate(values), vocab,
                         [f"d{i}" for i in range(n_docs)])


def synthetic_queries(store: SparseVectors, n: int, seed: int) -> list[dict]:
    """Queries made of components of random documents (so they match), random positive weights."""
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(n):
        d = int(rng.integers(len(store)))
        comps = store.indices[store.indptr[d]:store.indptr[d + 1]]
        picked = rng.choice(comps, min(8, comps.size), replace=False)
        queries.append({store.vocab[c]: float(w) for c, w in zip(picked, rng.uniform(0.1, 2.0, picked.size))})
    return queries


def as_stored(store: SparseVectors, value_bits: int) -> ExactEngine:
    """Exact search over the weights as the forward index stores them."""
    rounded = stored_values(store.indptr, store.values, value_bits)
    return ExactEngine(SparseVectors(store.indptr, store.indices, rounded, store.vocab, store.ids))


@pytest.mark.parametrize("value_bits", [16, 8])
def test_vocabulary_over_65536_takes_the_wide_path_and_equals_exact(value_bits, tmp_path):
    store = synthetic_store(n_docs=300, vocab_size=70_000, per_doc=40, seed=1, wide_share=0.5)
    assert store.indices.max() >= 1 << 16
    NativeEngine.build(store, tmp_path / "wide", threads=1, progress=False, blocks="fixed:8", value_bits=value_bits)
    engine = NativeEngine.load(tmp_path / "wide")
    manifest = json.loads((tmp_path / "wide" / "manifest.json").read_text())
    assert manifest["component_dtype"] == "uint32"
    assert engine.arrays.fwd.dtype == (np.uint64 if value_bits == 16 else np.int32)
    queries = synthetic_queries(store, 20, seed=2)
    qids = [f"q{i}" for i in range(len(queries))]
    exact = as_stored(store, value_bits)
    for k in (10, 1000):
        ours = engine.batch_search(qids, queries, k=k, **EXHAUSTIVE)
        assert_same_ranking(ours, exact.batch_search(qids, queries, k=k))
    assert ours.info["simd"] is False  # the AVX2 gathers read 16-bit component ids only


SEARCH_SCRIPT = """
import json, sys
from lilsr_tools.engines.native import NativeEngine
queries = json.loads(open(sys.argv[2]).read())
results = NativeEngine.load(sys.argv[1]).batch_search([f"q{i}" for i in range(len(queries))], queries, k=10)
print(json.dumps({"ids": results.doc_ids, "scores": [s.tolist() for s in results.scores],
                  "simd": results.info["simd"]}))
"""


def search_in_subprocess(index: Path, queries: Path, no_simd: bool) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "LILSR_NO_SIMD"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if no_simd:
        env["LILSR_NO_SIMD"] = "1"
    done = subprocess.run([sys.executable, "-c", SEARCH_SCRIPT, str(index), str(queries)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_simd_is_honoured_when_the_cache_holds_the_simd_build(tmp_path):
    """Before: the AVX2/scalar choice was read from a global while compiling, and numba's cache (keyed by
    argument types and CPU, not globals) served the AVX2 build cached by a plain run to LILSR_NO_SIMD=1."""
    store = synthetic_store(n_docs=300, vocab_size=5_000, per_doc=60, seed=3)
    NativeEngine.build(store, tmp_path / "index", threads=1, progress=False, blocks="fixed:8")
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps(synthetic_queries(store, 20, seed=4)))
    simd = search_in_subprocess(tmp_path / "index", queries, no_simd=False)  # caches the AVX2 build if any
    scalar = search_in_subprocess(tmp_path / "index", queries, no_simd=True)
    assert simd["simd"] is HAVE_AVX2
    assert scalar["simd"] is False
    assert scalar["ids"] == simd["ids"]
    for a, b in zip(scalar["scores"], simd["scores"]):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # the lanes are summed in another order
