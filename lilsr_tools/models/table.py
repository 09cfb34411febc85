"""The Li-LSR query lookup table.

Each vocabulary token x gets a static score s(x) = log(1 + ReLU(w . E_W(x) + b)), where E_W is the
model's word-embedding matrix (no positions) and (w, b) a learned linear head. A query vector is the
table looked up over the query's tokens: no network at query time.

A table folder::

    manifest.json   kind "lilsr.table", source checkpoint, init, counts, vocab digest
    table.npy       float32 [vocab], vocabulary order
    vocab.json      token strings in id order
    idf.json        {token: weight} for every token, zeros included (sentence-transformers'
                    SparseStaticEmbedding.from_json sizes its weight vector by the largest id listed, and
                    OpenSearch's inference-free pipeline reads the same format)
    tokenizer files, so the folder is a complete query encoder on its own
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_dir
from ..errors import LilsrError
from ..manifest import read_manifest, read_vocab, write_manifest
from ..vectors.store import vocab_digest

KIND = "lilsr.table"
# The Li-LSR head (w [hidden], b [1]) saved beside a Hugging Face checkpoint.
HEAD_FILE = "lilsr_head.safetensors"


def table_from_head(embeddings: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """s = log1p(relu(E_W w + b)) for every token, float32."""
    scores = np.asarray(embeddings, dtype=np.float32) @ np.asarray(w, dtype=np.float32).reshape(-1) + np.float32(b)
    return np.log1p(np.maximum(scores, 0.0)).astype(np.float32)


def init_head(hidden_size: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """An untrained head: small random w and b = 1, so every token starts near log(2) (binary-like)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 0.02, size=hidden_size).astype(np.float32), 1.0)


def load_head(checkpoint: str | Path) -> tuple[np.ndarray, float]:
    from safetensors.numpy import load_file

    path = Path(checkpoint) / HEAD_FILE
    if not path.is_file():
        raise LilsrError(f"{checkpoint} has no Li-LSR head ({HEAD_FILE}); train one with 'lilsr train' "
                         "or export with --init idf / --init untrained")
    tensors = load_file(str(path))
    return tensors["weight"].astype(np.float32).reshape(-1), float(tensors["bias"].reshape(-1)[0])


def save_head(checkpoint: str | Path, w: np.ndarray, b: float) -> None:
    from safetensors.numpy import save_file

    save_file({"weight": np.asarray(w, np.float32).reshape(-1), "bias": np.asarray([b], np.float32)},
              str(Path(checkpoint) / HEAD_FILE))


def idf_table(vectors) -> np.ndarray:
    """BM25-style idf over the documents a token occurs in: log(1 + (N - df + 0.5) / (df + 0.5)).

    Tokens in no document weigh 0: they can match nothing, and a large weight would only mislead."""
    df = np.bincount(np.asarray(vectors.indices), minlength=len(vectors.vocab)).astype(np.float64)
    n = float(len(vectors))
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    idf[df == 0] = 0.0
    return idf.astype(np.float32)


@dataclass
class QueryTable:
    weights: np.ndarray
    vocab: list[str]
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def stats(self, top: int = 20) -> dict:
        nonzero = self.weights > 0
        order = np.argsort(-self.weights, kind="stable")
        live = order[: int(nonzero.sum())]
        return {
            "vocab_size": len(self.vocab),
            "nonzero": int(nonzero.sum()),
            "zero_fraction": float(1.0 - nonzero.mean()),
            "mean_nonzero_weight": float(self.weights[nonzero].mean()) if nonzero.any() else 0.0,
            "top": [(self.vocab[i], float(self.weights[i])) for i in live[:top]],
            "bottom": [(self.vocab[i], float(self.weights[i])) for i in live[::-1][:top]],
        }


def save_table(out: str | Path, weights: np.ndarray, vocab: Sequence[str], tokenizer=None, *,
               source: str | None = None, params: dict | None = None, overwrite: bool = False) -> Path:
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (len(vocab),):
        raise LilsrError(f"table has {weights.shape[0]} weights for a vocabulary of {len(vocab)} tokens")
    if not np.all(np.isfinite(weights)) or (weights < 0).any():
        raise LilsrError("table weights must be finite and non-negative")
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        np.save(tmp / "table.npy", weights)
        (tmp / "vocab.json").write_text(json.dumps(list(vocab), ensure_ascii=False), encoding="utf-8")
        idf = {token: float(w) for token, w in zip(vocab, weights)}
        (tmp / "idf.json").write_text(json.dumps(idf, ensure_ascii=False), encoding="utf-8")
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        nonzero = int((weights > 0).sum())
        write_manifest(tmp, KIND, params=params, counts={"vocab_size": len(vocab), "nonzero": nonzero},
                       source=source, vocab_digest=vocab_digest(vocab), hash_files=["table.npy", "vocab.json"])
    return out


def load_table(path: str | Path) -> QueryTable:
    path = Path(path)
    manifest = read_manifest(path, KIND)
    try:
        weights = np.load(path / "table.npy")
    except (OSError, ValueError) as exc:
        raise LilsrError(f"{path / 'table.npy'}: unreadable ({exc}); re-export the table") from None
    vocab = read_vocab(path / "vocab.json", "re-export the table")
    if weights.shape != (len(vocab),) or weights.dtype != np.float32:
        raise LilsrError(f"{path}: table.npy has shape {weights.shape} for {len(vocab)} tokens; re-export the table")
    return QueryTable(weights, vocab, manifest, path)
