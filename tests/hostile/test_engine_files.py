"""Damaged engine files: every file an engine's compiled code reads (PISA's index, block-max data and
lexicons; BMP's, kANNolo's and Seismic's index files) has its size and CRC-32 in the manifest and is checked
on every load, before the engine opens it. A flipped or truncated byte is one line naming the file, exit 2:
never SIGSEGV/SIGABRT (which is what PISA, kANNolo and BMP did) or silently wrong results.

Each case runs ``lilsr search`` as a real process, so that a crash is seen as a signal, not as the end of
the test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# engine -> files damaged (relative to the index folder)
FILES = {
    "pisa": ["pisa/fwd.termlex", "pisa/fwd.doclex", "pisa/quantized.q0.bmw.64",
             "pisa/quantized.q0.bmw.64.block_simdbp", "vocab.json"],
    "bmp": ["index.bmp", "terms.npz", "vocab.json"],
    "kannolo": ["index.kannolo", "ids.json", "vocab.json"],
    "seismic-rs": ["index.index.seismic", "vocab.json"],
}
CASES = [(engine, name, how) for engine, names in FILES.items() for name in names
         for how in ("flip-head", "flip-middle", "truncate")]


def damage(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "truncate":
        os.truncate(path, size // 2)
        return
    offset = 8 if how == "flip-head" else size // 2
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x5A]))


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "lilsr_tools.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("engine,name,how", CASES, ids=[f"{e}:{n}:{h}" for e, n, h in CASES])
def test_damaged_engine_file_is_named(engine, name, how, tiny, tiny_engine_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(tiny_engine_index(engine), index)
    damage(index / name, how)
    run = tmp_path / "run.trec"
    done = run_cli("search", index, tiny.queries, "--run", run, "-k", 10, cwd=tmp_path)
    assert done.returncode == 2, f"exit {done.returncode} (a negative code is a signal)\n{done.stderr[-2000:]}"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lilsr: error: "), done.stderr[-2000:]
    assert str(index / name) in lines[0]
    assert not run.exists()


@pytest.mark.parametrize("engine", list(FILES))
def test_manifest_lists_every_engine_file(engine, tiny_engine_index):
    """--verify re-checks the sha256 of every file of the folder; the load-time check covers the files the
    engine opens (so a file the engine reads cannot go unchecked)."""
    from lilsr_tools.engines.file_checks import MANIFEST_KEY
    from lilsr_tools.manifest import read_manifest

    index = tiny_engine_index(engine)
    manifest = read_manifest(index)
    files = {str(p.relative_to(index)) for p in index.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(manifest["sha256"]) == files
    assert set(FILES[engine]) <= set(manifest[MANIFEST_KEY])


@pytest.mark.parametrize("engine", list(FILES))
def test_verify_names_a_flipped_file(engine, tiny, tiny_engine_index, tmp_path):
    """``search --verify`` names the file whose sha256 changed, whatever the file (pt_meta.json included)."""
    from hostile_helpers import assert_refused, lilsr

    index = tmp_path / "index"
    shutil.copytree(tiny_engine_index(engine), index)
    name = FILES[engine][-1]
    damage(index / name, "flip-middle")
    result = lilsr("search", index, tiny.queries, "--run", tmp_path / "run.trec", "--verify")
    assert_refused(result, names=[index / name], absent=[tmp_path / "run.trec"])


def test_old_index_without_file_records_is_refused(tiny, tiny_engine_index, tmp_path):
    """An index whose manifest records no file checks cannot be checked: refused with the fix (rebuild)."""
    import json

    from hostile_helpers import assert_refused, lilsr

    index = tmp_path / "index"
    shutil.copytree(tiny_engine_index("kannolo"), index)
    manifest = json.loads((index / "manifest.json").read_text())
    del manifest["checked_files"]
    (index / "manifest.json").write_text(json.dumps(manifest))
    result = lilsr("search", index, tiny.queries, "--run", tmp_path / "run.trec")
    assert "rebuild the index" in assert_refused(result, names=[index], absent=[tmp_path / "run.trec"])


MILVUS_CASES = [("vocab.json", "flip-middle"), ("ids.txt", "truncate"), ("*.parquet", "flip-middle"),
                ("*.parquet", "truncate"), ("collections/*/schema.json", "flip-head"),
                ("collections/*/manifest.json", "truncate")]


@pytest.mark.parametrize("pattern,how", MILVUS_CASES, ids=[f"{p}:{h}" for p, h in MILVUS_CASES])
def test_damaged_milvus_file_is_named(pattern, how, tiny, tiny_engine_index, tmp_path):
    """Milvus Lite's database (parquet rows, collection manifest and schema) and the folder's vocabulary and
    ids: each file's size and CRC-32 are in the manifest and checked on load, like the compiled engines'."""
    from lilsr_tools.engines.file_checks import MANIFEST_KEY
    from lilsr_tools.manifest import read_manifest

    index = tmp_path / "index"
    shutil.copytree(tiny_engine_index("milvus"), index)
    where = index if "/" not in pattern and not pattern.startswith("*") else index / "milvus.db"
    (path,) = where.glob(pattern) if "/" in pattern else where.rglob(pattern)
    assert str(path.relative_to(index)) in read_manifest(index)[MANIFEST_KEY]
    damage(path, how)
    run = tmp_path / "run.trec"
    done = run_cli("search", index, tiny.queries, "--run", run, "-k", 10, cwd=tmp_path)
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stderr[-2000:]}"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lilsr: error: ") and str(path) in lines[0], done.stderr[-2000:]
    assert not run.exists()


def test_milvus_manifest_lists_every_file_and_verify_names_one(tiny, tiny_engine_index, tmp_path):
    """``--verify`` covers every file of a Milvus Lite index (only vocab.json and ids.txt before)."""
    from hostile_helpers import assert_refused, lilsr
    from lilsr_tools.manifest import read_manifest

    index = tmp_path / "index"
    shutil.copytree(tiny_engine_index("milvus"), index)
    files = {str(p.relative_to(index)) for p in index.rglob("*") if p.is_file()} - {"manifest.json", "milvus.db/LOCK"}
    assert set(read_manifest(index)["sha256"]) == files
    (schema,) = index.glob("milvus.db/collections/*/schema.json")
    damage(schema, "flip-middle")
    result = lilsr("search", index, tiny.queries, "--run", tmp_path / "run.trec", "--verify")
    assert_refused(result, names=[schema], absent=[tmp_path / "run.trec"])
