"""Engine parameters declared once (``engines/param_specs.py``): one validator, one message format, the
tuning grids the studies use, and the declarations agree with what the engines build with."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lilsr_tools.engines import ENGINES, get_engine
from lilsr_tools.engines.param_specs import SPECS
from lilsr_tools.errors import LilsrError

SEISMIC_GRID = tuple({"query_cut": qc, "heap_factor": hf} for qc in (5, 10, 20, 40) for hf in (0.6, 0.7, 0.8, 0.9, 1.0))
# the grids studies tuned over before the specs (ablate, benchmarks): the values and their order are kept
GRIDS = {
    "native": SEISMIC_GRID,
    # plus the query cuts of Seismic's published recall-95 points (4 and 7)
    "seismic-rs": tuple({"query_cut": qc, "heap_factor": hf} for qc in (4, 5, 7, 10, 20, 40)
                        for hf in (0.6, 0.7, 0.8, 0.9, 1.0)),
    "bmp": tuple({"alpha": a, "beta": b} for a in (0.6, 0.8, 0.9, 1.0) for b in (0.7, 0.9, 1.0)),
    "kannolo": tuple({"ef_search": ef} for ef in (20, 40, 80, 160, 320, 640)),
    "pisa": ({"query_algorithm": "maxscore"}, {"query_algorithm": "block_max_wand"}),
}


@pytest.mark.parametrize("engine", sorted(GRIDS))
def test_tuning_grid_comes_from_the_spec(engine):
    from lilsr_tools.engines.base import tuning_grid

    assert tuning_grid(get_engine(engine)) == SPECS[engine].tuning_grid() == GRIDS[engine]


def test_every_engine_declares_its_parameters():
    assert set(SPECS) == set(ENGINES)
    for name in ENGINES:
        assert get_engine(name).param_spec is SPECS[name]


def test_native_build_spec_matches_build_params():
    from lilsr_tools.engines.native.build import BuildParams

    fields = {f.name: f.default for f in dataclasses.fields(BuildParams)}
    assert SPECS["native"].defaults("build") == fields


def test_pisa_default_scale_is_the_conversion_default():
    from lilsr_tools.engines.param_specs import PISA_DEFAULT_SCALE
    from lilsr_tools.vectors.convert import DEFAULT_SCALE

    assert PISA_DEFAULT_SCALE == DEFAULT_SCALE


# (engine, stage, params, the message): one format, "<engine> <stage> parameter <name> must be ..., not <value>"
REFUSED = [
    ("native", "search", {"query_cut": 0}, "native search parameter query_cut must be a whole number >= 1"),
    ("native", "search", {"query_cut": 1.5}, "query_cut must be a whole number >= 1"),
    ("native", "search", {"heap_factor": "nan"}, r"heap_factor must be a number in [0, 1]"),
    ("native", "search", {"sorted": 2}, "native search parameter sorted must be true or false, not 2"),
    ("native", "search", {"block_order": "diagonal"}, "block_order must be one of global, lists, not 'diagonal'"),
    ("seismic-rs", "build", {"centroid_fraction": 0}, "seismic-rs build parameter centroid_fraction must be a "
                                                      "number in (0, 1], not 0"),
    ("bmp", "build", {"bsize": 512}, "bmp build parameter bsize must be in 1..256"),
    ("bmp", "search", {"alpha": 0}, "bmp search parameter alpha must be a number in (0, 1]"),
    ("kannolo", "build", {"variant": "u4"}, "kannolo build parameter variant must be one of plain, u16, u8, "
                                            "packing8, not 'u4'"),
    ("pisa", "search", {"query_scale": "nan"}, "pisa search parameter query_scale must be a number > 0, not 'nan'"),
    ("milvus", "search", {"batch_size": 0}, "milvus search parameter batch_size must be a whole number >= 1"),
    ("milvus", "build", {"drop_ratio_build": 1}, "drop_ratio_build must be a number in [0, 1), not 1"),
    ("exact", "search", {"ties": "maybe"}, "exact search parameter ties must be true or false, not 'maybe'"),
]


@pytest.mark.parametrize("engine, stage, params, message", REFUSED)
def test_one_message_format(engine, stage, params, message):
    with pytest.raises(LilsrError) as refused:
        SPECS[engine].parse(stage, params)
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("engine, stage, params", [
    # before the specs, int() truncated these silently: ef_search=1.5 searched with 1, bsize=32.7 built 32
    ("kannolo", "search", {"ef_search": 1.5}),
    ("kannolo", "build", {"m": 16.5}),
    ("bmp", "build", {"bsize": 32.7}),
    ("pisa", "build", {"block_size": 64.5}),
    # and a bool was taken as a number (True: 1)
    ("kannolo", "search", {"ef_search": True}),
    ("pisa", "build", {"scale": True}),
])
def test_fractional_or_bool_counts_refused(engine, stage, params):
    with pytest.raises(LilsrError, match=f"{engine} {stage} parameter {next(iter(params))} must be"):
        SPECS[engine].parse(stage, params)


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(LilsrError, match="unknown bmp search parameter.*alpah; known: alpha, beta"):
        SPECS["bmp"].parse("search", {"alpah": 0.5})


def test_cli_strings_parse_like_python_values():
    """``-p key=value`` hands strings (or what parse_params made of them): both give the same parameters."""
    native = SPECS["native"]
    assert native.parse("search", {"query_cut": "12", "heap_factor": "0.5", "sorted": "false"}, k=1000) == \
        native.parse("search", {"query_cut": 12, "heap_factor": 0.5, "sorted": False}, k=1000)
    assert SPECS["bmp"].parse("build", {"scale": "auto"})["scale"] is None
    assert SPECS["kannolo"].parse("search", {"early_exit_threshold": "none"})["early_exit_threshold"] is None
    assert SPECS["milvus"].parse("build", {"inverted_index_algo": "daat_wand"})["inverted_index_algo"] == "DAAT_WAND"


def test_defaults_per_k():
    native = SPECS["native"]
    assert [native.defaults("search", k)["query_cut"] for k in (10, 100, 1000)] == [10, 20, 20]
    assert [native.defaults("search", k)["heap_factor"] for k in (10, 100, 1000)] == [0.7, 1.0, 0.9]


DOCS = Path(__file__).resolve().parents[1] / "docs"
# every engine with search parameters has its generated table in its guide
DOCUMENTED = {"native": "native.md", "seismic-rs": "seismic-rs.md", "bmp": "bmp.md", "kannolo": "kannolo.md",
              "pisa": "pisa.md", "milvus": "milvus.md"}


@pytest.mark.parametrize("engine, guide", sorted(DOCUMENTED.items()))
def test_doc_parameter_table_is_the_spec(engine, guide):
    from lilsr_tools.engines.param_docs import doc_tables, render_table

    tables = doc_tables((DOCS / guide).read_text())
    assert [(e, s) for e, s, _ in tables] == [(engine, "search")], f"docs/{guide} lost its marked table"
    assert tables[0][2] == render_table(engine, "search"), (
        f"docs/{guide}'s parameter table differs from engines/param_specs.py: run "
        f"'python -m lilsr_tools.engines.param_docs docs/{guide}'")


def test_a_changed_spec_shows_in_the_table():
    """The check can fail: a default changed in the spec no longer matches the table written from the old one."""
    from lilsr_tools.engines import param_docs

    written = param_docs.render_table("bmp", "search")
    changed = dataclasses.replace(SPECS["bmp"], search=(dataclasses.replace(SPECS["bmp"].search[0], default=0.5),
                                                        *SPECS["bmp"].search[1:]))
    original = param_docs.param_specs.SPECS["bmp"]
    try:
        param_docs.param_specs.SPECS["bmp"] = changed
        assert param_docs.render_table("bmp", "search") != written
        assert "| `alpha` | 0.5 |" in param_docs.render_table("bmp", "search")
    finally:
        param_docs.param_specs.SPECS["bmp"] = original


@pytest.fixture
def toy_engine(monkeypatch):
    """The engine of docs/design.md's walk-through, registered from its class and spec alone (the block is
    run as written, so the guide cannot drift from what works); the registries are restored afterwards."""
    import re

    import lilsr_tools.engines as engines
    from lilsr_tools.engines import param_specs

    monkeypatch.setattr(engines, "ENGINES", dict(engines.ENGINES))
    monkeypatch.setattr(engines, "REGISTERED", dict(engines.REGISTERED))
    monkeypatch.setattr(param_specs, "SPECS", dict(param_specs.SPECS))
    guide = (DOCS / "design.md").read_text()
    block = re.search(r"<!-- engine-walkthrough -->\n```python\n(.*?)```", guide, re.S).group(1)
    namespace = {"__name__": "design_walkthrough"}
    exec(compile(block, "docs/design.md", "exec"), namespace)
    return namespace["MinWeightEngine"]


def test_a_toy_engine_registered_from_its_spec_searches(toy_engine, small_vectors, small_queries):
    from lilsr_tools.engines.base import tuning_grid
    from lilsr_tools.engines.exact import ExactEngine
    from lilsr_tools.engines.param_docs import render_table
    from lilsr_tools.engines.search import QueryBatch, run_search

    assert get_engine("exact-min-weight") is toy_engine
    assert tuning_grid(get_engine("exact-min-weight")) == ({"min_weight": 0.0}, {"min_weight": 0.5},
                                                           {"min_weight": 1.0})
    assert "| `min_weight` | 0 | a number >= 0 | 0, 0.5, 1 |" in render_table("exact-min-weight", "search")

    engine = get_engine("exact-min-weight").load(small_vectors.path)
    batch = QueryBatch(list(small_queries.qids), vectors=list(small_queries.vectors))
    exact = ExactEngine(small_vectors).batch_search(batch.qids, batch.vectors, k=10)
    assert run_search(engine, batch, k=10, warmup=0, min_weight=0).doc_ids == exact.doc_ids
    # a real cut: the query's light terms go, so some ranking changes, and above every weight nothing is found
    heaviest = max(w for q in batch.vectors for w in q.values())
    middle = sorted(w for q in batch.vectors for w in q.values())[len([w for q in batch.vectors for w in q.values()]) // 2]
    assert run_search(engine, batch, k=10, warmup=0, min_weight=middle).doc_ids != exact.doc_ids
    assert all(ids == [] for ids in run_search(engine, batch, k=10, warmup=0, min_weight=heaviest * 2).doc_ids)

    with pytest.raises(LilsrError, match=r"exact-min-weight search parameter min_weight must be a number >= 0, "
                                         r"not -1"):
        run_search(engine, batch, k=10, warmup=0, min_weight=-1)
    with pytest.raises(LilsrError, match="unknown exact-min-weight search parameter.*min_wieght; known: min_weight"):
        run_search(engine, batch, k=10, warmup=0, min_wieght=1)


def test_register_engine_refuses_an_engine_without_a_spec(monkeypatch):
    import lilsr_tools.engines as engines
    from lilsr_tools.engines.exact import ExactEngine

    monkeypatch.setattr(engines, "ENGINES", dict(engines.ENGINES))

    class Unspecified(ExactEngine):
        name = "unspecified"
        param_spec = None

    with pytest.raises(LilsrError, match="declares no parameters"):
        engines.register_engine(Unspecified)
    with pytest.raises(LilsrError, match="exists already"):
        engines.register_engine(type("Again", (ExactEngine,), {"name": "native"}))
