"""Sharded encoding: one contiguous slice of a corpus per job (``--shard I/N``), and the merge of the parts.

Shard I of N (1-based) holds documents ``[floor((I-1) T / N), floor(I T / N))`` of the T documents of the
corpus (after ``--limit``), in file order, so the split depends only on T and N and the shards of one
split tile the corpus. Each part records its slice in its manifest (``params.shard``); ``merge`` checks
the parts tile ``[0, T)`` exactly, come from the same corpus with the same model and vocabulary, and
streams them into one store (arrays written through memory maps: a merge never holds the corpus in RAM).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..locks import locks_output
from ..atomic import atomic_dir, check_can_write, check_free_space, reserve
from ..errors import LilsrError
from ..manifest import write_manifest
from .store import KIND, SparseVectors, load_vectors, vocab_digest

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# encoding parameters that must agree between the parts of one store (shard_size only sets the
# resumable chunk, not the vectors)
_SAME = ("corpus", "model", "max_length", "bf16", "limit")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` with 1 <= I <= N, as (I, N)."""
    found = _SHARD.match(str(text))
    if not found:
        raise LilsrError(f"--shard {text!r}: expected I/N, e.g. 1/4 (the first of four slices)")
    index, count = int(found.group(1)), int(found.group(2))
    if count < 1 or not 1 <= index <= count:
        raise LilsrError(f"--shard {text}: I must be between 1 and N, and N at least 1 (got I={index}, N={count})")
    return index, count


def shard_range(total: int, index: int, count: int) -> tuple[int, int]:
    """Document range [start, stop) of shard ``index`` (1-based) of ``count`` over ``total`` documents."""
    return (index - 1) * total // count, index * total // count


