"""Teachers: a dense bi-encoder, a cross-encoder, or precomputed scores; their scores for every training pair.

- Dense: a sentence-transformers folder (``minilm`` names the offline all-MiniLM-L6-v2), read with plain
  transformers: the pooling (mean, cls or max) and normalisation come from the folder's ``modules.json``
  and ``1_Pooling/config.json``. Scores are dot products of the embeddings (cosines when normalised).
  Embeddings are cached per (teacher, collection), so a second run with other negatives encodes only
  the texts it has not seen.
- Cross-encoder: any local sequence-classification checkpoint (``config.json`` names a
  ``...ForSequenceClassification``); the score of a pair is its logit (one label) or the last label's
  logit minus the first's (two labels). Pair scores are cached as they are computed, so an interrupted
  run scores only what is missing when it resumes.
- File: ``qid docid score`` per line (whitespace-separated; a TREC run ``qid Q0 docid rank score tag`` is
  read too), or JSON lines in the hard-negatives-with-scores layout of MS MARCO training sets
  (``{"query_id", "positives": {"doc_id": [...], "score": [...]}, "negatives": {...}}``, ``qid`` accepted
  for ``query_id``; ``.gz`` read as it is). Unknown ids and non-numeric or non-finite scores are refused
  with the file and line.

Every run writes the scores it trained with to ``teacher_scores.tsv``: a score file, so that a later run
(on another machine, say) can use them as its teacher without the model.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_file
from ..errors import LilsrError
from ..progress import enabled as progress_enabled
from .data import TrainingData, digest

Scores = dict[str, dict[str, float]]  # qid -> docid -> score

# Dense bi-encoders score with cosines in [-1, 1]; a softmax over them needs a temperature well below 1
# (0.05 is the scale 20 of sentence-transformers' contrastive losses).
DENSE_TEMPERATURE = 0.05
TEACHER_KINDS = ("dense", "cross-encoder", "file")


def is_score_file(teacher: str) -> bool:
    return Path(teacher).is_file()


def teacher_kind(teacher: str) -> str:
    """``file`` (a score file), ``cross-encoder`` (a sequence-classification folder) or ``dense``."""
    if is_score_file(teacher):
        return "file"
    path = resolve_teacher_path(teacher)
    try:
        architectures = json.loads((path / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        architectures = []
    return "cross-encoder" if any(a.endswith("ForSequenceClassification") for a in architectures) else "dense"


def default_temperature(teacher: str) -> float:
    return DENSE_TEMPERATURE if teacher_kind(teacher) == "dense" else 1.0


def resolve_teacher_path(teacher: str) -> Path:
    from ..models.presets import PRESETS

    if teacher in PRESETS:
        return PRESETS[teacher].path
    path = Path(teacher).expanduser()
    if not (path / "config.json").is_file():
        raise LilsrError(f"teacher {teacher!r} is neither a score file nor a model folder with config.json; "
                         "give 'minilm', a sentence-transformers or cross-encoder folder, or a score file")
    return path


# --- score files ------------------------------------------------------------------------------------------

def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _is_jsonl(path: Path) -> bool:
    if ".jsonl" in path.suffixes or ".json" in path.suffixes:
        return True
    with _open_text(path) as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith("{")
    return False


def _number(raw, path: Path, number: int) -> float:
    try:
        score = float(raw)
    except (TypeError, ValueError):
        raise LilsrError(f"{path}:{number}: score {raw!r} is not a number") from None
    if not math.isfinite(score):
        raise LilsrError(f"{path}:{number}: score is {raw}; teacher scores must be finite numbers "
                         "(fix or drop that line)")
    return score


def _tsv_rows(path: Path):
    with _open_text(path) as handle:
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
            yield number, qid, docid, _number(raw, path, number)


def _jsonl_rows(path: Path):
    """The hard-negatives-with-scores layout: per query, positives and negatives with a score each."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LilsrError(f"{path}:{number}: malformed JSON ({exc.msg} at column {exc.colno})") from None
            qid = obj.get("query_id", obj.get("qid")) if isinstance(obj, dict) else None
            if qid is None:
                raise LilsrError(f"{path}:{number}: expected a JSON object with 'query_id' (or 'qid'), "
                                 "'positives' and 'negatives' ({'doc_id': [...], 'score': [...]})")
            for side in ("positives", "negatives"):
                group = obj.get(side) or {}
                if not isinstance(group, dict) or not isinstance(group.get("doc_id", []), list):
                    raise LilsrError(f"{path}:{number}: '{side}' must be {{'doc_id': [...], 'score': [...]}}")
                ids, values = group.get("doc_id", []), group.get("score")
                if not ids:
                    continue
                if not isinstance(values, list) or len(values) != len(ids):
                    raise LilsrError(f"{path}:{number}: '{side}' has {len(ids)} doc_id but "
                                     f"{len(values) if isinstance(values, list) else 0} score; every document needs a score")
                for docid, raw in zip(ids, values):
                    yield number, str(qid), str(docid), _number(raw, path, number)


