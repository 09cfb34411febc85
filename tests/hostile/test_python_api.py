"""The Python API is as strict as the CLI: ``Searcher``, the PyTerrier retriever and every engine's
``batch_search`` refuse bad ``k``/``threads``, non-string query ids, bad weights, odd encoder outputs and an
encoder over another vocabulary, with a ``ValueError`` or ``TypeError`` whose message says what to change
(before: hits for k=-1, weights dropped silently, internal TypeErrors)."""

from __future__ import annotations

import math

import pytest

BAD_K = [(0, ValueError, "at least 1"), (-1, ValueError, "at least 1"), ("10", TypeError, "integer"),
         (1.5, TypeError, "integer"), (True, TypeError, "integer"), (None, TypeError, "integer")]
BAD_WEIGHTS = [(-1.0, ValueError, "non-negative"), (math.nan, ValueError, "finite"), (math.inf, ValueError, "finite"),
               ("1.0", TypeError, "numbers"), (True, TypeError, "numbers")]


@pytest.fixture(scope="module")
def searcher(tiny):
    from lilsr_tools import Searcher

    return Searcher(tiny.store, encoder=tiny.table)


@pytest.fixture(scope="module")
def token(tiny):
    from lilsr_tools.vectors.queries import load_encoded_queries

    return next(iter(load_encoded_queries(tiny.queries)[0].vectors[0]))


@pytest.mark.parametrize("k,error,message", BAD_K, ids=[repr(k) for k, _, _ in BAD_K])
def test_searcher_search_refuses_bad_k(searcher, k, error, message):
    with pytest.raises(error, match=message):
        searcher.search("vitamin d", k=k)


@pytest.mark.parametrize("k,error,message", BAD_K, ids=[repr(k) for k, _, _ in BAD_K])
def test_searcher_batch_search_refuses_bad_k(searcher, k, error, message):
    with pytest.raises(error, match=message):
        searcher.batch_search(["vitamin d", "bone density"], k=k)


@pytest.mark.parametrize("threads", [0, 1.0, "2"])
def test_searcher_refuses_bad_threads(searcher, threads):
    with pytest.raises((ValueError, TypeError), match="threads"):
        searcher.batch_search(["vitamin d"], k=3, threads=threads)


def test_searcher_refuses_a_text_that_is_not_a_string(searcher):
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        searcher.batch_search(["vitamin d", 42], k=3)


class _Odd:
    """An encoder whose ``encode`` returns ``output``."""

    name = "odd"

    def __init__(self, output):
        self.output = output

    def encode(self, text):
        return self.output


ODD_OUTPUTS = [(None, TypeError, "mapping"), ([("a", 1.0)], TypeError, "mapping"), ({1: 1.0}, TypeError, "tokens"),
               ({"a": -2.0}, ValueError, "non-negative"), ({"a": math.inf}, ValueError, "finite"),
               ({"a": math.nan}, ValueError, "finite"), ({"a": "x"}, TypeError, "numbers")]


@pytest.mark.parametrize("output,error,message", ODD_OUTPUTS, ids=[repr(o) for o, _, _ in ODD_OUTPUTS])
def test_searcher_refuses_odd_encoder_output(tiny, output, error, message):
    from lilsr_tools import Searcher

    searcher = Searcher(tiny.store, encoder=_Odd(output))
    with pytest.raises(error, match=message):
        searcher.search("anything", k=3)
    with pytest.raises(error, match="encoder odd"):
        searcher.batch_search(["anything"], k=3)


def test_searcher_refuses_an_encoder_over_another_vocabulary(tiny):
    """A table of another model (same size, two tokens swapped) against the store: refused, as the CLI does."""
    from lilsr_tools import Searcher
    from lilsr_tools.models.query_encoders import make_query_encoder

    encoder = make_query_encoder("table", table=tiny.table)
    encoder.vocab = list(encoder.vocab)
    encoder.vocab[2000], encoder.vocab[2001] = encoder.vocab[2001], encoder.vocab[2000]
    with pytest.raises(ValueError, match="vocabulary .* not the one"):
        Searcher(tiny.store, encoder=encoder)


ENGINES = ["exact", "kannolo", "bmp", "pisa", "seismic-rs"]


@pytest.fixture(scope="module")
def engines(tiny, tiny_engine_index):
    from lilsr_tools.engines import get_engine

    loaded = {"exact": get_engine("exact").load(tiny.store)}
    for name in ENGINES[1:]:
        loaded[name] = get_engine(name).load(tiny_engine_index(name))
    return loaded


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("k,error,message", BAD_K[:4], ids=[repr(k) for k, _, _ in BAD_K[:4]])
def test_engine_batch_search_refuses_bad_k(engines, engine, token, k, error, message):
    with pytest.raises(error, match=message):
        engines[engine].batch_search(["q1"], [{token: 1.0}], k=k)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("weight,error,message", BAD_WEIGHTS, ids=[repr(w) for w, _, _ in BAD_WEIGHTS])
def test_engine_batch_search_refuses_bad_weights(engines, engine, token, weight, error, message):
    with pytest.raises(error, match=message):
        engines[engine].batch_search(["q1"], [{token: weight}], k=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_batch_search_refuses_bad_query_ids(engines, engine, token):
    with pytest.raises(TypeError, match="query ids are strings"):
        engines[engine].batch_search([1], [{token: 1.0}], k=5)
    with pytest.raises(ValueError, match="1 query ids for 2 queries"):
        engines[engine].batch_search(["q1"], [{token: 1.0}, {token: 2.0}], k=5)
    with pytest.raises(TypeError, match="not a single one"):
        engines[engine].batch_search("q1", {token: 1.0}, k=5)


def test_pyterrier_retriever_refuses_bad_k_and_weights(tiny, token):
    import pandas as pd

    from lilsr_tools import pyterrier as lpt

    with pytest.raises(ValueError, match="k must be at least 1"):
        lpt.retriever(tiny.store, k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        lpt.retriever(tiny.store, k="10")
    retriever = lpt.retriever(tiny.store, k=5)
    with pytest.raises(ValueError, match="finite"):
        retriever.transform(pd.DataFrame({"qid": ["1"], "query_toks": [{token: math.nan}]}))
    hits = retriever.transform(pd.DataFrame({"qid": [1], "query_toks": [{token: 1.0}]}))
    assert len(hits) and set(hits["qid"]) == {"1"}


def test_pyterrier_retriever_refuses_queries_over_another_vocabulary(tiny):
    """``table_encoder(other table) >> retriever(index)``: the encoder stamps its vocabulary digest on the
    rows and the retriever refuses it, as ``lilsr search`` and ``Searcher`` do (before: hits over the wrong
    postings); the index's own table passes."""
    import pandas as pd

    from lilsr_tools import pyterrier as lpt
    from lilsr_tools.models.query_encoders import make_query_encoder

    topics = pd.DataFrame({"qid": ["1", "2"], "query": ["cancer cells", "vitamin d deficiency"]})
    own = lpt.table_encoder(tiny.table)
    retriever = lpt.retriever(tiny.store, k=5)
    assert len((own >> retriever).transform(topics))
    encoder = make_query_encoder("table", table=tiny.table)
    encoder.vocab = list(encoder.vocab)
    encoder.vocab[2000], encoder.vocab[2001] = encoder.vocab[2001], encoder.vocab[2000]
    other = lpt.QueryEncoderTransformer(encoder)
    with pytest.raises(ValueError, match=r"another vocabulary \(digest [0-9a-f]+\) than .*put the table or model"):
        (other >> retriever).transform(topics)
