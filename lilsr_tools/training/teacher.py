"""Teachers: a dense bi-encoder, or a score file; their scores for every training pair, cached on disk.

- Dense: a sentence-transformers folder (``minilm`` names the offline all-MiniLM-L6-v2), read with plain
  transformers: the pooling (mean, cls or max) and normalisation come from the folder's ``modules.json``
  and ``1_Pooling/config.json``. Scores are dot products of the embeddings (cosines when normalised).
  Embeddings are cached per (teacher, collection), so a second run with other negatives encodes only
  the texts it has not seen.
- File: ``qid docid score`` per line (whitespace-separated; a TREC run ``qid Q0 docid rank score tag`` is
  read too). Unknown ids and non-finite scores are refused with the file and line.

Every run writes the scores it trained with to ``teacher_scores.tsv``: a score file, so that a later run
(on another machine, say) can use them as its teacher without the dense model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_file
from ..errors import LilsrError
from .data import TrainingData, digest

Scores = dict[str, dict[str, float]]  # qid -> docid -> score

# Dense bi-encoders score with cosines in [-1, 1]; a softmax over them needs a temperature well below 1
# (0.05 is the scale 20 of sentence-transformers' contrastive losses).
DENSE_TEMPERATURE = 0.05


def is_score_file(teacher: str) -> bool:
    return Path(teacher).is_file()


def default_temperature(teacher: str) -> float:
    return 1.0 if is_score_file(teacher) else DENSE_TEMPERATURE


def resolve_teacher_path(teacher: str) -> Path:
    from ..models.presets import PRESETS

    if teacher in PRESETS:
        return PRESETS[teacher].path
    path = Path(teacher).expanduser()
    if not (path / "config.json").is_file():
        raise LilsrError(f"teacher {teacher!r} is neither a score file nor a model folder with config.json; "
                         "give 'minilm', a sentence-transformers folder or a 'qid docid score' file")
    return path


# --- score files ------------------------------------------------------------------------------------------

def read_score_file(path: str | Path, queries: Sequence[str] | set, docs: Sequence[str] | dict) -> Scores:
    """Read ``qid docid score`` lines; every id must be known and every score finite."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such teacher score file")
    known_queries, known_docs = set(queries), docs if isinstance(docs, (dict, set)) else set(docs)
    scores: Scores = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) == 3:
                qid, docid, raw = parts
            elif len(parts) == 6:  # TREC run: qid Q0 docid rank score tag
                qid, docid, raw = parts[0], parts[2], parts[4]
            else:
                raise LilsrError(f"{path}:{number}: expected 'qid docid score' (or a TREC run line), "
                                 f"got {len(parts)} columns")
            try:
                score = float(raw)
            except ValueError:
                raise LilsrError(f"{path}:{number}: score {raw!r} is not a number") from None
            if not math.isfinite(score):
                raise LilsrError(f"{path}:{number}: score is {raw}; teacher scores must be finite numbers "
                                 "(fix or drop that line)")
            if qid not in known_queries:
                raise LilsrError(f"{path}:{number}: unknown query id {qid!r} (not in the collection's queries); "
                                 "the score file must use the collection's ids")
            if docid not in known_docs:
                raise LilsrError(f"{path}:{number}: unknown document id {docid!r} (not in the corpus); "
                                 "the score file must use the collection's ids")
            scores.setdefault(qid, {})[docid] = score
    if not scores:
        raise LilsrError(f"{path}: no scores")
    return scores


def write_score_file(path: str | Path, scores: Scores) -> None:
    with atomic_file(path) as out:
        for qid in sorted(scores):
            for docid, score in scores[qid].items():
                out.write(f"{qid}\t{docid}\t{score:.6f}\n")


# --- dense bi-encoders ------------------------------------------------------------------------------------

