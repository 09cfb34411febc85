"""Encode a whole corpus into a vector store, in resumable shards.

Shards land in a work folder beside the output (``.<name>.shards``); a re-run with the same parameters
skips the finished ones. When every shard is there they are joined into the store (atomically) and the
work folder is removed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from ..atomic import check_can_write, replace_path
from ..data.collection import Document, read_corpus
from ..errors import LilsrError
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


def encode_corpus(corpus_path: str | Path, out: str | Path, encoder: SpladeEncoder, *, shard_size: int = 10_000,
                  overwrite: bool = False, limit: int | None = None, progress: bool = True) -> SparseVectors:
    """Encode ``corpus_path`` (BEIR JSONL or id<TAB>text TSV) into a vector store at ``out``."""
    corpus_path, out = Path(corpus_path), Path(out)
    check_can_write(out, overwrite)
    params = {"corpus": str(corpus_path.resolve()), "model": encoder.model_name, "max_length": encoder.max_length,
              "shard_size": shard_size, "limit": limit, "bf16": encoder.bf16}
    work = out.parent / f".{out.name}.shards"
    _prepare_work_dir(work, params)
    total = count_lines(corpus_path) if corpus_path.suffix != ".tsv" else None
    total = min(total, limit) if (total is not None and limit) else total
    docs = read_corpus(corpus_path)
    if limit:
        docs = (doc for doc, _ in zip(docs, range(limit)))
    seen: set[str] = set()
    empty_inputs = encoded_now = 0
    truncation = Truncation(encoder.max_length)
    shard_files: list[Path] = []
    started = time.perf_counter()
    with tqdm(total=total, unit="doc", desc=f"encode {corpus_path.parent.name or corpus_path.name}",
              disable=not progress, smoothing=0.05) as bar:  # closed before an error message is printed
        for number, shard in enumerate(_shards(docs, shard_size)):
            for doc in shard:
                if doc.id in seen:
                    raise LilsrError(f"{corpus_path}: duplicate document id {doc.id!r}; ids must be unique")
                seen.add(doc.id)
            texts = [doc.contents for doc in shard]
            empty_inputs += sum(not text.strip() for text in texts)
            file = work / f"shard-{number:05d}.npz"
            shard_files.append(file)
            if file.is_file() and _shard_ids(file) == [doc.id for doc in shard]:
                truncation.add_lengths([n for n, t in zip(encoder.token_lengths(texts), texts) if t.strip()])
                bar.update(len(shard))  # finished by an earlier run
                continue
            matrix = encoder.encode(texts, progress=bar.update, truncation=truncation)
            encoded_now += len(shard)
            _save_shard(file, matrix, [doc.id for doc in shard])
            bar.set_postfix(docs_per_s=f"{encoded_now / (time.perf_counter() - started):.1f}")
    if not seen:
        raise LilsrError(f"{corpus_path}: no documents")
    matrices, ids = [], []
    for file in shard_files:
        with np.load(file) as shard:
            matrices.append(sp.csr_matrix((shard["values"], shard["indices"], shard["indptr"]),
                                          shape=(len(shard["ids"]), encoder.vocab_size)))
            ids.extend(shard["ids"].tolist())
    vectors = SparseVectors.from_scipy(sp.vstack(matrices, format="csr"), encoder.vocab, ids)
    seconds = time.perf_counter() - started
    save_vectors(out, vectors, model=encoder.model_name, params=params, overwrite=overwrite,
                 extra_counts={"empty_input_docs": empty_inputs, "truncation": truncation.as_dict(),
                               "encode_seconds": round(seconds, 2),
                               "docs_per_second": round(encoded_now / seconds, 2) if encoded_now else None})
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
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    params_file.write_text(json.dumps(params))


def _save_shard(file: Path, matrix: sp.csr_matrix, ids: list[str]) -> None:
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, indptr=matrix.indptr.astype(np.int64), indices=matrix.indices.astype(np.int32),
             values=matrix.data.astype(np.float32), ids=np.asarray(ids))
    replace_path(tmp, file)


def _shard_ids(file: Path) -> list[str] | None:
    try:
        with np.load(file) as shard:
            return shard["ids"].tolist()
    except (OSError, ValueError, KeyError):
        return None
