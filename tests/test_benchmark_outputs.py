"""Benchmarks run as the guides show them never modify the repository's reference results: they write under
``benchmarks/work/results/``; only ``--update-results`` writes ``benchmarks/results/``."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _checkout(tmp_path: Path) -> Path:
    """A copy of benchmarks/ (scripts and reference results) in a scratch checkout."""
    bench = tmp_path / "repo" / "benchmarks"
    bench.mkdir(parents=True)
    for script in (REPO / "benchmarks").glob("*.py"):
        shutil.copy(script, bench / script.name)
    (bench / "results").mkdir()
    (bench / "results" / "store_check.json").write_text("{\"reference\": true}\n")
    return bench


def _run(bench: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the package under test, not the scratch copy's parent
    return subprocess.run([sys.executable, str(bench / "store_check.py"), *args], cwd=bench.parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_benchmark_writes_under_work_unless_told_to_update_the_references(small_vectors, tmp_path):
    bench = _checkout(tmp_path)
    reference = (bench / "results" / "store_check.json").read_text()
    done = _run(bench, "--store", str(small_vectors.path), "--repeats", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (bench / "work" / "results" / "store_check.json").is_file()
    assert sorted(p.name for p in (bench / "results").iterdir()) == ["store_check.json"]
    assert (bench / "results" / "store_check.json").read_text() == reference

    updated = _run(bench, "--store", str(small_vectors.path), "--repeats", "1", "--update-results")
    assert updated.returncode == 0, updated.stderr[-2000:]
    assert (bench / "results" / "store_check.json").read_text() != reference


def test_every_benchmark_takes_the_shared_option():
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        if script.name in ("common.py",):
            continue
        text = script.read_text()
        assert "add_update_results(parser)" in text, f"{script.name} lacks --update-results (benchmarks/common.py)"
        assert '/ "results"' not in text and "benchmarks/results\")" not in text, script.name
