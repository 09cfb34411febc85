"""Cell records -> one pandas row per cell (results.csv), with significance against the baseline."""

from __future__ import annotations

import pandas as pd

from .significance import mark, paired_test


def results_frame(records: list[dict], measures: list[str], baseline: str | None,
                  method: str = "t-test") -> pd.DataFrame:
    base = next((r for r in records if r["cell"] == baseline and r["status"] == "ok"), None)
    first = measures[0]
    rows = []
    for r in records:
        row = {"cell": r["cell"], "model": r.get("model") or "", "encoder": r.get("encoder") or "",
               "engine": r["engine"], "search": _params(r.get("search")), "build": _params(r.get("build")),
               "status": r["status"], "error": r.get("error", "")}
        if r["status"] == "ok":
            row.update({m: r["metrics"].get(m) for m in measures})
            row["accuracy@10"] = r.get("accuracy@10")
            row["accuracy@k"] = r.get("accuracy@k")  # at the cell's own k (column "k")
            row["k"] = r.get("k")
            for part in ("encode", "retrieval", "total"):
                lat = r["latency"][part]
                row.update({f"{part}_mean_ms": lat.get("mean_ms"), f"{part}_p50_ms": lat.get("p50_ms"),
                            f"{part}_p99_ms": lat.get("p99_ms")})
            own = r["latency"].get("retrieval_engine_clock") or {}
            row.update({"engine_clock_mean_ms": own.get("mean_ms"), "engine_clock_p50_ms": own.get("p50_ms")})
            build = r.get("build_measured") or {}
            row.update({"build_s": build.get("wall_seconds", r.get("index_stats", {}).get("build_seconds")),
                        "build_peak_rss_GiB": _gb(build.get("peak_rss_bytes")),
                        "build_peak_tree_rss_GiB": _gb(build.get("peak_tree_rss_bytes"))})
            stats = r.get("index_stats", {})
            row.update({"index_bytes": stats.get("index_bytes"), "postings": stats.get("postings"),
                        "posting_p99": stats.get("p99_length"), "mean_doc_nnz": r.get("mean_doc_nnz"),
                        "mean_query_nnz": r.get("mean_query_nnz"), "unknown_query_tokens": r.get("unknown_query_tokens"),
                        "table_source": r.get("table_source", "")})
            if base is not None and r is not base and r["per_query"] and base["per_query"]:
                p = paired_test(r["per_query"], base["per_query"], method)
                delta = r["metrics"][first] - base["metrics"][first]
                row.update({"p_vs_baseline": p, "sig": mark(delta, p)})
        rows.append(row)
    return sig_beside_measure(pd.DataFrame(rows), first)


def sig_beside_measure(frame: pd.DataFrame, measure: str) -> pd.DataFrame:
    """``sig`` and ``p_vs_baseline`` right after the measure they test (not after the last measure)."""
    tested = [c for c in ("sig", "p_vs_baseline") if c in frame.columns]
    if measure not in frame.columns or not tested:
        return frame
    rest = [c for c in frame.columns if c not in tested]
    at = rest.index(measure) + 1
    return frame[rest[:at] + tested + rest[at:]]


def _gb(value) -> float | None:
    return None if value is None else value / 2**30


def _params(params: dict | None) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