@locks_output()
def merge_vectors(out: str | Path, parts: Sequence[str | Path], *, overwrite: bool = False) -> Path:
    """Concatenate the vector stores ``parts`` into one store at ``out``; see the module docstring."""
    if not parts:
        raise LilsrError("vectors merge needs at least one part")
    check_can_write(out, overwrite)
    stores = [load_vectors(part) for part in parts]
    _check_compatible(stores)
    stores = _in_order(stores)
    vocab = list(stores[0].vocab)
    n_docs = sum(len(s) for s in stores)
    nnz = sum(s.nnz for s in stores)
    ids = [doc_id for s in stores for doc_id in s.ids]
    _check_unique(ids, stores)
    started = time.perf_counter()
    # the arrays are written through memory maps: a page that finds the disk full is a SIGBUS, not an error,
    # so the space is checked first and reserved (fallocate) before any page is written
    needed = 8 * (n_docs + 1) + 8 * nnz + sum(len(i.encode("utf-8")) + 1 for i in ids) + 64 * len(vocab)
    check_free_space(out, needed)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        indptr = np.lib.format.open_memmap(tmp / "indptr.npy", mode="w+", dtype=np.int64, shape=(n_docs + 1,))
        indices = np.lib.format.open_memmap(tmp / "indices.npy", mode="w+", dtype=np.int32, shape=(nnz,))
        values = np.lib.format.open_memmap(tmp / "values.npy", mode="w+", dtype=np.float32, shape=(nnz,))
        for name in ("indptr.npy", "indices.npy", "values.npy"):
            reserve(tmp / name, (tmp / name).stat().st_size)
        used = np.zeros(len(vocab), dtype=bool)
        indptr[0] = 0
        row = offset = 0
        for store in stores:
            n, m = len(store), store.nnz
            indptr[row + 1:row + n + 1] = np.asarray(store.indptr[1:]) + offset
            for lo in range(0, m, 1 << 26):  # bounded copies
                hi = min(lo + (1 << 26), m)
                indices[offset + lo:offset + hi] = store.indices[lo:hi]
                values[offset + lo:offset + hi] = store.values[lo:hi]
                used[np.unique(store.indices[lo:hi])] = True
            row, offset = row + n, offset + m
        for array in (indptr, indices, values):
            array.flush()
        lengths = np.diff(indptr)
        del indptr, indices, values
        (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        first = stores[0].manifest
        params = {key: value for key, value in first.get("params", {}).items() if key != "shard"}
        params["merged_from"] = [{"path": str(s.path), "shard": s.manifest.get("params", {}).get("shard"),
                                  "docs": len(s), "sha256": s.manifest.get("sha256")} for s in stores]
        part_counts = [s.manifest.get("counts", {}) for s in stores]
        seconds = [c.get("encode_seconds") for c in part_counts]
        counts = {"docs": n_docs, "nnz": nnz, "mean_nnz": float(nnz / n_docs) if n_docs else 0.0,
                  "empty_docs": int((lengths == 0).sum()), "vocab_size": len(vocab), "vocab_used": int(used.sum()),
                  "empty_input_docs": sum(int(c.get("empty_input_docs") or 0) for c in part_counts),
                  "encode_seconds": round(sum(seconds), 2) if all(s is not None for s in seconds) else None,
                  "docs_per_second": None, "parts": len(stores),
                  "merge_seconds": round(time.perf_counter() - started, 2)}
        write_manifest(tmp, KIND, params=params, counts=counts, model=first.get("model"),
                       vocab_digest=vocab_digest(vocab),
                       hash_files=["indptr.npy", "indices.npy", "values.npy", "vocab.json", "ids.txt"])
    return Path(out)


def _check_compatible(stores: list[SparseVectors]) -> None:
    first = stores[0]
    digest = vocab_digest(first.vocab)
    for store in stores[1:]:
        if vocab_digest(store.vocab) != digest:
            raise LilsrError(f"{store.path}: vocabulary (digest {vocab_digest(store.vocab)}) differs from "
                             f"{first.path}'s ({digest}); merge parts encoded with one model")
        if store.manifest.get("model") != first.manifest.get("model"):
            raise LilsrError(f"{store.path}: model {store.manifest.get('model')!r} differs from {first.path}'s "
                             f"{first.manifest.get('model')!r}; merge parts encoded with one model")
        for key in _SAME:
            mine, theirs = store.manifest.get("params", {}).get(key), first.manifest.get("params", {}).get(key)
            if mine != theirs:
                raise LilsrError(f"{store.path}: {key} {mine!r} differs from {first.path}'s {theirs!r}; "
                                 "merge parts of one encoding run")


def _in_order(stores: list[SparseVectors]) -> list[SparseVectors]:
    """Sharded parts sorted by slice, checked to tile the corpus; plain stores kept in the given order."""
    shards = [s.manifest.get("params", {}).get("shard") for s in stores]
    if not any(shards):
        return stores
    if not all(shards):
        plain = next(s for s, shard in zip(stores, shards) if not shard)
        raise LilsrError(f"{plain.path} is not a shard ('lilsr encode corpus --shard I/N'); merge shards only "
                         "with shards")
    totals = {shard["total_docs"] for shard in shards}
    if len(totals) > 1:
        raise LilsrError(f"the parts split corpora of different sizes ({', '.join(map(str, sorted(totals)))} docs); "
                         "merge shards of one corpus")
    total = totals.pop()
    order = sorted(range(len(stores)), key=lambda i: (shards[i]["start"], shards[i]["stop"]))
    position = 0
    for i in order:
        store, shard = stores[i], shards[i]
        if len(store) != shard["stop"] - shard["start"]:
            raise LilsrError(f"{store.path}: holds {len(store)} docs for slice [{shard['start']}, {shard['stop']}); "
                             "the part is damaged, re-encode it")
        if shard["start"] < position:
            raise LilsrError(f"{store.path}: shard {shard['index']}/{shard['count']} (docs {shard['start']}-"
                             f"{shard['stop'] - 1}) overlaps another part ending at doc {position - 1}")
        if shard["start"] > position:
            raise LilsrError(f"docs {position}-{shard['start'] - 1} of {total} are in no part (gap before {store.path}, "
                             f"shard {shard['index']}/{shard['count']}); encode and add the missing shard")
        position = shard["stop"]
    if position != total:
        raise LilsrError(f"docs {position}-{total - 1} of {total} are in no part; encode and add the missing shard(s)")
    return [stores[i] for i in order]


def _check_unique(ids: list[str], stores: list[SparseVectors]) -> None:
    if len(set(ids)) == len(ids):
        return
    seen: dict[str, Path | None] = {}
    for store in stores:
        for doc_id in store.ids:
            if doc_id in seen:
                raise LilsrError(f"document {doc_id!r} is in {seen[doc_id]} and in {store.path}; the parts overlap")
            seen[doc_id] = store.path
