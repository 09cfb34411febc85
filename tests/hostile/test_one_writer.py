"""One writer per output. A first ``lilsr`` process (a real one) is held at a named point with the output's
lock taken and its work partly done; a second writer of the same output with other parameters is refused at
once, naming the holder's PID and the output, and writes nothing; the first then finishes, and its output is
exactly what an undisturbed run writes (before: the second reset the first's work folder, one exited 0 with
a manifest stating its parameters over the other's vectors, or the last build won)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile_helpers import assert_refused, lilsr

REPO = Path(__file__).resolve().parents[2]


def _hashes(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["sha256"]


def race(first: list, point: str, second: list, out: Path, tmp: Path) -> None:
    """Hold ``lilsr FIRST`` at ``point``; run ``lilsr SECOND`` (refused); let the first finish (exit 0)."""
    marker, resume = tmp / "marker", tmp / "resume"
    env = {**os.environ, "LILSR_FAULT_POINT": point, "LILSR_FAULT_MARKER": str(marker),
           "LILSR_FAULT_RESUME": str(resume), "LILSR_FAULT_SLEEP": "300",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tmp / "first.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "lilsr_tools.cli", *map(str, first)], env=env, cwd=tmp,
                                   stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert process.poll() is None, f"the first writer ended early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"point {point} not reached:\n{log.read_text()}"
            time.sleep(0.05)
        line = assert_refused(lilsr(*second), names=[out, f"pid {process.pid}"])
        assert "another lilsr process" in line
        assert not out.exists()
        resume.touch()
        assert process.wait(timeout=300) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not (out.parent / f".{out.name}.lock").exists()


@pytest.fixture(scope="module")
def reference(tiny, splade_tiny, tmp_path_factory):
    """Undisturbed outputs with the parameters the first writers use."""
    from lilsr_tools.engines import get_engine
    from lilsr_tools.models.corpus import encode_corpus
    from lilsr_tools.models.splade import SpladeEncoder

    root = tmp_path_factory.mktemp("one-writer-reference")
    encoder = SpladeEncoder("splade-tiny", max_length=128, batch_size=8, loaded=splade_tiny)
    made = {"encode": encode_corpus(tiny.corpus_file, root / "store", encoder, shard_size=10, progress=False).path}
    made["pisa"] = get_engine("pisa").build(tiny.store, root / "pisa")
    return made


def test_two_encoders_one_output(tiny, reference, tmp_path):
    out = tmp_path / "store"
    first = ["encode", "corpus", tiny.corpus_file, out, "--max-length", 128, "--batch-size", 8, "--shard-size", 10]
    second = ["encode", "corpus", tiny.corpus_file, out, "--max-length", 32, "--shard-size", 5]
    race(first, "encode:shard", second, out, tmp_path)
    assert json.loads((out / "manifest.json").read_text())["params"]["max_length"] == 128
    assert _hashes(out) == _hashes(reference["encode"])
    assert lilsr("vectors", "info", out, "--verify").exit_code == 0


def test_two_pisa_builds_one_output(tiny, reference, tmp_path):
    out = tmp_path / "pisa"
    race(["index", "pisa", tiny.store, out], "pisa:built", ["index", "pisa", tiny.store, out, "--scale", 50], out,
         tmp_path)
    assert _hashes(out) == _hashes(reference["pisa"])


@pytest.mark.slow
def test_two_native_builds_one_output(tiny, tiny_native, tmp_path):
    out = tmp_path / "native"
    race(["index", "native", tiny.store, out, "--n-postings", 50, "--threads", 1], "native:built",
         ["index", "native", tiny.store, out, "--n-postings", 20], out, tmp_path)
    assert _hashes(out) == _hashes(tiny_native)


@pytest.mark.slow
def test_two_lucene_builds_one_output(tiny, tiny_lucene, tmp_path):
    out = tmp_path / "lucene"
    race(["index", "lucene", tiny.store, out, "--scale", 100, "--threads", 1], "lucene:collection",
         ["index", "lucene", tiny.store, out, "--scale", 10], out, tmp_path)
    assert json.loads((out / "manifest.json").read_text())["params"]["scale"] == 100
    assert lilsr("search", out, tiny.queries, "--run", tmp_path / "a.trec").exit_code == 0
    assert lilsr("search", tiny_lucene, tiny.queries, "--run", tmp_path / "b.trec").exit_code == 0
    assert (tmp_path / "a.trec").read_text().replace(str(out), "") == (tmp_path / "b.trec").read_text()


def test_two_synths_one_output(tiny, tmp_path):
    out = tmp_path / "synth"
    first = ["vectors", "synth", tiny.store, out, "--docs", 60, "--seed", 1]
    race(first, "synth:shard", ["vectors", "synth", tiny.store, out, "--docs", 90, "--seed", 2], out, tmp_path)
    again = tmp_path / "again"
    assert lilsr("vectors", "synth", tiny.store, again, "--docs", 60, "--seed", 1).exit_code == 0
    assert _hashes(out) == _hashes(again)


def test_lock_is_reentrant_and_released(tmp_path):
    """In one process the same output may be locked again (encode -> save); another process is refused."""
    from lilsr_tools.locks import lock_path, output_lock

    out = tmp_path / "x"
    with output_lock(out):
        with output_lock(out):
            assert lock_path(out).exists()
        code = ("import sys; from lilsr_tools.locks import output_lock\n"
                "try:\n    output_lock(sys.argv[1]).__enter__()\nexcept Exception as e:\n    print(e); sys.exit(3)")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env)
        assert done.returncode == 3 and f"pid {os.getpid()}" in done.stdout
    assert not lock_path(out).exists()
    with output_lock(out):  # free again
        pass
