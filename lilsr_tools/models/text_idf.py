"""idf over the corpus *text*: the inference-free baseline the literature uses.

The document frequency of each tokenizer token is counted over the tokenized corpus (title and text, in
full, no special tokens) in one streaming pass, and weighted as BM25 (Lucene) does:
``idf = log(1 + (N - df + 0.5) / (df + 0.5))``. Tokens that occur in no document weigh 0 (they match no
document's text; a large weight on them would only amplify document expansion noise), and so do special
tokens. Stopwords and punctuation, in nearly every document, weigh little; rare content words weigh most.

Counts are cached under ``$LILSR_CACHE_DIR/idf/`` keyed by the corpus file's sha256 and the tokenizer's
vocabulary, so a second table, encoder or evaluation over the same collection costs nothing.

(``vector-idf`` is the older variant: document frequency over a vector store's non-zeros. SPLADE vectors
rarely hold stopwords, so they get near-maximum weight there; it is kept for comparison only.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import LilsrError
from ..progress import enabled as progress_enabled

KIND = "lilsr.text-idf"
BATCH = 1000


@dataclass
class TextIdf:
    df: np.ndarray          # int64 [vocab]: documents holding each token
    n_docs: int
    corpus: str
    corpus_sha256: str

    @property
    def weights(self) -> np.ndarray:
        return bm25_idf(self.df, self.n_docs)


def bm25_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    df = np.asarray(df, dtype=np.float64)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    idf[df == 0] = 0.0
    return idf.astype(np.float32)


def corpus_path_of(source: str | Path) -> Path:
    """A corpus file from a collection name, a BEIR folder or the corpus file itself."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    from ..data.collection import resolve_collection

    return resolve_collection(str(source)).corpus_path


def _sha256(path: Path) -> str:
    from ..manifest import sha256_file

    return sha256_file(path)


def _cache_root() -> Path:
    import os

    base = os.environ.get("LILSR_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "lilsr")
    return Path(base) / "idf"


def text_idf(corpus: str | Path, tokenizer, *, progress: bool = True, cache: bool = True) -> TextIdf:
    """Document frequencies of ``tokenizer``'s tokens over ``corpus`` (collection, folder or file)."""
    from tqdm import tqdm

    from ..data.collection import read_corpus
    from ..vectors.store import vocab_digest
    from .presets import vocabulary

    path = corpus_path_of(corpus)
    size = len(tokenizer)
    vocab = vocabulary(tokenizer, size)
    corpus_sha = _sha256(path)
    folder = _cache_root() / f"{corpus_sha[:16]}-{vocab_digest(vocab)}"
    if cache and (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        df = np.load(folder / "df.npy")
        if len(df) == size:
            return TextIdf(df, int(manifest["counts"]["docs"]), str(path), corpus_sha)
    df = np.zeros(size, dtype=np.int64)
    n_docs = 0
    batch: list[str] = []

    def flush():
        if not batch:
            return
        ids = tokenizer(batch, add_special_tokens=False, truncation=False, verbose=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        distinct = np.concatenate([np.unique(np.asarray(row, dtype=np.int64)) for row in ids if row] or
                                  [np.zeros(0, np.int64)])
        df[:] += np.bincount(distinct, minlength=size)[:size]
        batch.clear()

    with tqdm(desc=f"idf {path.parent.name or path.name}", unit="doc", disable=not progress_enabled(progress)) as bar:
        for doc in read_corpus(path):
            batch.append(doc.contents)
            n_docs += 1
            if len(batch) == BATCH:
                flush()
                bar.update(BATCH)
        bar.update(len(batch))
        flush()
    if n_docs == 0:
        raise LilsrError(f"{path}: no documents to count idf over")
    special = [i for i in tokenizer.all_special_ids if i < size]
    df[special] = 0
    if cache:
        from ..manifest import write_manifest

        with atomic_dir(folder, overwrite=True) as tmp:
            np.save(tmp / "df.npy", df)
            write_manifest(tmp, KIND, params={"corpus": str(path), "corpus_sha256": corpus_sha,
                                              "vocab_digest": vocab_digest(vocab)},
                           counts={"docs": n_docs, "tokens_seen": int((df > 0).sum())}, hash_files=["df.npy"])
    return TextIdf(df, n_docs, str(path), corpus_sha)
