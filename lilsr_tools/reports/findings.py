"""The report's first section: plain sentences generated from the numbers, so a reader gets the answer
before the tables. Three kinds:

* the best system on the primary measure and by how much over the next, with their paired test;
* which compared pairs differ significantly (against the baseline; model against model where nothing
  else differs);
* where the grid holds models whose documents differ in density (a lambda sweep), how each engine's
  latency moved with density: the project's question.

Every sentence is built from the results table alone; nothing here measures anything.
"""

from __future__ import annotations

import math

import pandas as pd

from .pairs import BASELINE, SAME_SETTING
from .significance import paired_test

ENGINE_NAMES = {"lucene": "Lucene", "native": "native", "exact": "exact", "seismic-rs": "Seismic (Rust)",
                "pisa": "PISA", "bmp": "BMP", "kannolo": "kANNolo", "milvus": "Milvus", "bm25": "BM25"}
TEST_NAMES = {"t-test": "paired t-test", "randomization": "paired randomization test"}
ALPHA = 0.05
# densities closer than this ratio are "the same density": no density sentence
MIN_DENSITY_RATIO = 1.1
SCALE_POINTER = "How this holds at 1M documents: docs/scale.md."
DENSITY = "Density:"  # opens the density sentences (the demo checks its report answered)
LISTED = 4  # cells named per list before "and N more"


def engine_name(engine: str) -> str:
    return ENGINE_NAMES.get(engine, engine)


def system_of(row) -> str:
    """What a reader calls a system: the model with its query encoder (BM25 alone), whatever the engine."""
    return "bm25" if row["engine"] == "bm25" or not row.get("model") else f"{row['model']} · {row['encoder']}"


def fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "p undefined"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _names(cells: list[str]) -> str:
    shown = ", ".join(cells[:LISTED])
    return shown + (f" and {len(cells) - LISTED} more" if len(cells) > LISTED else "")


# -- best system -------------------------------------------------------------------------------------------

def best_system(ok: pd.DataFrame, measure: str, per_query: dict[str, dict], method: str = "t-test") -> str | None:
    """The best system on ``measure`` (each system at its best cell), its margin over the next system, and
    whether the two cells differ significantly."""
    if ok.empty or measure not in ok:
        return None
    scored = ok[ok[measure].notna()].assign(system=lambda f: [system_of(r) for _, r in f.iterrows()])
    best = scored.sort_values(measure, ascending=False, kind="stable").drop_duplicates("system")
    if best.empty:
        return None
    top = best.iloc[0]
    if len(best) == 1:
        return f"One system was measured: {top['system']}, {measure} {top[measure]:.4f} ({top['cell']})."
    second = best.iloc[1]
    margin = top[measure] - second[measure]
    sentence = (f"Best on {measure}: {top['system']} at {top[measure]:.4f} ({top['cell']}), {margin:.4f} above "
                f"the next system, {second['system']} at {second[measure]:.4f} ({second['cell']})")
    a, b = per_query.get(top["cell"]), per_query.get(second["cell"])
    if a and b:
        p = paired_test(a, b, method)
        verdict = "significant" if math.isfinite(p) and p < ALPHA else "not significant"
        sentence += f"; the difference is {verdict} ({TEST_NAMES.get(method, method)}, {fmt_p(p)})"
    return sentence + "."


# -- significance ------------------------------------------------------------------------------------------

def baseline_summary(pairs: pd.DataFrame, measure: str, baseline: str | None, method: str) -> str | None:
    against = pairs[pairs["pair"] == BASELINE]
    if against.empty:
        return None
    better = list(against.loc[against["sig"] == "▲", "cell"])
    worse = list(against.loc[against["sig"] == "▼", "cell"])
    same = len(against) - len(better) - len(worse)
    parts = [f"{len(better)} significantly better" + (f" ({_names(better)})" if better else ""),
             f"{len(worse)} significantly worse" + (f" ({_names(worse)})" if worse else ""),
             f"{same} not significantly different"]
    return (f"Against the baseline {baseline} ({TEST_NAMES.get(method, method)} on per-query {measure}, "
            f"p < {ALPHA}), of {len(against)} cells: {'; '.join(parts)}.")


def model_pair_summaries(pairs: pd.DataFrame, ok: pd.DataFrame, measure: str) -> list[str]:
    """One sentence per (model pair, query encoder), over the engines where they were compared: the
    better model first, the difference, and on which engines it is significant."""
    same = pairs[pairs["pair"] == SAME_SETTING]
    if same.empty:
        return []
    cells = ok.set_index("cell")
    groups: dict[tuple, list[dict]] = {}
    for _, row in same.iterrows():
        a, b = cells.loc[row["cell"]], cells.loc[row["other"]]
        difference = row["difference"]
        first, second = (a["model"], b["model"])
        if difference < 0:  # name the better model first (engines that disagree make a sentence each)
            first, second, difference = second, first, -difference
        groups.setdefault((first, second, a["encoder"]), []).append(
            {"engine": a["engine"], "difference": difference, "p": row["p"]})
    sentences = []
    for (first, second, encoder), rows in groups.items():
        low, high = (f"+{value:.4f}" for value in (min(r["difference"] for r in rows),
                                                  max(r["difference"] for r in rows)))
        spread = low if low == high else f"{low} to {high}"
        sentences.append(f"{first} above {second} with {encoder} queries: {spread} {measure}, "
                         f"{_verdict(rows)}.")
    return sentences


