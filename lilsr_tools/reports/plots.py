"""The report's figures (matplotlib, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# one fixed, distinct colour per engine, so an engine looks the same in every report and no two engines of
# one plot share a colour (a hashed palette let PISA, BMP and kANNolo land on the same greys and purples)
ENGINE_COLORS = {"lucene": "#c44e52", "native": "#4c72b0", "seismic-rs": "#55a868", "exact": "#3b3b3b",
                 "bm25": "#937860", "pisa": "#dd8452", "milvus": "#64b5cd", "bmp": "#da8bc3",
                 "kannolo": "#ccb974"}
# engines without a fixed colour take one from this palette, chosen by a hash of their name (stable)
PALETTE = ["#2f4b7c", "#a05195", "#3a923a", "#8c8c8c", "#ff7c43", "#003f5c", "#7a5195", "#b5a300"]
MARKERS = "osD^vP*h<>pdH8"  # "X" is BM25's own
BM25_VARIANT = "bm25 (text)"
LINE_STYLES = ["-", "--", ":", "-."]


def _stable_index(name: str, size: int) -> int:
    """The same small integer for the same name in every report and every Python process."""
    import zlib

    return zlib.crc32(name.encode("utf-8")) % size


def engine_color(engine: str) -> str:
    return ENGINE_COLORS.get(engine) or PALETTE[_stable_index(engine, len(PALETTE))]


def variant_markers(variants: list[str]) -> dict[str, str]:
    """A marker per system (model + query encoder) from a hash of its name, so a system keeps its marker in
    every report (BM25 always "X"). Two systems of one report whose names hash to the same marker cannot
    both keep it: the later in name order takes the next free one in that report."""
    markers, used = {}, set()
    for variant in sorted(variants):
        if variant == BM25_VARIANT:
            markers[variant] = "X"
            continue
        i = _stable_index(variant, len(MARKERS))
        candidate = MARKERS[i]
        for step in range(len(MARKERS)):
            candidate = MARKERS[(i + step) % len(MARKERS)]
            if candidate not in used:
                break
        markers[variant] = candidate
        used.add(candidate)
    return markers


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


def _log_axis(ax, which: str = "x") -> None:
    """A log axis labelled in plain numbers, 0.2, 0.5, 1, 2, 5 ... (every 1..9 step when the data span less
    than a decade): matplotlib's own labels (2x10^-1 3x10^-1 ...) run into each other or vanish. Call it
    after plotting: the steps depend on the data's range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{which}scale")("log")
    low, high = sorted(getattr(ax, f"get_{which}lim")())
    narrow = low > 0 and high / low < 10
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(base=10, subs=tuple(range(1, 10)) if narrow else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


PARETO_PANELS = (("retrieval_mean_ms", "retrieval"), ("total_mean_ms", "query encoding + retrieval"))


def pareto(frame: pd.DataFrame, out: Path, measure: str = "nDCG@10",
           panels: tuple[tuple[str, str], ...] = PARETO_PANELS) -> Path:
    """Latency against effectiveness, one panel per latency column (by default retrieval alone, then query
    encoding + retrieval: the contextual encoder's forward pass, which a static table removes, shows as a
    shift right in the second). One colour per engine (its line: the engine's Pareto frontier), one
    marker per model+encoder; the legend sits beside the axes, so it never covers a point."""
    plt = _pyplot()
    ok = frame[frame["status"] == "ok"].copy()
    panels = tuple((column, label) for column, label in panels if column in ok and ok[column].notna().any())
    ok["variant"] = np.where(ok["engine"] == "bm25", BM25_VARIANT, ok["model"] + " · " + ok["encoder"])
    markers = variant_markers(list(dict.fromkeys(ok["variant"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 2.6, 4.6), sharey=True, squeeze=False)
    for ax, (latency, label) in zip(axes[0], panels):
        for engine, group in ok.groupby("engine", sort=False):
            color = engine_color(engine)
            for _, row in group.iterrows():
                ax.scatter(row[latency], row[measure], color=color, marker=markers[row["variant"]],
                           s=60, edgecolor="black", linewidth=0.5, zorder=3)
            xs, ys = frontier(group, latency, measure)
            ax.step(xs, ys, where="post", color=color, alpha=0.6, label=engine)
        _log_axis(ax)
        ax.set_xlabel(f"{label}, mean ms per query (log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(label, fontsize=9)
    axes[0][0].set_ylabel(measure)
    last = axes[0][-1]
    for variant, marker in markers.items():
        last.scatter([], [], marker=marker, color="white", edgecolor="black", label=variant)
    last.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False,
                title="engine (colour, line) · system (marker)", title_fontsize=7)
    fig.suptitle(f"Latency vs {measure} (lines: each engine's Pareto frontier)", fontsize=10)
    save_figure(fig, out, bbox_inches="tight")
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
    save_figure(fig, out)
    plt.close(fig)
    return out


def time_split(frame: pd.DataFrame, out: Path) -> Path:
    """Per cell: mean query-encoding time beside mean retrieval time (log scale: they differ by orders), and
    the total in a column of its own. A cell without an encoding step (BM25 searches text) has no encoding
    bar and says so; the legend sits above the axes, clear of bars and totals."""
    plt = _pyplot()
    ok = frame[frame["status"] == "ok"]
    labels = list(ok["cell"])
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(labels) + 1.6))
    y = np.arange(len(labels))
    encode = ok["encode_mean_ms"].fillna(0).to_numpy(dtype=float)
    retrieval = ok["retrieval_mean_ms"].fillna(0).to_numpy(dtype=float)
    positive = np.concatenate([encode[encode > 0], retrieval[retrieval > 0]])
    low = positive.min() / 3 if positive.size else 1e-3
    high = positive.max() if positive.size else 1.0
    has_encode = encode > 0
    ax.barh(y[has_encode] - 0.2, encode[has_encode], height=0.4, color="#dd8452", label="query encoding")
    ax.barh(y + 0.2, np.maximum(retrieval, low), height=0.4, color="#4c72b0", label="retrieval")
    for yy in y[~has_encode]:
        ax.text(low * 1.2, yy - 0.2, "no encoding step", va="center", fontsize=6, color="#666666")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(low, high * 2)
    # totals in their own column right of the axes: never under a bar or the legend
    for yy, total in zip(y, encode + retrieval):
        ax.annotate(f"{total:.2f} ms", xy=(1.0, yy), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.annotate("total", xy=(1.0, 1.0), xycoords="axes fraction", xytext=(6, 4), textcoords="offset points",
                va="bottom", fontsize=7, fontweight="bold")
    ax.set_xlabel("mean ms per query (log scale)")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=2, frameon=False, borderaxespad=0)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    save_figure(fig, out, bbox_inches="tight")
    plt.close(fig)
    return out


def lines(frame: pd.DataFrame, x: str, ys: list[str], group: str, out: Path, title: str, xlog: bool = False,
          ylog: list[bool] | None = None) -> Path:
    """Small multiples: one panel per y column, one line per group (ablation plots). A line takes its
    engine's colour (the ``engine`` column, else the group's name) and, when the frame has a ``k`` column,
    a line style per k; each point a marker per model. The legend sits right of the last panel."""
    from matplotlib.lines import Line2D

    from .headers import readable

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ys), figsize=(4.2 * len(ys), 3.6))
    axes = np.atleast_1d(axes)
    ks = sorted(frame["k"].unique()) if "k" in frame else []
    models = list(dict.fromkeys(frame["model"])) if "model" in frame else []
    # the few models of a sweep take the most distinct markers in order (a hash may pick ^ and > for two)
    model_markers = {str(m): MARKERS[i % len(MARKERS)] for i, m in enumerate(models)}
    handles = {}
    for i, (ax, y) in enumerate(zip(axes, ys)):
        for name, part in frame.groupby(group, sort=False):
            part = part.sort_values(x)
            color = engine_color(str(part["engine"].iloc[0]) if "engine" in part else str(name))
            style = LINE_STYLES[ks.index(part["k"].iloc[0]) % len(LINE_STYLES)] if ks else "-"
            (line,) = ax.plot(part[x], part[y], color=color, linestyle=style, label=str(name),
                              marker=None if models else "o")
            handles.setdefault(str(name), line)
            if not models:
                continue
            for model, point in part.groupby("model", sort=False):
                ax.scatter(point[x], point[y], color=color, marker=model_markers[str(model)], s=36,
                           edgecolor="black", linewidth=0.4, zorder=3)
        if xlog:
            _log_axis(ax, "x")
        if ylog and ylog[i]:
            _log_axis(ax, "y")
        ax.set_xlabel(readable(x))
        ax.set_ylabel(readable(y))
        ax.grid(True, which="both", alpha=0.3)
    entries = list(handles.values())
    entries += [Line2D([], [], linestyle="", marker=model_markers[str(m)], markerfacecolor="white",
                       markeredgecolor="black", label=str(m)) for m in models]
    axes[-1].legend(handles=entries, fontsize=7, loc="upper left", bbox_to_anchor=(1.03, 1.0), borderaxespad=0,
                    frameon=False, title=f"{group} (line) · model (marker)", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out, bbox_inches="tight")
    plt.close(fig)
    return out


def save_figure(fig, out, **options) -> None:
    """Save through a temporary file (``atomic_file``): an interrupted save leaves no truncated image."""
    from ..atomic import atomic_file

    out = Path(out)
    with atomic_file(out, "wb") as handle:
        fig.savefig(handle, format=out.suffix.lstrip(".") or "png", dpi=110, **options)



def size_pareto(frame: pd.DataFrame, out: Path, measure: str = "nDCG@10", size: str = "index_MB",
                title: str = "Index size vs effectiveness") -> Path:
    """Index size against effectiveness: colour per engine, line style per model (each (engine, model)
    line is its Pareto frontier), marker per compression family."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    models = list(dict.fromkeys(frame["model"]))
    families = list(dict.fromkeys(frame["family"]))
    for (engine, model), group in frame.groupby(["engine", "model"], sort=False):
        color = engine_color(engine)
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
    from .headers import readable

    _log_axis(ax)
    ax.set_xlabel(f"{readable(size)}, log scale")
    ax.set_ylabel(measure)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)
    ax.set_title(title + " (lines: each engine and model's Pareto frontier)", fontsize=10)
    save_figure(fig, out, bbox_inches="tight")
    plt.close(fig)
    return out
