"""The report says its answer: Findings sentences generated from a small results table, significance
between every pair a reader compares, readable headers, and ``sig`` beside the measure it tests."""

import numpy as np
import pandas as pd
import pytest

from lilsr_tools.reports.compare import effectiveness_table
from lilsr_tools.reports.findings import density_findings, findings
from lilsr_tools.reports.headers import readable
from lilsr_tools.reports.pairs import SAME_SETTING, pairwise_table
from lilsr_tools.reports.render import Block, write_report
from lilsr_tools.reports.table import results_frame

MEASURES = ["nDCG@10", "R@1000"]
QUERIES = [f"q{i}" for i in range(40)]
NOISE = np.random.default_rng(0).uniform(-0.05, 0.05, size=len(QUERIES))


def record(cell, engine, per_query, *, model=None, encoder=None, nnz=None, p50=1.0, encode=0.0):
    """A cell record as ``cells.run_cell`` writes it, with the numbers the findings read."""
    latency = {"encode": {"mean_ms": encode, "p50_ms": encode, "p99_ms": encode},
               "retrieval": {"mean_ms": p50, "p50_ms": p50, "p99_ms": p50 * 2},
               "total": {"mean_ms": p50 + encode, "p50_ms": p50 + encode, "p99_ms": 2 * p50 + encode},
               "retrieval_engine_clock": None}
    return {"cell": cell, "engine": engine, "model": model, "encoder": encoder, "build": {}, "search": {},
            "status": "ok", "per_query": dict(zip(QUERIES, per_query)),
            "metrics": {"nDCG@10": float(np.mean(per_query)), "R@1000": 0.9}, "latency": latency,
            "index_stats": {"index_bytes": 1_000_000}, "mean_doc_nnz": nnz, "mean_query_nnz": 5.0,
            "accuracy@10": 1.0}


def sweep_records(small_nnz=79.0, big_nnz=174.0):
    """BM25 well above two Li-LSR models (Small sparse, Big dense) that are level with each other; each
    model on Lucene and native with table queries; Big slower than Small on both engines."""
    bm25 = 0.75 + NOISE
    big = 0.55 + NOISE[::-1]
    small = big - 0.002 + 0.01 * np.sin(np.arange(len(QUERIES)))  # level with big: not significant
    return [record("bm25", "bm25", bm25, p50=1.3),
            record("small/table/lucene", "lucene", small, model="small", encoder="table", nnz=small_nnz, p50=0.40),
            record("big/table/lucene", "lucene", big, model="big", encoder="table", nnz=big_nnz, p50=0.55),
            record("small/table/native", "native", small, model="small", encoder="table", nnz=small_nnz, p50=0.30),
            record("big/table/native", "native", big, model="big", encoder="table", nnz=big_nnz, p50=0.51)]


LAMBDAS = {"small": 1e-3, "big": 1e-5}


def report_sentences(records, lambdas=LAMBDAS):
    frame = results_frame(records, MEASURES, "bm25")
    pairs = pairwise_table(records, "nDCG@10", "bm25")
    return findings(frame, "nDCG@10", pairs=pairs, per_query={r["cell"]: r["per_query"] for r in records},
                    baseline="bm25", lambdas=lambdas)


def test_findings_name_the_best_system_its_margin_and_its_test():
    sentences = report_sentences(sweep_records())
    best = sentences[0]
    assert best.startswith("Best on nDCG@10: bm25 at 0.7")
    # the next system is big · table at its best cell, 0.2 below, and the paired test says significant
    assert "above the next system, big · table at 0.5" in best
    assert "the difference is significant (paired t-test, p < 0.001)" in best


def test_findings_say_which_pairs_differ_significantly():
    sentences = report_sentences(sweep_records())
    against = next(s for s in sentences if s.startswith("Against the baseline bm25"))
    assert "of 4 cells: 0 significantly better; 4 significantly worse" in against
    assert "0 not significantly different" in against
    # model against model where nothing else differs: level models are said to be level
    pair = next(s for s in sentences if "with table queries" in s)
    assert pair.startswith("big above small with table queries")
    assert "not significant on either engine" in pair


def test_model_vs_model_pairs_are_tested_at_the_same_engine_and_encoder():
    pairs = pairwise_table(sweep_records(), "nDCG@10", "bm25")
    same = pairs[pairs["pair"] == SAME_SETTING]
    assert sorted(zip(same["cell"], same["other"])) == [("small/table/lucene", "big/table/lucene"),
                                                        ("small/table/native", "big/table/native")]
    assert len(pairs) == 4 + 2 and pairs["p"].between(0, 1).all()
    assert set(pairs.loc[pairs["pair"] != SAME_SETTING, "other"]) == {"bm25"}


