"""The files an engine's compiled code reads, checked before that code touches them.

PISA (C++), BMP, kANNolo and Seismic (Rust) trust their files: a flipped or truncated byte in a PISA index
or lexicon, a kANNolo or a BMP index ends in SIGSEGV or SIGABRT (a C++ exception or a Rust panic in a
thread nobody catches), or, where it lands in the middle of a posting list, in silently wrong results. None
of them checks its own input, so we do, on every load: the build records each file's size and CRC-32
(``manifest["checked_files"]``), and ``check_files`` compares them before the engine opens anything. CRC-32
rather than sha256 because it runs on every load: zlib's CRC-32 reads about 1 GB/s, twice sha256's speed
here; a bit flip or a truncation always changes it. ``--verify`` still re-checks every file's sha256 (the
manifest lists every file of the folder).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterable

from ..errors import LilsrError
from ..manifest import read_manifest

MANIFEST_KEY = "checked_files"
_CHUNK = 1 << 22


def crc32_file(path: str | Path) -> str:
    value = 0
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            value = zlib.crc32(block, value)
    return f"{value:08x}"


def file_records(folder: str | Path, names: Iterable[str]) -> dict[str, dict]:
    """``{name: {"bytes": size, "crc32": hex}}`` for files inside ``folder`` (written into the manifest)."""
    folder = Path(folder)
    return {name: {"bytes": (folder / name).stat().st_size, "crc32": crc32_file(folder / name)} for name in names}


def folder_files(folder: str | Path, skip: Iterable[str] = ()) -> list[str]:
    """Every file under ``folder`` (relative paths, sorted) but its own ``manifest.json`` and the relative paths
    in ``skip``: for engines whose files are not a fixed list (a Milvus Lite database)."""
    folder, skip = Path(folder), {"manifest.json", *skip}
    names = (str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return sorted(name for name in names if name not in skip)


def check_files(folder: str | Path, manifest: dict, names: Iterable[str] = ()) -> None:
    """Refuse, naming the file, a folder whose files differ from what the build recorded: every file of
    ``manifest["checked_files"]`` plus ``names`` (those the engine is about to open) must be present, with the
    recorded size, then the recorded CRC-32. Sizes first: a truncated file is named without reading it."""
    folder = Path(folder)
    records = manifest.get(MANIFEST_KEY)
    if not isinstance(records, dict):
        raise LilsrError(f"{folder}: the manifest records no file checks (built by an older lilsr-tools); "
                         "rebuild the index")
    for name in names:
        if name not in records:
            raise LilsrError(f"{folder / name}: not in the manifest's checked files; the manifest is damaged, "
                             "rebuild the index")
    rebuild = "the index is damaged, rebuild it"
    for name, record in records.items():
        path = folder / name
        if not isinstance(record, dict) or not isinstance(record.get("bytes"), int):
            raise LilsrError(f"{folder}/manifest.json: bad checked_files entry for {name}; rebuild the index")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise LilsrError(f"{path} is missing; {rebuild}") from None
        if size != record["bytes"]:
            raise LilsrError(f"{path}: {size} bytes, the build wrote {record['bytes']} (truncated or overwritten); "
                             f"{rebuild}")
    for name, record in records.items():
        if crc32_file(folder / name) != record.get("crc32"):
            raise LilsrError(f"{folder / name}: checksum (CRC-32) differs from the manifest's; {rebuild}")


def index_manifest(path: Path, kind: str, how_to_build: str) -> dict:
    """The manifest of the index folder ``path``; one of another kind is refused, saying ``how_to_build``
    a ``kind`` instead."""
    manifest = read_manifest(path)
    if manifest.get("kind") != kind:
        raise LilsrError(f"{path} holds a '{manifest.get('kind')}', not a '{kind}'; {how_to_build}")
    return manifest


def checked_index_manifest(path: Path, kind: str, how_to_build: str, files: Iterable[str]) -> dict:
    """``index_manifest``, once the ``files`` the engine opens are there and ``check_files`` passes."""
    manifest = index_manifest(path, kind, how_to_build)
    for name in files:
        if not (path / name).is_file():
            raise LilsrError(f"{path / name} is missing; rebuild the index")
    check_files(path, manifest, files)
    return manifest
