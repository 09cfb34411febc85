"""The report's figures (matplotlib, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ENGINE_COLORS = {"lucene": "#c44e52", "native": "#4c72b0", "seismic-rs": "#55a868", "exact": "#8172b2",
                 "bm25": "#937860"}
MARKERS = "osD^vP*Xh<>"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frontier(group: pd.DataFrame, x: str, y: str) -> tuple[list, list]:
    """The Pareto frontier of rows where less ``x`` (time, bytes) and more ``y`` (effectiveness) are better:
    the points, by increasing x, that beat every point left of them."""
    best, xs, ys = -np.inf, [], []
    for _, row in group.sort_values(x).iterrows():
        if row[y] > best:
            best = row[y]
            xs.append(row[x])
            ys.append(row[y])
    return xs, ys


def pareto(frame: pd.DataFrame, out: Path, measure: str = "nDCG@10", latency: str = "retrieval_mean_ms") -> Path:
    """Latency against effectiveness, one colour per engine, one marker per model+encoder."""
    plt = _pyplot()
    ok = frame[frame["status"] == "ok"].copy()
    ok["variant"] = np.where(ok["engine"] == "bm25", "bm25 (text)", ok["model"] + " · " + ok["encoder"])
    variants = list(dict.fromkeys(ok["variant"]))
    fig, ax = plt.subplots(figsize=(8, 5))
    for engine, group in ok.groupby("engine", sort=False):
        color = ENGINE_COLORS.get(engine, "#333333")
        for _, row in group.iterrows():
            ax.scatter(row[latency], row[measure], color=color, marker=MARKERS[variants.index(row["variant"]) % len(MARKERS)],
                       s=60, edgecolor="black", linewidth=0.5, zorder=3)
        xs, ys = frontier(group, latency, measure)
        ax.step(xs, ys, where="post", color=color, alpha=0.5, label=engine)
    for i, variant in enumerate(variants):
        ax.scatter([], [], marker=MARKERS[i % len(MARKERS)], color="white", edgecolor="black", label=variant)
    ax.set_xscale("log")
    ax.set_xlabel(f"{latency.replace('_', ' ')} per query (log scale)")
    ax.set_ylabel(measure)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Latency vs effectiveness (lines: each engine's Pareto frontier)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def posting_lengths(lengths: dict[str, np.ndarray], out: Path) -> Path:
    """Complementary CDF of posting-list lengths per model: denser documents, longer lists (why Lucene slows)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, values in lengths.items():
        live = np.sort(values[values > 0])[::-1]
        if live.size == 0:
            continue
        ranks = np.arange(1, live.size + 1) / live.size
        ax.loglog(live, ranks, label=f"{name} (terms {live.size}, mean {live.mean():.0f}, max {live.max()})")
    ax.set_xlabel("posting-list length (documents)")
    ax.set_ylabel("share of terms with a list at least this long")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Posting-list length distribution per model", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def time_split(frame: pd.DataFrame, out: Path) -> Path:
    """Per cell: mean query-encoding time beside mean retrieval time (log scale: they differ by orders)."""
    plt = _pyplot()
    ok = frame[frame["status"] == "ok"]
    labels = list(ok["cell"])
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(labels) + 1.2))
    y = np.arange(len(labels))
    floor = 1e-4  # BM25 has no encoding step; a bar needs a positive length on a log axis
    encode = np.maximum(ok["encode_mean_ms"].to_numpy(dtype=float), floor)
    retrieval = np.maximum(ok["retrieval_mean_ms"].to_numpy(dtype=float), floor)
    ax.barh(y - 0.2, encode, height=0.4, color="#dd8452", label="query encoding")
    ax.barh(y + 0.2, retrieval, height=0.4, color="#4c72b0", label="retrieval")
    for yy, value in zip(y, encode + retrieval):
        ax.text(max(encode.max(), retrieval.max()) * 1.5, yy, f"{value:.2f} ms",
                va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=max(encode.max(), retrieval.max()) * 8)
    ax.set_xlabel("mean ms per query (log scale); right: total")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def lines(frame: pd.DataFrame, x: str, ys: list[str], group: str, out: Path, title: str, xlog: bool = False,
          ylog: list[bool] | None = None) -> Path:
    """Small multiples: one panel per y column, one line per group (ablation plots)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ys), figsize=(4.2 * len(ys), 3.6))
    axes = np.atleast_1d(axes)
    for i, (ax, y) in enumerate(zip(axes, ys)):
        for name, part in frame.groupby(group, sort=False):
            part = part.sort_values(x)
            ax.plot(part[x], part[y], marker="o", label=str(name), color=ENGINE_COLORS.get(str(name)))
        if xlog:
            ax.set_xscale("log")
        if ylog and ylog[i]:
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


LINE_STYLES = ["-", "--", ":", "-."]


def size_pareto(frame: pd.DataFrame, out: Path, measure: str = "nDCG@10", size: str = "index_MB",
                title: str = "Index size vs effectiveness") -> Path:
    """Index size against effectiveness: colour per engine, line style per model (each (engine, model)
    line is its Pareto frontier), marker per compression family."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    models = list(dict.fromkeys(frame["model"]))
    families = list(dict.fromkeys(frame["family"]))
    for (engine, model), group in frame.groupby(["engine", "model"], sort=False):
        color = ENGINE_COLORS.get(engine, "#333333")
        for _, row in group.iterrows():
            none = row["family"] == "none"  # the uncompressed index: larger, on top
            ax.scatter(row[size], row[measure], color=color, s=80 if none else 36, edgecolor="black",
                       linewidth=0.9 if none else 0.4, zorder=4 if none else 3,
                       marker=MARKERS[families.index(row["family"]) % len(MARKERS)])
        xs, ys = frontier(group, size, measure)
        ax.step(xs, ys, where="post", color=color, alpha=0.7, label=f"{engine} · {model}",
                linestyle=LINE_STYLES[models.index(model) % len(LINE_STYLES)])
    for i, family in enumerate(families):
        ax.scatter([], [], marker=MARKERS[i % len(MARKERS)], color="white", edgecolor="black", label=family)
    ax.set_xscale("log")
    ax.set_xlabel(f"{size.replace('_', ' ')} (log scale)")
    ax.set_ylabel(measure)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.set_title(title + " (lines: each engine and model's Pareto frontier)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
