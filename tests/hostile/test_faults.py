"""kill -9 of real ``lilsr`` processes at named points, then a re-run.

Each build runs as ``python -m lilsr_tools.cli ...`` with ``$LILSR_FAULT_POINT`` set: at that point the
process writes its PID (and a child JVM's) to a marker file and sleeps, and the test sends it SIGKILL. Three
points per command: early (before any work is kept), mid (a shard written / blocks built / the Anserini JVM
running) and the final write (files in the hidden temporary folder, no manifest yet). After the kill: no
output at the final path, no process left (the Anserini JVM included); after the re-run: the same result as
an uninterrupted build and no temporary folder left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hostile_helpers import hidden_siblings, lilsr

REPO = Path(__file__).resolve().parents[2]


def _launch(args, point: str, tmp: Path):
    marker = tmp / f"marker-{point.replace(':', '-')}"
    env = {**os.environ, "LILSR_FAULT_POINT": point, "LILSR_FAULT_MARKER": str(marker),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(tmp / f"log-{point.replace(':', '-')}", "w")
    process = subprocess.Popen([sys.executable, "-m", "lilsr_tools.cli", *map(str, args)], env=env, cwd=tmp,
                               stdout=log, stderr=subprocess.STDOUT)
    return process, marker, log


def _wait_for(marker: Path, process, log_path: Path, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"the process ended (exit {process.returncode}) before the fault point:\n"
                        + log_path.read_text())
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("fault point not reached in time:\n" + log_path.read_text())
        time.sleep(0.05)
    return dict(item.split("=", 1) for item in marker.read_text().split())


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie has exited; only its parent's wait is missing


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and not _dead(int(entry.name)):
                found.append(int(entry.name))
    return found


_PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on: bool) -> None:
    """Adopt orphaned descendants (Linux). Otherwise a stopped JVM whose parent dies is in an orphaned process
    group, and the kernel sends it SIGHUP: it would die even without the parent-death signal under test."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_at(args, point: str, tmp: Path, out: Path) -> dict:
    """Run ``lilsr ARGS`` until ``point``, kill -9 it, and check what it leaves: nothing at ``out`` and no
    live process (the child JVM included) that names our scratch folder."""
    _subreaper(True)
    process, marker, log = _launch(args, point, tmp)
    info, child = {}, None
    try:
        info = _wait_for(marker, process, Path(log.name))
        if "child" in info:
            # Freeze the JVM so that it cannot simply finish its work: only its parent's death may end it.
            child = int(info["child"])
            assert not _dead(child), "the child JVM ended before the kill; the test proves nothing"
            os.kill(child, signal.SIGSTOP)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert not out.exists(), f"{out} is visible after kill -9 at {point}"
        deadline = time.monotonic() + 20
        while (_processes_mentioning(str(tmp)) or (child and not _dead(child))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_mentioning(str(tmp)), f"processes survived the kill at {point}"
        assert child is None or _dead(child), f"the child JVM {child} survived its parent"
    finally:
        if process.poll() is None:
            process.kill()
        if child and not _dead(child):  # leave nothing behind when the test fails
            os.kill(child, signal.SIGKILL)
            time.sleep(0.2)
        if child:
            _reap(child)
        _subreaper(False)
        log.close()
    return info


def rerun(args, out: Path) -> None:
    result = lilsr(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert out.is_dir()
    assert not hidden_siblings(out), f"stale temporaries after the re-run: {hidden_siblings(out)}"


def _hashes(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["sha256"]


# --- encode corpus ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoded_reference(tiny, splade_tiny, tmp_path_factory):
    """The tiny corpus encoded without interruption, with the parameters the killed runs use."""
    from lilsr_tools.models.corpus import encode_corpus
    from lilsr_tools.models.splade import SpladeEncoder

    encoder = SpladeEncoder("splade-tiny", max_length=128, batch_size=8, loaded=splade_tiny)
    out = tmp_path_factory.mktemp("reference") / "store"
    encode_corpus(tiny.corpus_file, out, encoder, shard_size=10, progress=False)
    return out


@pytest.mark.parametrize("point", ["encode:start", "encode:shard", "vectors:write"])
def test_encode_corpus_survives_kill_9(point, tiny, encoded_reference, tmp_path):
    out = tmp_path / "store"
    args = ["encode", "corpus", tiny.corpus_file, out, "--max-length", "128", "--batch-size", "8",
            "--shard-size", "10"]
    kill_at(args, point, tmp_path, out)
    if point == "encode:shard":  # the finished shard is kept for the re-run to resume from
        assert (tmp_path / ".store.shards" / "shard-00000.npz").is_file()
    rerun(args, out)
    assert _hashes(out) == _hashes(encoded_reference)


# --- index native ------------------------------------------------------------------------------------------

NATIVE = ["--n-postings", "50", "--threads", "1"]


@pytest.fixture(scope="module")
def native_reference(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "native"
    result = lilsr("index", "native", tiny.store, out, *NATIVE)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("point", ["native:start", "native:built", "native:write"])
def test_index_native_survives_kill_9(point, tiny, native_reference, tmp_path):
    out = tmp_path / "native"
    args = ["index", "native", tiny.store, out, *NATIVE]
    kill_at(args, point, tmp_path, out)
    rerun(args, out)
    assert _hashes(out) == _hashes(native_reference)


# --- index lucene ------------------------------------------------------------------------------------------

def _search(index: Path, queries: Path):
    from lilsr_tools.engines.lucene import LuceneEngine
    from lilsr_tools.vectors.queries import load_encoded_queries

    encoded, _ = load_encoded_queries(queries)
    engine = LuceneEngine.load(index)
    try:
        results = engine.batch_search(encoded.qids, encoded.vectors, k=20)
    finally:
        engine.close()
    return [(ids, np.asarray(scores).tolist()) for ids, scores in zip(results.doc_ids, results.scores)]


@pytest.mark.parametrize("point", ["lucene:collection", "lucene:indexing", "lucene:write"])
def test_index_lucene_survives_kill_9(point, tiny, tiny_lucene, tmp_path):
    out = tmp_path / "lucene"
    args = ["index", "lucene", tiny.store, out, "--threads", "1", "--heap", "512m"]
    info = kill_at(args, point, tmp_path, out)
    if point == "lucene:indexing":
        assert "child" in info  # the JVM was running when its parent died
    rerun(args, out)
    rebuilt, reference = json.loads((out / "manifest.json").read_text()), \
        json.loads((tiny_lucene / "manifest.json").read_text())
    assert rebuilt["counts"] == reference["counts"] and rebuilt["postings"] == reference["postings"]
    assert _search(out, tiny.queries) == _search(tiny_lucene, tiny.queries)


def test_sigterm_cleans_up_at_once(tiny, tmp_path):
    """SIGTERM (what a job scheduler sends): the JVM is killed and the temporary folder removed by the process
    itself, exit status 143, one line on stderr."""
    out = tmp_path / "lucene"
    _subreaper(True)
    process, marker, log = _launch(["index", "lucene", tiny.store, out, "--threads", "1", "--heap", "512m"],
                                   "lucene:indexing", tmp_path)
    child = None
    try:
        child = int(_wait_for(marker, process, Path(log.name))["child"])
        os.kill(child, signal.SIGSTOP)  # only its parent's clean-up may end it
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        deadline = time.monotonic() + 20
        while not _dead(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _dead(child), "the JVM survived its parent's SIGTERM"
        assert not out.exists() and not hidden_siblings(out), "SIGTERM left output behind"
        lines = [line for line in Path(log.name).read_text().splitlines() if line.strip()
                 and not line.startswith("anserini:")]
        assert lines[-1].startswith("lilsr: terminated"), lines
    finally:
        if process.poll() is None:
            process.kill()
        if child and not _dead(child):
            os.kill(child, signal.SIGKILL)
        if child:
            _reap(child)
        _subreaper(False)
        log.close()


def test_train_killed_during_its_final_write_shows_no_model(tiny, tmp_path):
    """kill -9 inside training's final write (the model folder complete in its temporary sibling): no
    ``model/`` and no manifest visible; the re-run (resuming from the last checkpoint) writes the model with
    tokenizer settings that carry no truncation, and leaves no temporary."""
    from lilsr_tools.data import read_qrels

    qrels = read_qrels(tiny.qrels)
    docs = [json.loads(line)["_id"] for line in tiny.corpus_file.read_text(encoding="utf-8").splitlines()]
    lines = []
    for qid in sorted(qrels):
        positives = [d for d, rel in qrels[qid].items() if rel > 0]
        lines += [f"{qid}\t{d}\t1.0" for d in positives]
        lines += [f"{qid}\t{d}\t{0.5 - 0.1 * i:.1f}" for i, d in enumerate([d for d in docs if d not in positives][:4])]
    teacher = tmp_path / "scores.tsv"
    teacher.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    args = ["train", tiny.corpus, out, "--base", "splade-tiny", "--split", "test", "--teacher", teacher,
            "--negatives", "scores", "--n-negatives", 3, "--batch-size", 2, "--steps", 2, "--save-every", 2,
            "--max-length", 32, "--query-max-length", 16, "--warmup-steps", 1, "--no-evaluate", "--threads", 1,
            "--seed", 0]
    kill_at(args, "train:final", tmp_path, out / "model")
    assert (out / "checkpoints").is_dir() and not (out / "manifest.json").exists()
    assert any(".model.tmp-" in p.name for p in out.iterdir())  # the killed write, complete but hidden
    result = lilsr(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (out / "model" / "model.safetensors").is_file() and (out / "manifest.json").is_file()
    assert not hidden_siblings(out / "model"), f"stale temporaries: {hidden_siblings(out / 'model')}"
    assert json.loads((out / "model" / "tokenizer.json").read_text())["truncation"] is None


def test_a_live_owner_keeps_its_temporary_folder(tmp_path):
    """Stale-temporary clean-up removes only what dead processes left: a live writer's folder stays."""
    from lilsr_tools.atomic import remove_stale

    out = tmp_path / "out"
    live = tmp_path / f".out.tmp-{os.getpid()}-0123abcd"
    live.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    other_live = tmp_path / f".out.tmp-{sleeper.pid}-89abcdef"
    other_live.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.tmp-{dead.pid}-deadbeef"
    stale.mkdir()
    try:
        assert remove_stale(out) == [stale]
        assert live.is_dir() and other_live.is_dir() and not stale.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_replacing_an_output_swaps_it_in_one_step(tmp_path):
    """--overwrite: the final path holds the old or the new complete output, never neither."""
    from lilsr_tools.atomic import atomic_dir

    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "version").write_text("1")
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "version").write_text("2")
        assert (out / "version").read_text() == "1"  # the old one is untouched until the swap
    assert (out / "version").read_text() == "2"
    assert not hidden_siblings(out)
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "version").write_text("3")
            raise RuntimeError("interrupted")
    assert (out / "version").read_text() == "2" and not hidden_siblings(out)
