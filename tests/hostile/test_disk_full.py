"""A full disk: every writer ends with one line naming the output and the space it needs, leaves nothing
on the disk (no output, no temporary sibling, no shard folder) and no signal (``vectors merge`` wrote
through memory maps and died with SIGBUS). Each case writes onto a 64 KiB tmpfs mounted for the test
(``mount -t tmpfs``, root only: skipped with the reason otherwise); the vocabulary alone (323 KB) does not
fit, so every writer fills it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_helpers import assert_refused, lilsr

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'}; needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _empty(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [], f"left on the full disk: {list(folder.iterdir())}"


def _full(result, out: Path) -> None:
    line = assert_refused(result, names=[out, "no space left"], absent=[out])
    assert "MiB" in line and "Traceback" not in line


WRITERS = {
    "encode-corpus": lambda t, out: ["encode", "corpus", t.corpus_file, out, "--max-length", 32],
    "index-native": lambda t, out: ["index", "native", t.store, out, "--threads", 1],
    "index-pisa": lambda t, out: ["index", "pisa", t.store, out],
    "index-bmp": lambda t, out: ["index", "bmp", t.store, out],
    "index-kannolo": lambda t, out: ["index", "kannolo", t.store, out, "--threads", 1],
    "vectors-export-anserini": lambda t, out: ["vectors", "export", t.store, out, "--format", "anserini"],
    "vectors-export-seismic": lambda t, out: ["vectors", "export", t.store, out, "--format", "seismic"],
    "table-export-idf": lambda t, out: ["table", "export", "splade-tiny", out, "--init", "vector-idf", "--vectors",
                                        t.store],
    "vectors-import-seismic": lambda t, out: ["vectors", "import", t.extra["seismic_jsonl"], out, "--format",
                                              "seismic", "--model", "splade-tiny"],
    "index-lucene": lambda t, out: ["index", "lucene", t.store, out, "--threads", 1],
    "index-seismic-rs": lambda t, out: ["index", "seismic-rs", t.store, out, "--threads", 1, "--n-postings", 50],
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_writer_on_a_full_disk(name, tiny, disk, tmp_path):
    if name == "vectors-import-seismic" and "seismic_jsonl" not in tiny.extra:
        tiny.extra["seismic_jsonl"] = tmp_path.parent / "tiny-seismic.jsonl"
        assert lilsr("vectors", "export", tiny.store, tiny.extra["seismic_jsonl"], "--format", "seismic",
                     "--overwrite").exit_code == 0
    out = disk / "out"
    _full(lilsr(*WRITERS[name](tiny, out)), out)
    _empty(disk)


def test_vectors_merge_on_a_full_disk_is_no_sigbus(tiny, disk, tmp_path):
    parts = []
    for i in (1, 2):
        part = tmp_path / f"part{i}"
        assert lilsr("encode", "corpus", tiny.corpus_file, part, "--max-length", 32, "--shard", f"{i}/2").exit_code == 0
        parts.append(part)
    out = disk / "merged"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "lilsr_tools.cli", "vectors", "merge", str(out), *map(str, parts)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, f"exit {done.returncode} (negative: a signal)\n{done.stderr[-2000:]}"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lilsr: error: ") and str(out) in lines[0], done.stderr
    assert "needs" in lines[0]
    _empty(disk)


def _fill(disk: Path, leave: int) -> Path:
    """A file taking all but about ``leave`` bytes of the disk (tmpfs counts whole 4 KiB pages)."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"x" * max(0, free - leave))
    return filler


def test_search_run_on_a_full_disk(tiny, disk):
    """``lilsr search`` whose run (and latency file) do not fit: one line naming the run, neither file left
    (a run cut short would read as a complete one with fewer hits)."""
    filler = _fill(disk, leave=4096)
    run = disk / "run.trec"
    _full(lilsr("search", tiny.store, tiny.queries, "--run", run, "-k", 100), run)
    assert sorted(p.name for p in disk.iterdir()) == [filler.name]