def _verdict(rows: list[dict]) -> str:
    """Where a model pair's difference is significant, over the engines it was compared on."""
    significant = [r for r in rows if math.isfinite(r["p"]) and r["p"] < ALPHA]
    if len(rows) == 1:
        row = rows[0]
        return f"{'significant' if significant else 'not significant'} on {engine_name(row['engine'])} ({fmt_p(row['p'])})"
    ps = [r["p"] for r in rows]
    if len(significant) == len(rows):
        return f"significant on {'both' if len(rows) == 2 else f'all {len(rows)}'} engines (p <= {max(ps):.3g})"
    if not significant:
        return f"not significant on {'either' if len(rows) == 2 else f'any of the {len(rows)}'} engine" \
               f"{'' if len(rows) == 2 else 's'} (p >= {min(ps):.3g})"
    return (f"significant on {', '.join(engine_name(r['engine']) for r in significant)} only "
            f"(of {len(rows)} engines)")


# -- density -----------------------------------------------------------------------------------------------

def density_rows(ok: pd.DataFrame, lambdas: dict[str, float | None], one_setting: bool = True) -> pd.DataFrame:
    """The rows the density sentences compare: vector engines, one query encoder (the static table when
    present: the Li-LSR setting), each engine's first build/search setting (``one_setting``; off when each
    model already has its own tuned setting), and the lambda-sweep models when at least two have a known
    lambda_d (else every model)."""
    rows = ok[(ok["engine"] != "bm25") & ok["model"].astype(bool) & ok["mean_doc_nnz"].notna()]
    if rows.empty:
        return rows
    encoders = list(dict.fromkeys(rows["encoder"]))
    rows = rows[rows["encoder"] == ("table" if "table" in encoders else encoders[0])]
    if one_setting and {"build", "search"} <= set(rows.columns):
        setting = rows["build"].astype(str) + "|" + rows["search"].astype(str)
        first: dict[str, str] = {}
        for engine, value in zip(rows["engine"], setting):
            first.setdefault(engine, value)
        rows = rows[[first[e] == value for e, value in zip(rows["engine"], setting)]]
    swept = [m for m, value in lambdas.items() if value is not None and m in set(rows["model"])]
    if len(swept) >= 2:
        rows = rows[rows["model"].isin(swept)]
    return rows


def _model_label(model: str, lambdas: dict[str, float | None], nnz: float) -> str:
    value = lambdas.get(model)
    return f"{model}, {'lambda_d ' + format(value, 'g') + ', ' if value is not None else ''}{nnz:.0f} nnz/doc"


def density_findings(ok: pd.DataFrame, measure: str | None, lambdas: dict[str, float | None] | None = None,
                     latency: str = "retrieval_p50_ms", one_setting: bool = True) -> list[str]:
    """How effectiveness and each engine's latency moved from the sparsest to the densest model; nothing
    when fewer than two models differ in density (by ``MIN_DENSITY_RATIO``)."""
    lambdas = lambdas or {}
    rows = density_rows(ok, lambdas, one_setting)
    if rows.empty:
        return []
    nnz = rows.groupby("model", sort=False)["mean_doc_nnz"].mean().sort_values()
    if len(nnz) < 2 or nnz.iloc[-1] < MIN_DENSITY_RATIO * nnz.iloc[0]:
        return []
    sparse, dense = nnz.index[0], nnz.index[-1]
    encoder = rows["encoder"].iloc[0]
    sentences = [f"{DENSITY} documents go from {nnz.iloc[0]:.0f} non-zeros a document ({sparse}) to "
                 f"{nnz.iloc[-1]:.0f} ({dense}), x{nnz.iloc[-1] / nnz.iloc[0]:.2f}"
                 + (f" over {len(nnz)} models" if len(nnz) > 2 else "") + f"; {encoder} queries throughout."]
    if measure and measure in rows and rows[measure].notna().any():
        engines = list(dict.fromkeys(rows["engine"]))
        where = "exact" if "exact" in engines else engines[0]
        at = rows[rows["engine"] == where].set_index("model")[measure]
        if sparse in at and dense in at:
            sentences.append(f"{measure} went from {at[sparse]:.4f} ({sparse}) to {at[dense]:.4f} ({dense}), "
                             f"{at[dense] - at[sparse]:+.4f}, on {engine_name(where)}.")
    for engine, part in rows.groupby("engine", sort=False):
        values = part.set_index("model")[latency]
        order = [m for m in nnz.index if m in values.index and pd.notna(values[m])]
        if len(order) < 2:
            continue
        steps = [f"{fmt_ms(values[m])} ({_model_label(m, lambdas, nnz[m])})" for m in order]
        path = f"from {steps[0]}" + "".join(f" via {s}" for s in steps[1:-1]) + f" to {steps[-1]}"
        ratio = values[order[-1]] / values[order[0]] if values[order[0]] > 0 else float("nan")
        label = latency.replace("retrieval_", "").replace("_ms", "")
        sentences.append(f"{engine_name(engine)} {label} went {path}, x{ratio:.2f}.")
    sentences.append(SCALE_POINTER)
    return sentences


# -- all of it ---------------------------------------------------------------------------------------------

def findings(frame: pd.DataFrame, measure: str | None, *, pairs: pd.DataFrame | None = None,
             per_query: dict[str, dict] | None = None, baseline: str | None = None, method: str = "t-test",
             lambdas: dict[str, float | None] | None = None, latency: str = "retrieval_p50_ms") -> list[str]:
    """The Findings sentences, in reading order. ``measure`` None (synthetic documents: no judgments)
    leaves only the density sentences."""
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    sentences: list[str] = []
    if measure:
        best = best_system(ok, measure, per_query or {}, method)
        if best:
            sentences.append(best)
        if pairs is not None and not pairs.empty:
            summary = baseline_summary(pairs, measure, baseline, method)
            if summary:
                sentences.append(summary)
            sentences += model_pair_summaries(pairs, ok, measure)
    sentences += density_findings(ok, measure, lambdas, latency)
    return sentences
