"""Where a benchmark's results go and how they are written.

``ResultWriter`` writes a run's tables (CSV), records (JSON) and plots (PNG) into one folder: ``--out``
where given, else benchmarks/work/results/, or with ``--update-results`` the repository's reference
figures in benchmarks/results/ (which no run writes without that option, whatever ``--out`` says). Every
file is written whole or not at all (``lilsr_tools.atomic``: an interrupted run leaves the previous file),
and every JSON record carries ``machine()``: the figures of a busy or different machine are not comparable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from pathlib import Path

from common import RESULTS, portable, results_dir


def machine(packages: tuple[str, ...] = ()) -> dict:
    """The machine a run measured on: CPUs, processor, platform, 1/5/15-minute load average now, and the
    versions of Python, lilsr-tools and the tracked packages (plus ``packages``)."""
    from lilsr_tools.manifest import package_versions

    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "versions": {**package_versions(), **package_versions(packages)}}


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (benchmarks run on machines without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(rows: list[dict], key: str, width: float, height: float = 4.5):
    """A figure with one panel per value of the rows' ``key`` (sorted), side by side:
    (figure, [(axes, value, the rows with that value)])."""
    values = sorted({r[key] for r in rows})
    fig, axes = pyplot().subplots(1, len(values), figsize=(width * len(values), height), squeeze=False)
    return fig, [(ax, value, [r for r in rows if r[key] == value]) for ax, value in zip(axes[0], values)]


class ResultWriter:
    """A run's results folder; ``args`` carries ``--update-results`` and, where the script has it, ``--out``
    (a folder; ``folder`` overrides it, for scripts whose ``--out`` names a file)."""

    def __init__(self, args, folder: Path | None = None, packages: tuple[str, ...] = ()):
        from lilsr_tools.errors import LilsrError

        given = folder if folder is not None else getattr(args, "out", None)
        self.folder = Path(given) if given is not None else results_dir(args)
        self.packages = packages
        inside = self.folder.resolve() == RESULTS.resolve() or RESULTS.resolve() in self.folder.resolve().parents
        if inside and not getattr(args, "update_results", False):
            raise LilsrError(f"{portable(self.folder)} holds the reference results the guides quote; pass "
                             "--update-results to replace them, or write elsewhere with --out")
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / name

    def _write(self, name: str, data: str | bytes) -> Path:
        from lilsr_tools.atomic import atomic_file

        path = self.path(name)
        with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as handle:
            handle.write(data)
        return path

    def csv(self, name: str, rows: list[dict], fields: list[str] | None = None) -> Path:
        """``rows`` under ``fields`` (default: the first row's keys); a missing or None value is empty."""
        fields = fields or list(rows[0])
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})
        return self._write(name, text.getvalue())

    def json(self, name: str, record: dict, default=float) -> Path:
        """``record`` with this machine's record under ``machine`` (what the script put there, such as load
        averages before and after, is kept beside it); ``default`` converts what JSON cannot hold."""
        record = {**record, "machine": {**machine(self.packages), **record.get("machine", {})}}
        return self._write(name, json.dumps(record, indent=1, default=default) + "\n")

    def png(self, name: str, figure, dpi: int = 110) -> Path:
        """A matplotlib figure, closed once saved."""
        data = io.BytesIO()
        figure.savefig(data, format="png", dpi=dpi)
        pyplot().close(figure)
        return self._write(name, data.getvalue())
