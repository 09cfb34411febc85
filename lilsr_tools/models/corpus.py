"""Encode a whole corpus into a vector store, in resumable shards.

Shards land in a work folder beside the output (``.<name>.shards``); a re-run with the same parameters
skips the finished ones. Each shard records the digest of the parameters and of the input documents (ids
and texts) that made it, and is reused only when both match the re-run's: a document edited between the
runs is encoded again (before, shards were reused whenever their ids matched). A shard that does not match
is discarded with a note on stderr and counted in the manifest. The output's lock (``locks``) keeps a
second run from writing the same work folder. When every shard is there they are joined into the store
(atomically) and the work folder is removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from ..locks import locks_output
from ..atomic import check_can_write, disk_full, fault_point, is_disk_full, replace_path
from ..data.collection import Document, count_documents, read_corpus
from ..errors import DiskFull, LilsrError
from ..progress import bar as progress_bar
from ..vectors.shards import shard_range
from ..vectors.store import SparseVectors, save_vectors
from .splade import SpladeEncoder
from .truncation import Truncation


def _shards(docs: Iterator[Document], size: int) -> Iterator[list[Document]]:
    shard: list[Document] = []
    for doc in docs:
        shard.append(doc)
        if len(shard) == size:
            yield shard
            shard = []
    if shard:
        yield shard


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


@locks_output()
def encode_corpus(corpus_path: str | Path, out: str | Path, encoder: SpladeEncoder, *, shard_size: int = 10_000,
                  overwrite: bool = False, limit: int | None = None, progress: bool = True,
                  shard: tuple[int, int] | None = None) -> SparseVectors:
    """Encode ``corpus_path`` (BEIR JSONL or id<TAB>text TSV) into a vector store at ``out``.

    ``shard=(I, N)``: only the I-th (1-based) of N contiguous slices of the (first ``limit``) documents,
    recorded in the manifest as ``params.shard`` for ``lilsr vectors merge``."""
    corpus_path, out = Path(corpus_path), Path(out)
    if limit is not None and limit < 1:
        raise LilsrError(f"limit must be at least 1 document (or None for all), not {limit}")
    if shard_size < 1:
        raise LilsrError(f"shard size must be at least 1 document, not {shard_size}")
    check_can_write(out, overwrite)
    params = {"corpus": str(corpus_path.resolve()), "model": encoder.model_name, "max_length": encoder.max_length,
              "shard_size": shard_size, "limit": limit, "bf16": encoder.bf16}
    start, stop = 0, limit
    if shard is not None:
        index, count = shard
        available = count_documents(corpus_path)
        available = min(available, limit) if limit else available
        start, stop = shard_range(available, index, count)
        if start == stop:
            raise LilsrError(f"shard {index}/{count} of {corpus_path}'s {available} documents is empty; "
                             f"use at most {available} shards")
        params["shard"] = {"index": index, "count": count, "start": start, "stop": stop, "total_docs": available}
    work = out.parent / f".{out.name}.shards"
    _prepare_work_dir(work, params)
    params_digest = _digest(json.dumps(params, sort_keys=True))
    reused = discarded = 0
    fault_point("encode:start")
    if shard is not None:
        total = stop - start
    else:
        total = count_lines(corpus_path) if corpus_path.suffix != ".tsv" else None
        total = min(total, limit) if (total is not None and limit) else total
    docs = read_corpus(corpus_path, start)
    if stop is not None:
        docs = (doc for doc, _ in zip(docs, range(stop - start)))
    n_docs = empty_inputs = encoded_now = 0
    truncation = Truncation(encoder.max_length)
    shard_files: list[Path] = []
    started = time.perf_counter()
    try:
        with progress_bar(total=total, unit="doc", desc=f"encode {corpus_path.parent.name or corpus_path.name}",
                          progress=progress, delay=0) as bar:  # closed before an error message is printed
            for number, part in enumerate(_shards(docs, shard_size)):
                n_docs += len(part)  # read_corpus refuses duplicate ids, naming both lines
                texts = [doc.contents for doc in part]
                empty_inputs += sum(not text.strip() for text in texts)
                file = work / f"shard-{number:05d}.npz"
                shard_files.append(file)
                made_from = {"params": params_digest, "input": input_digest(part)}
                if file.is_file():
                    if _shard_origin(file) == ([doc.id for doc in part], made_from):
                        truncation.add_lengths([n for n, t in zip(encoder.token_lengths(texts), texts) if t.strip()])
                        bar.update(len(part))  # finished by an earlier run
                        reused += 1
                        continue
                    discarded += 1
                    _note(f"{file.name} of an earlier run was made from other documents or parameters "
                          f"(documents {number * shard_size + start + 1}-{number * shard_size + start + len(part)}); "
                          "encoding them again")
                matrix = encoder.encode(texts, progress=bar.update, truncation=truncation)
                encoded_now += len(part)
                _save_shard(file, matrix, [doc.id for doc in part], made_from)
                fault_point("encode:shard")
                bar.set_postfix(docs_per_s=f"{encoded_now / (time.perf_counter() - started):.1f}")
        if not n_docs:
            raise LilsrError(f"{corpus_path}: no documents")
    except LilsrError:  # bad input: keep finished shards (the fixed corpus resumes from them), else clean up
        if not any(work.glob("shard-*.npz")):
            shutil.rmtree(work, ignore_errors=True)
        raise
    except OSError as exc:  # a full disk: the shards fill it, so they go too
        if not is_disk_full(exc):
            raise
        written = sum(f.stat().st_size for f in work.glob("*") if f.is_file())
        shutil.rmtree(work, ignore_errors=True)
        raise disk_full(out, written) from None
    matrices, ids = [], []
    for file in shard_files:
        with np.load(file) as shard:
            matrices.append(sp.csr_matrix((shard["values"], shard["indices"], shard["indptr"]),
                                          shape=(len(shard["ids"]), encoder.vocab_size)))
            ids.extend(shard["ids"].tolist())
    vectors = SparseVectors.from_scipy(sp.vstack(matrices, format="csr"), encoder.vocab, ids)
    seconds = time.perf_counter() - started
    try:
        save_vectors(out, vectors, model=encoder.model_name, params=params, overwrite=overwrite,
                     extra_counts={"empty_input_docs": empty_inputs, "truncation": truncation.as_dict(),
                                   "encode_seconds": round(seconds, 2),
                                   "shards_reused": reused, "shards_discarded_changed": discarded,
                                   "docs_per_second": round(encoded_now / seconds, 2) if encoded_now else None})
    except DiskFull:
        shutil.rmtree(work, ignore_errors=True)  # the disk is full: the shards must not stay on it
        raise
    shutil.rmtree(work, ignore_errors=True)
    return vectors


def _prepare_work_dir(work: Path, params: dict) -> None:
    params_file = work / "params.json"
    if work.is_dir():
        try:
            previous = json.loads(params_file.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != params:  # shards from another configuration cannot be reused
            if any(work.glob("shard-*.npz")):
                _note(f"{work}: shards of an earlier run with other parameters discarded")
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    params_file.write_text(json.dumps(params))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_digest(docs: list[Document]) -> str:
    """sha256 of a shard's documents as encoded (id and text): what its vectors were made from."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(doc.id.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(doc.contents.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def _note(message: str) -> None:
    print(f"lilsr: note: {message}", file=sys.stderr)


def _save_shard(file: Path, matrix: sp.csr_matrix, ids: list[str], made_from: dict) -> None:
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, indptr=matrix.indptr.astype(np.int64), indices=matrix.indices.astype(np.int32),
             values=matrix.data.astype(np.float32), ids=np.asarray(ids), made_from=np.asarray(json.dumps(made_from)))
    replace_path(tmp, file)


def _shard_origin(file: Path) -> tuple[list[str], dict] | None:
    """(document ids, {"params": digest, "input": digest}) of a finished shard; None if unreadable or made by
    an older version (no digests: it cannot be trusted)."""
    try:
        with np.load(file) as shard:
            return shard["ids"].tolist(), json.loads(str(shard["made_from"]))
    except (OSError, ValueError, KeyError):
        return None