def test_findings_say_how_each_engines_latency_moved_with_density():
    sentences = report_sentences(sweep_records())
    assert "Lucene p50 went from 0.40 ms (small, lambda_d 0.001, 79 nnz/doc) to 0.55 ms (big, lambda_d 1e-05, " \
           "174 nnz/doc), x1.38." in sentences
    assert "native p50 went from 0.30 ms (small, lambda_d 0.001, 79 nnz/doc) to 0.51 ms (big, lambda_d 1e-05, " \
           "174 nnz/doc), x1.70." in sentences
    assert any(s.startswith("Density: documents go from 79 non-zeros a document (small) to 174 (big), x2.20")
               for s in sentences)
    assert sentences[-1].endswith("docs/scale.md.")


def test_no_density_sentence_without_several_densities():
    same_density = report_sentences(sweep_records(small_nnz=170.0, big_nnz=174.0))
    assert not any("p50 went" in s or "docs/scale.md" in s for s in same_density)
    one_model = [r for r in sweep_records() if r["model"] != "small"]
    assert not any("p50 went" in s for s in report_sentences(one_model))
    # an untrained model beside the sweep stays out of the lambda sentences
    records = sweep_records() + [record("tiny/table/lucene", "lucene", 0.5 + NOISE[::-1], model="tiny", encoder="table",
                                        nnz=248.0, p50=0.9)]
    frame = results_frame(records, MEASURES, "bm25")
    lucene = next(s for s in density_findings(frame, "nDCG@10", {**LAMBDAS, "tiny": None}) if s.startswith("Lucene"))
    assert "tiny" not in lucene and lucene.endswith("x1.38.")


def test_sig_sits_beside_the_measure_it_tests_and_headers_are_readable(tmp_path):
    frame = results_frame(sweep_records(), MEASURES, "bm25")
    columns = list(frame.columns)
    assert columns[columns.index("nDCG@10") + 1: columns.index("nDCG@10") + 3] == ["sig", "p_vs_baseline"]
    table = effectiveness_table(frame, MEASURES)
    assert list(table.columns[:5]) == ["cell", "nDCG@10", "sig", "p_vs_baseline", "R@1000"]
    md, html = write_report([Block("list", ["First finding."]), Block("table", table)], tmp_path, "t")
    text = md.read_text()
    assert "| cell | nDCG@10 | sig | p vs baseline | R@1000 |" in text
    assert "encode mean (ms)" in text and "retrieve p50 (ms)" in text and "index (MB)" in text
    assert "encode_mean_ms" not in text and "_ms" not in html.read_text()
    assert text.startswith("- First finding.") and "<li>First finding.</li>" in html.read_text()


@pytest.mark.parametrize("name, shown", [("encode_mean_ms", "encode mean (ms)"),
                                         ("retrieval_p50_ms", "retrieve p50 (ms)"),
                                         ("build_peak_rss_GiB", "build peak RSS (GiB)"),
                                         ("build_s", "build (s)"), ("mean_doc_nnz", "doc non-zeros (mean)"),
                                         ("nDCG@10", "nDCG@10"), ("postings", "postings")])
def test_readable_headers(name, shown):
    assert readable(name) == shown


def test_every_engine_has_a_colour_of_its_own():
    from lilsr_tools.engines import ENGINES
    from lilsr_tools.reports.plots import engine_color

    colours = [engine_color(engine) for engine in ENGINES]
    assert len(set(colours)) == len(ENGINES)


def test_lambda_plot_tells_engines_and_k_apart_with_the_legend_outside(tmp_path, monkeypatch):
    """The ``ablate lambda --docs`` plot: colour per engine, line style per k, legend right of the panels."""
    from lilsr_tools.reports import plots

    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, out, **options: drawn.update(fig=fig))
    rows = [{"engine": engine, "k": k, "model": model, "mean_doc_nnz": nnz, "retrieval_p50_ms": nnz / 100 * (k / 10),
             "index_MB": nnz / 10}
            for engine in ("lucene", "native", "pisa", "bmp", "kannolo") for k in (10, 1000)
            for model, nnz in (("small", 79.0), ("big", 174.0))]
    frame = pd.DataFrame(rows).assign(**{"engine / k": lambda f: f["engine"] + " k=" + f["k"].astype(str)})
    plots.lines(frame, "mean_doc_nnz", ["retrieval_p50_ms", "index_MB"], "engine / k", tmp_path / "l.png", "t",
                ylog=[True, True])
    first, last = drawn["fig"].axes[0], drawn["fig"].axes[-1]
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in first.get_lines()}
    assert styles["lucene k=10"][0] == styles["lucene k=1000"][0] != styles["native k=10"][0]
    assert styles["lucene k=10"][1] != styles["lucene k=1000"][1]
    assert len({colour for colour, _ in styles.values()}) == 5
    assert first.get_legend() is None  # the first panel's data stays uncovered
    anchor = last.get_legend().get_bbox_to_anchor().transformed(last.transAxes.inverted())
    assert anchor.x0 > 1.0  # right of the last panel
