"""A huge but finite query weight overflows float32 scores to inf in any engine that multiplies in float32:
every engine refuses such results with one line naming the engine and the query (engines/checks.py), for the
engines whose arithmetic is float32 here (exact, native); the others are covered in test_engine_values.py."""

from __future__ import annotations

import pytest

from lilsr_tools.errors import LilsrError


@pytest.mark.parametrize("engine_name", ["exact", "native"])
def test_a_query_weight_that_overflows_scores_is_refused_naming_engine_and_query(tiny, tiny_native, engine_name):
    from lilsr_tools.engines import get_engine
    from lilsr_tools.vectors.store import load_vectors

    store = load_vectors(tiny.store)
    engine = get_engine(engine_name).load(tiny.store if engine_name == "exact" else tiny_native)
    import numpy as np

    token = store.vocab[int(store.indices[int(np.argmax(store.values))])]  # the store's largest weight (> 1)
    fine = engine.batch_search(["ok"], [{token: 1.0}], k=5)
    assert fine.doc_ids[0]
    with pytest.raises(LilsrError, match=rf"{engine_name}: query 'huge' scored a document inf"):
        engine.batch_search(["huge"], [{token: 3.0e38}], k=5)  # x a weight > 1.2: past float32's 3.4e38
