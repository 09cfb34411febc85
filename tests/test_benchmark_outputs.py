"""Benchmarks run as the guides show them never modify the repository's reference results: they write under
``benchmarks/work/results/``; only ``--update-results`` writes ``benchmarks/results/``. Every script is built
on the harness (benchmarks/harness.py, timing.py, result_files.py): its options are range-checked (a bad
value is one line, exit 2), and its JSON results record the machine they were measured on."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HELPERS = {"common.py", "harness.py", "timing.py", "result_files.py", "child_build.py"}  # modules, not scripts
SCRIPTS = sorted(p.name for p in (REPO / "benchmarks").glob("*.py") if p.name not in HELPERS)


def _checkout(tmp_path: Path) -> Path:
    """A copy of benchmarks/ (scripts and reference results) in a scratch checkout."""
    bench = tmp_path / "repo" / "benchmarks"
    bench.mkdir(parents=True)
    for script in (REPO / "benchmarks").glob("*.py"):
        shutil.copy(script, bench / script.name)
    (bench / "results").mkdir()
    (bench / "results" / "store_check.json").write_text("{\"reference\": true}\n")
    return bench


def _run(bench: Path, *args: str, script: str = "store_check.py") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the package under test, not the scratch copy's parent
    return subprocess.run([sys.executable, str(bench / script), *args], cwd=bench.parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_benchmark_writes_under_work_unless_told_to_update_the_references(small_vectors, tmp_path):
    bench = _checkout(tmp_path)
    reference = (bench / "results" / "store_check.json").read_text()
    done = _run(bench, "--store", str(small_vectors.path), "--repeats", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads((bench / "work" / "results" / "store_check.json").read_text())
    assert sorted(p.name for p in (bench / "results").iterdir()) == ["store_check.json"]
    assert (bench / "results" / "store_check.json").read_text() == reference
    # the figures say what machine made them, and how busy it was
    machine = written["machine"]
    assert machine["cpus"] == os.cpu_count() and len(machine["load_average"]) == 3
    assert machine["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))

    updated = _run(bench, "--store", str(small_vectors.path), "--repeats", "1", "--update-results")
    assert updated.returncode == 0, updated.stderr[-2000:]
    assert (bench / "results" / "store_check.json").read_text() != reference


def test_out_into_the_reference_folder_needs_update_results(small_vectors, tmp_path):
    bench = _checkout(tmp_path)
    reference = (bench / "results" / "store_check.json").read_text()
    done = _run(bench, "--store", str(small_vectors.path), "--repeats", "1",
                "--out", str(bench / "results" / "store_check.json"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--update-results" in done.stderr, done.stderr
    assert (bench / "results" / "store_check.json").read_text() == reference


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_a_bad_option_value_exits_2_naming_it(value, tmp_path):
    done = _run(REPO / "benchmarks", "--store", str(tmp_path), "--repeats", value)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("store_check.py: error: argument --repeats:"), done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_parses_help_with_the_shared_option(script):
    done = _run(REPO / "benchmarks", "--help", script=script)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--update-results" in done.stdout
    text = (REPO / "benchmarks" / script).read_text()
    assert '/ "results"' not in text and "benchmarks/results\")" not in text, "results go through result_files.py"
