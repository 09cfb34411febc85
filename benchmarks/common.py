"""What the benchmark scripts share: where the checkout, the data and the work folder are, and paths fit to
save in results (never one machine's absolute paths).

A benchmark finds collections in ``$LILSR_DATA_DIR`` (default: ``../shared/data`` beside the checkout, as
the Makefile does) and builds its inputs (vector stores, indexes, encoded queries) under ``--work``
(default ``benchmarks/work/``, git-ignored), reusing what an earlier run built there.

Results (tables, JSON, plots) go to ``benchmarks/work/results/`` too: ``benchmarks/results/`` holds the
repository's reference figures, quoted by the guides, and only ``--update-results`` writes there (so a run
as the guides show it, or a smoke run, never modifies or adds a tracked file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"  # the reference figures: written with --update-results only
WORK = REPO / "benchmarks" / "work"
WORK_RESULTS = WORK / "results"

if str(REPO) not in sys.path:  # run as `python benchmarks/x.py` from a clone without an installed package
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if not os.environ.get("LILSR_DATA_DIR") and (REPO.parent / "shared" / "data").is_dir():
    os.environ["LILSR_DATA_DIR"] = str(REPO.parent / "shared" / "data")


def work_dir(value: str | None) -> Path:
    """The work folder (created); relative paths are relative to the current directory."""
    path = Path(value) if value else WORK
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_update_results(parser) -> None:
    """The one option that lets a benchmark replace the repository's reference results."""
    parser.add_argument("--update-results", action="store_true",
                        help=f"write results to {RESULTS.relative_to(REPO)}/ (the reference figures the guides quote) "
                             f"instead of {WORK_RESULTS.relative_to(REPO)}/")


def results_dir(args) -> Path:
    """Where a run's results go (created): the reference folder with --update-results, else the work one."""
    path = RESULTS if getattr(args, "update_results", False) else WORK_RESULTS
    path.mkdir(parents=True, exist_ok=True)
    return path


def portable(path) -> str:
    """A path as results may record it: relative to the checkout or the data folder, else its last two parts."""
    path = Path(path).resolve()
    data = os.environ.get("LILSR_DATA_DIR")
    for base, prefix in ((REPO, ""), (Path(data).resolve() if data else None, "$LILSR_DATA_DIR/")):
        if base is not None:
            try:
                return prefix + str(path.relative_to(base))
            except ValueError:
                pass
    return str(Path(*path.parts[-2:]))


def run(main) -> None:
    """Call ``main``; bad input (a ``LilsrError``: no such collection, a missing index) is one line, exit 2."""
    from lilsr_tools.errors import LilsrError

    try:
        main()
    except LilsrError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
