"""``manifest.json``: what made an artefact, with which parameters, versions and counts."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import LilsrError

MANIFEST = "manifest.json"

# Packages whose versions decide what an artefact contains.
_TRACKED = ("numpy", "scipy", "numba", "torch", "transformers", "pyserini", "pyseismic-lsr", "ir_measures")


def package_versions(names: Iterable[str] = _TRACKED) -> dict[str, str]:
    versions = {"python": platform.python_version(), "lilsr-tools": __version__}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | Path, kind: str, *, params: dict | None = None,
                   counts: dict | None = None, hash_files: Iterable[str] = (), **extra: Any) -> dict:
    """Write ``folder/manifest.json`` and return it. ``hash_files`` are names inside ``folder``."""
    folder = Path(folder)
    manifest = {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "params": params or {},
        "counts": counts or {},
        **extra,
        "versions": package_versions(),
        "sha256": {name: sha256_file(folder / name) for name in hash_files},
    }
    from .atomic import atomic_file  # a folder updated in place (training, reports) never shows half a manifest

    with atomic_file(folder / MANIFEST) as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False, default=_json_default)
        handle.write("\n")
    return manifest


def read_manifest(folder: str | Path, kind: str | None = None) -> dict:
    """Read a manifest; refuse folders that are not the expected kind of artefact."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        expected = f"a '{kind}' folder" if kind else "a lilsr artefact folder"
        raise LilsrError(f"{folder} is not {expected}: {MANIFEST} is missing (incomplete or not made by lilsr)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LilsrError(f"{path}:{exc.lineno}: corrupt manifest ({exc.msg}); rebuild the artefact") from None
    except UnicodeDecodeError:
        raise LilsrError(f"{path}: corrupt manifest (not UTF-8); rebuild the artefact") from None
    if not isinstance(manifest, dict):
        raise LilsrError(f"{path}: corrupt manifest (a JSON {type(manifest).__name__}, not an object); "
                         "rebuild the artefact")
    if kind is not None and manifest.get("kind") != kind:
        raise LilsrError(f"{folder} holds a '{manifest.get('kind')}', not a '{kind}'")
    return manifest


def read_vocab(file: str | Path, fix: str = "rebuild the artefact") -> list[str]:
    """``vocab.json`` of an artefact: a JSON list of token strings, or a one-line error naming the file."""
    file = Path(file)
    try:
        vocab = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LilsrError(f"{file} is missing; {fix}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise LilsrError(f"{file}: unreadable vocabulary ({' '.join(str(exc).split())[:120]}); {fix}") from None
    if not isinstance(vocab, list) or not all(isinstance(token, str) for token in vocab):
        raise LilsrError(f"{file}: not a JSON list of token strings; {fix}")
    return vocab


def verify_hashes(folder: str | Path, manifest: dict) -> None:
    """Compare each recorded sha256 with the file on disk (slow for big files: on request only)."""
    folder = Path(folder)
    for name, expected in manifest.get("sha256", {}).items():
        if not (folder / name).is_file():
            raise LilsrError(f"{folder / name} is missing (listed in {MANIFEST}); the artefact is incomplete, rebuild it")
        if sha256_file(folder / name) != expected:
            raise LilsrError(f"{folder / name}: checksum differs from {MANIFEST}; the file is corrupt, rebuild it")


def _json_default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
