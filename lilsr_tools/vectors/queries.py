"""Encoded queries on disk: a folder with ``queries.jsonl`` and ``manifest.json``.

Each line is ``{"qid", "vector": {token: weight}, "encode_ns"}``; Anserini's JsonStringVectorTopicReader
reads ``qid`` and ``vector`` and ignores the rest.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..data.collection import check_id
from ..data.jsonl import read_jsonl, require_field
from ..errors import LilsrError
from ..evaluation.latency import summarize_ns
from ..manifest import read_manifest, write_manifest
from ..models.query_encoders import EncodedQueries

KIND = "lilsr.queries"


def save_encoded_queries(out: str | Path, encoded: EncodedQueries, *, params: dict | None = None,
                         overwrite: bool = False, vocab_digest: str | None = None) -> Path:
    with atomic_dir(out, overwrite=overwrite) as tmp:
        with open(tmp / "queries.jsonl", "w", encoding="utf-8") as handle:
            for qid, vector, ns in zip(encoded.qids, encoded.vectors, encoded.encode_ns):
                handle.write(json.dumps({"qid": qid, "vector": vector, "encode_ns": int(ns)}, ensure_ascii=False))
                handle.write("\n")
        lengths = [len(v) for v in encoded.vectors]
        counts = {"queries": len(encoded), "empty_queries": sum(n == 0 for n in lengths),
                  "mean_nnz": float(np.mean(lengths)) if lengths else 0.0}
        timing = ("per query: its own encode call" if encoded.batch_size == 1 else
                  f"batches of {encoded.batch_size}: each query gets its batch's wall time / batch size")
        write_manifest(tmp, KIND, params=params, counts=counts, encoder=encoded.encoder,
                       vocab_digest=vocab_digest, encode_latency=summarize_ns(encoded.encode_ns),
                       encode_batch_size=encoded.batch_size, encode_timing=timing)
    return Path(out)


def load_encoded_queries(path: str | Path) -> tuple[EncodedQueries, dict]:
    path = Path(path)
    manifest = read_manifest(path, KIND)
    file = path / "queries.jsonl"
    qids, vectors, times = [], [], []
    first: dict[str, int] = {}
    for number, obj in read_jsonl(file):
        qid = check_id(require_field(obj, "qid", file, number), file, number, "query")
        if qid in first:
            raise LilsrError(f"{file}:{number}: duplicate query id {qid!r} (first on line {first[qid]})")
        first[qid] = number
        vector = require_field(obj, "vector", file, number, (dict,))
        for token, weight in vector.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise LilsrError(f"{file}:{number}: token {token!r} has weight {weight!r}; weights must be finite numbers")
            if weight < 0:
                # engines drop what they cannot score: a negative weight would vanish without a word
                raise LilsrError(f"{file}:{number}: token {token!r} has a negative weight {weight!r}; learned sparse "
                                 "query weights are non-negative")
        encode_ns = obj.get("encode_ns", 0)
        if isinstance(encode_ns, bool) or not isinstance(encode_ns, int) or encode_ns < 0:
            raise LilsrError(f"{file}:{number}: encode_ns {encode_ns!r} is not a non-negative integer")
        qids.append(qid)
        vectors.append(vector)
        times.append(encode_ns)
    if not qids:
        raise LilsrError(f"{file}: no queries")
    encoded = EncodedQueries(qids, vectors, np.asarray(times, dtype=np.int64), manifest.get("encoder", ""),
                             int(manifest.get("encode_batch_size") or 1))
    return encoded, manifest