def read_score_file(path: str | Path, queries: Sequence[str] | set, docs: Sequence[str] | dict) -> Scores:
    """Read teacher scores (``qid docid score`` lines or the JSON-lines layout); every id must be known and
    every score a finite number."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such teacher score file")
    known_queries, known_docs = set(queries), docs if isinstance(docs, (dict, set)) else set(docs)
    scores: Scores = {}
    rows = _jsonl_rows(path) if _is_jsonl(path) else _tsv_rows(path)
    for number, qid, docid, score in rows:
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


# --- cross-encoders ---------------------------------------------------------------------------------------

class CrossEncoderTeacher:
    """A sequence-classification checkpoint scoring (query, document) pairs with plain transformers."""

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32, max_length: int | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = Path(path)
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(self.path)).to(device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", 512) or 512
        self.max_length = min(max_length or 512, limit, getattr(self.tokenizer, "model_max_length", limit) or limit)
        self._torch = torch

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = self.tokenizer(list(queries), list(docs), max_length=self.max_length, truncation="longest_first",
                                   padding=True, return_tensors="pt").to(self.device)
            logits = self.model(**batch).logits.float()
        values = logits[:, 0] if logits.shape[1] == 1 else logits[:, -1] - logits[:, 0]
        return values.cpu().numpy()


def cross_encoder_scores(teacher: str, data: TrainingData, cache_dir: Path, collection_key: str,
                         device: str = "cpu", progress: bool = True, max_length: int | None = None) -> Scores:
    """The cross-encoder's score of every (query, positive or pool document) pair of ``data``.

    Scores are appended to a cache file batch by batch (``qid<TAB>docid<TAB>score``), so a kill -9 loses at
    most one batch and a resumed run scores only the pairs still missing."""
    from tqdm import tqdm

    path = resolve_teacher_path(teacher)
    cache = cache_dir / f"cross-{digest(path.resolve(), collection_key, max_length)}.tsv"
    known: Scores = {}
    if cache.is_file():
        with open(cache, encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:  # a line cut by a kill is dropped, and scored again
                    try:
                        known.setdefault(parts[0], {})[parts[1]] = float(parts[2])
                    except ValueError:
                        pass
    pairs = [(q, d) for q, d in _pairs(data) if d not in known.get(q, {})]
    if pairs:
        model = CrossEncoderTeacher(path, device=device, max_length=max_length)
        pairs.sort(key=lambda p: len(data.docs[p[1]]))  # similar lengths pad little
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "a", encoding="utf-8") as out, \
                tqdm(total=len(pairs), desc="teacher pairs", unit="pair", disable=not progress_enabled(progress)) as bar:
            for start in range(0, len(pairs), model.batch_size):
                chunk = pairs[start:start + model.batch_size]
                values = model.score([data.queries[q] for q, _ in chunk], [data.docs[d] for _, d in chunk])
                out.write("".join(f"{q}\t{d}\t{v:.6f}\n" for (q, d), v in zip(chunk, values.tolist())))
                out.flush()
                for (q, d), v in zip(chunk, values.tolist()):
                    known.setdefault(q, {})[d] = round(v, 6)
                bar.update(len(chunk))
    return {q: {d: known[q][d] for d in candidates} for q, candidates in _candidates(data).items()}


def qrels_agreement(data: TrainingData, scores: Scores) -> dict:
    """How often the teacher agrees with the qrels: over every (trained positive, mined negative) pair of a
    query, the share the teacher scores the positive higher (ties count half). 0.5 is a coin; a teacher near
    or below it gives the ranking loss nothing the qrels would call right, and a static table trained on it
    can collapse to zero (equal scores fit a flat teacher best)."""
    wins = pairs = 0.0
    for qid, positives in _trained_positives(data).items():
        known = scores.get(qid, {})
        pos = np.array([known[d] for d in positives if d in known], dtype=np.float64)
        neg = np.array([known[d] for d in data.pools.get(qid, ()) if d in known], dtype=np.float64)
        if pos.size and neg.size:
            diff = pos[:, None] - neg[None, :]
            wins += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
            pairs += diff.size
    return {"pairs": int(pairs), "positive_above_negative": round(wins / pairs, 4) if pairs else None}


def _trained_positives(data: TrainingData) -> dict[str, list[str]]:
    """qid -> the positives its training examples use, in example order."""
    trained: dict[str, list[str]] = {}
    for qid, doc in data.examples:
        trained.setdefault(qid, []).append(doc)
    return trained


def _candidates(data: TrainingData) -> dict[str, list[str]]:
    trained = _trained_positives(data)
    return {qid: list(dict.fromkeys(trained.get(qid, []) + data.pools[qid])) for qid in sorted(data.pools)}


def _pairs(data: TrainingData) -> list[tuple[str, str]]:
    return [(q, d) for q, docs in _candidates(data).items() for d in docs]


def teacher_truncation(teacher: str, data: TrainingData, max_length: int | None) -> dict | None:
    """What the teacher's token limit cuts of the texts (dense) or pairs (cross-encoder) it scores."""
    from transformers import AutoTokenizer

    from ..models.truncation import Truncation

    kind = teacher_kind(teacher)
    if kind == "file":
        return None
    path = resolve_teacher_path(teacher)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if kind == "cross-encoder":
        from transformers import AutoConfig

        limit = getattr(AutoConfig.from_pretrained(str(path)), "max_position_embeddings", 512) or 512
        limit = min(max_length or 512, limit, getattr(tokenizer, "model_max_length", limit) or limit)
        pairs = _pairs(data)
        counted = Truncation(limit).add(tokenizer, [data.queries[q] for q, _ in pairs], [data.docs[d] for _, d in pairs])
        return {"pairs": counted.as_dict()}
    config = path / "sentence_bert_config.json"
    limit = max_length or (json.loads(config.read_text()).get("max_seq_length", 256) if config.is_file() else 256)
    doc_ids = sorted({d for docs in _candidates(data).values() for d in docs})
    return {"queries": Truncation(limit).add(tokenizer, [data.queries[q] for q in sorted(data.pools)]).as_dict(),
            "documents": Truncation(limit).add(tokenizer, [data.docs[d] for d in doc_ids]).as_dict()}


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
            with tqdm(total=len(missing), desc=f"teacher {kind}", unit="query" if kind == "queries" else "doc", disable=not progress_enabled(progress)) as bar:
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

    candidates = _candidates(data)
    qids = sorted(candidates)
    doc_ids = sorted({d for docs in candidates.values() for d in docs})
    query_vectors = cache.get("queries", qids, data.queries, factory, progress)
    doc_vectors = cache.get("docs", doc_ids, data.docs, factory, progress)
    scores: Scores = {}
    for qid in qids:
        values = np.stack([doc_vectors[d] for d in candidates[qid]]) @ query_vectors[qid]
        scores[qid] = dict(zip(candidates[qid], values.astype(float).tolist()))
    return scores