class DenseTeacher:
    """A sentence-transformers bi-encoder read with plain transformers (no sentence-transformers needed)."""

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 64, max_length: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path)
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModel.from_pretrained(str(self.path)).to(device).eval()
        self.pooling, self.normalize = _pooling_of(self.path)
        config = self.path / "sentence_bert_config.json"
        self.max_length = json.loads(config.read_text()).get("max_seq_length", 256) if config.is_file() else 256
        if max_length is not None:
            self.max_length = max_length
        self._torch = torch

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in chunk], max_length=self.max_length, truncation=True,
                                       padding=True, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                elif self.pooling == "max":
                    pooled = hidden.masked_fill(mask == 0, float("-inf")).amax(dim=1)
                else:
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[chunk] = pooled.float().cpu().numpy()
                if progress:
                    progress(len(chunk))
        return out


def _pooling_of(path: Path) -> tuple[str, bool]:
    modules_file = path / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    pooling = "mean"
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((path / module.get("path", "1_Pooling") / "config.json").read_text())
            if config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif config.get("pooling_mode_max_tokens"):
                pooling = "max"
    return pooling, normalize


class EmbeddingCache:
    """Embeddings by id in a folder (``<kind>.npy`` + ``<kind>_ids.txt``), grown as new ids are needed."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, kind: str, ids: list[str], texts: dict[str, str], teacher_factory, progress=True) -> dict:
        from tqdm import tqdm

        vectors_file, ids_file = self.folder / f"{kind}.npy", self.folder / f"{kind}_ids.txt"
        known: dict[str, np.ndarray] = {}
        if vectors_file.is_file() and ids_file.is_file():
            matrix = np.load(vectors_file)
            names = ids_file.read_text(encoding="utf-8").splitlines()
            if len(names) == len(matrix):
                known = dict(zip(names, matrix))
        missing = [i for i in dict.fromkeys(ids) if i not in known]
        if missing:
            teacher = teacher_factory()
            with tqdm(total=len(missing), desc=f"teacher {kind}", unit=kind[:-1], disable=not progress) as bar:
                fresh = teacher.encode([texts[i] for i in missing], progress=bar.update)
            known.update(zip(missing, fresh))
            self.folder.mkdir(parents=True, exist_ok=True)
            names = list(known)
            with atomic_file(vectors_file, "wb") as handle:
                np.save(handle, np.stack([known[n] for n in names]).astype(np.float32))
            with atomic_file(ids_file) as handle:
                handle.write("".join(f"{n}\n" for n in names))
        return known


def dense_scores(teacher: str, data: TrainingData, cache_dir: Path, collection_key: str, device: str = "cpu",
                 progress: bool = True, max_length: int | None = None) -> Scores:
    """Teacher dot products for every (query, positive or pool document) pair of ``data``.

    ``collection_key`` names the collection in the embedding cache (its resolved folder); ``max_length``
    overrides the teacher's token limit (and keys a cache of its own)."""
    path = resolve_teacher_path(teacher)
    key = digest(path.resolve(), collection_key) if max_length is None else digest(path.resolve(), collection_key,
                                                                                   max_length)
    cache = EmbeddingCache(cache_dir / f"teacher-{key}")
    state: dict = {}

    def factory():  # the model loads only when something is missing from the cache
        if "teacher" not in state:
            state["teacher"] = DenseTeacher(path, device=device, max_length=max_length)
        return state["teacher"]

    qids = sorted(data.pools)
    doc_ids = sorted({d for q in qids for d in data.pools[q]} | {d for _, d in data.examples})
    query_vectors = cache.get("queries", qids, data.queries, factory, progress)
    doc_vectors = cache.get("docs", doc_ids, data.docs, factory, progress)
    trained_positives: dict[str, list[str]] = {}
    for qid, doc in data.examples:
        trained_positives.setdefault(qid, []).append(doc)
    scores: Scores = {}
    for qid in qids:
        candidates = list(dict.fromkeys(trained_positives.get(qid, []) + data.pools[qid]))
        values = np.stack([doc_vectors[d] for d in candidates]) @ query_vectors[qid]
        scores[qid] = dict(zip(candidates, values.astype(float).tolist()))
    return scores
