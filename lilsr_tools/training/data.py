"""Training data: queries of a split, their positives (qrels), mined negatives, and batches of them.

A query's candidates in a batch are one positive plus ``n`` negatives sampled from its mined pool (the
top of a first-stage ranking with the positives removed). Negatives come from the base model's exact
search (the default: it needs nothing but the model), the ``bm25`` engine, or the candidates a teacher
score file lists. Mined pools are cached on disk, and a run writes its own ``triples.jsonl`` (one line
per query: ``{"qid", "positives", "negatives"}``) that a later run can reuse with ``--triples``.

Batches are a pure function of (seed, micro-batch number): an epoch is a seeded permutation of the
(query, positive) examples, and each example's negatives are drawn with a generator seeded by
(seed, epoch, example). A resumed run therefore sees exactly the batches it would have seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..atomic import atomic_file
from ..data.collection import Collection, read_queries, resolve_collection
from ..data.jsonl import read_jsonl, require_field
from ..errors import LilsrError
from ..progress import enabled as progress_enabled


@dataclass
class TrainingData:
    queries: dict[str, str]              # qid -> text
    docs: dict[str, str]                 # docid -> text (title + text, as the encoder reads it)
    positives: dict[str, list[str]]      # qid -> relevant docids (qrels > 0)
    pools: dict[str, list[str]]          # qid -> mined negatives, best first
    examples: list[tuple[str, str]]      # (qid, positive docid): one training example each
    dropped: dict = field(default_factory=dict)  # what preparation left out, and why (counts)

    @property
    def training_docs(self) -> set[str]:
        """Every document the run trains on: positives of the examples and pool documents."""
        return {d for _, d in self.examples} | {d for pool in self.pools.values() for d in pool}

    def counts(self) -> dict:
        pool_sizes = [len(p) for p in self.pools.values()]
        return {"queries": len(self.queries), "examples": len(self.examples),
                "mean_pool": float(np.mean(pool_sizes)) if pool_sizes else 0.0,
                "min_pool": int(min(pool_sizes)) if pool_sizes else 0}


def digest(*parts) -> str:
    """A short key for cache files: what the cached thing was computed from."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:12]


def judged_positives(collection: Collection, split: str) -> dict[str, list[str]]:
    qrels = collection.qrels(split)
    positives = {qid: sorted(d for d, rel in docs.items() if rel > 0) for qid, docs in qrels.items()}
    positives = {qid: docs for qid, docs in positives.items() if docs}
    if not positives:
        raise LilsrError(f"{collection.qrels_path(split)}: no positive judgments to train on")
    return positives


def read_docs(collection: Collection) -> dict[str, str]:
    return {doc.id: doc.contents for doc in collection.corpus()}


def build_examples(queries: dict[str, str], positives: dict[str, list[str]], pools: dict[str, list[str]],
                   docs: dict[str, str]) -> list[tuple[str, str]]:
    """(qid, positive) pairs whose query has text, a known positive and at least one negative."""
    return [(qid, doc) for qid in sorted(positives) if qid in queries and pools.get(qid)
            for doc in positives[qid] if doc in docs]


# --- triples files ---------------------------------------------------------------------------------------

def write_triples(path: str | Path, data: TrainingData) -> None:
    with atomic_file(path) as out:
        for qid in sorted(data.pools):
            out.write(json.dumps({"qid": qid, "positives": data.positives.get(qid, []),
                                  "negatives": data.pools[qid]}) + "\n")


def read_triples(path: str | Path, queries: dict[str, str], docs: dict[str, str]) -> tuple[dict, dict]:
    """``(positives, pools)`` from a triples file; ids the collection does not know are an error."""
    path = Path(path)
    positives: dict[str, list[str]] = {}
    pools: dict[str, list[str]] = {}
    for number, obj in read_jsonl(path):
        qid = str(require_field(obj, "qid", path, number))
        if qid not in queries:
            raise LilsrError(f"{path}:{number}: query id {qid!r} is not in the collection's queries; "
                             "use the triples file of the same collection")
        for name, target in (("positives", positives), ("negatives", pools)):
            ids = [str(d) for d in require_field(obj, name, path, number, (list,))]
            unknown = [d for d in ids if d not in docs]
            if unknown:
                raise LilsrError(f"{path}:{number}: document id {unknown[0]!r} is not in the corpus")
            target[qid] = ids
    if not pools:
        raise LilsrError(f"{path}: no triples")
    return positives, pools


# --- mining ----------------------------------------------------------------------------------------------

def _cached_pools(path: Path) -> dict[str, list[str]] | None:
    if not path.is_file():
        return None
    try:
        return {obj["qid"]: obj["negatives"] for _, obj in read_jsonl(path)}
    except (LilsrError, KeyError):
        return None


def _save_pools(path: Path, pools: dict[str, list[str]]) -> None:
    with atomic_file(path) as out:
        for qid, negatives in pools.items():
            out.write(json.dumps({"qid": qid, "negatives": negatives}) + "\n")


def _pools_from_ranking(qids, ranked: Iterable[list[str]], positives, depth, excluded=frozenset()) -> dict[str, list[str]]:
    pools = {}
    for qid, ids in zip(qids, ranked):
        relevant = set(positives.get(qid, ()))
        pools[qid] = [d for d in ids if d not in relevant and d not in excluded][:depth]
    return pools


def _search_depth(depth: int, positives: dict, excluded, n_docs: int) -> int:
    """Deep enough that ``depth`` negatives survive removing the positives and the held-out documents."""
    extra = max((len(p) for p in positives.values()), default=0)
    return max(1, min(n_docs, depth + extra + len(excluded)))


def mine_exact(collection: Collection, loaded, model_name: str, queries: dict[str, str],
               positives: dict[str, list[str]], depth: int, *, max_length: int, query_max_length: int,
               cache_dir: Path, vectors_path: str | None = None, progress: bool = True,
               excluded=frozenset()) -> dict[str, list[str]]:
    """Negatives from the base model itself: its documents, its contextual queries, exact search."""
    from tqdm import tqdm

    from ..engines.exact import ExactEngine
    from ..models.corpus import encode_corpus
    from ..models.query_encoders import ContextualEncoder
    from ..models.splade import SpladeEncoder
    from ..vectors.store import load_vectors

    key = digest("exact", model_name, max_length, query_max_length, collection.root.resolve(),
                 sorted(queries), depth, vectors_path, digest(*sorted(excluded)))
    cache = cache_dir / f"negatives-{key}.jsonl"
    if (pools := _cached_pools(cache)) is not None:
        return pools
    if vectors_path:
        store = load_vectors(vectors_path)
    else:
        store_path = cache_dir / f"vectors-{digest(model_name, max_length, collection.root.resolve())}"
        if (store_path / "manifest.json").is_file():
            store = load_vectors(store_path)
        else:
            encoder = SpladeEncoder(model_name, max_length=max_length, loaded=loaded)
            store = encode_corpus(collection.corpus_path, store_path, encoder, progress=progress, overwrite=True)
    query_encoder = ContextualEncoder(model_name, max_length=query_max_length, loaded=loaded)
    if store.vocab != query_encoder.vocab:
        raise LilsrError(f"{vectors_path}: encoded with another vocabulary than {model_name}; "
                         "mine with a store of the base model")
    qids = sorted(queries)
    vectors = [query_encoder.encode(queries[q])
               for q in tqdm(qids, desc="mine: encode queries", unit="query", disable=not progress_enabled(progress))]
    k = _search_depth(depth, positives, excluded, len(store))
    engine = ExactEngine(store)
    ranked = []
    with tqdm(total=len(qids), desc="mine: exact search", unit="query", disable=not progress_enabled(progress)) as bar:
        for start in range(0, len(qids), 256):
            ranked += engine.batch_search(qids[start:start + 256], vectors[start:start + 256], k=k).doc_ids
            bar.update(len(qids[start:start + 256]))
    pools = _pools_from_ranking(qids, ranked, positives, depth, excluded)
    _save_pools(cache, pools)
    return pools


def mine_bm25(collection: Collection, queries: dict[str, str], positives: dict[str, list[str]], depth: int, *,
              cache_dir: Path, excluded=frozenset(), progress: bool = False) -> dict[str, list[str]]:
    """Negatives from BM25 through the engine protocol (``engines.get_engine("bm25")``, Lucene)."""
    from ..engines import get_engine

    key = digest("bm25", collection.root.resolve(), sorted(queries), depth, digest(*sorted(excluded)))
    cache = cache_dir / f"negatives-{key}.jsonl"
    if (pools := _cached_pools(cache)) is not None:
        return pools
    engine = get_engine("bm25")
    index = cache_dir / f"bm25-{digest(collection.root.resolve())}"
    if not (index / "manifest.json").is_file():
        engine.build(str(collection.root), index, overwrite=True)
    qids = sorted(queries)
    n_docs = json.loads((index / "manifest.json").read_text()).get("counts", {}).get("docs", 10 ** 9)
    k = _search_depth(depth, positives, excluded, n_docs)
    results = engine.load(index).batch_search(qids, [queries[q] for q in qids], k=k)
    pools = _pools_from_ranking(qids, results.doc_ids, positives, depth, excluded)
    _save_pools(cache, pools)
    return pools


def load_training_data(config, *, cache_dir: Path, loaded=None, teacher_candidates: dict | None = None,
                       heldout=None, progress: bool = True) -> TrainingData:
    """Everything a run trains on. ``loaded`` is the base (model, tokenizer) for exact mining;
    ``teacher_candidates`` the {qid: {docid: score}} of a teacher score file (for --negatives scores);
    ``heldout`` (training.heldout.HeldOut) the dev queries and documents that may not train the model.
    What is dropped on the way is counted in ``TrainingData.dropped``."""
    collection = resolve_collection(config.collection)
    docs = read_docs(collection)
    all_queries = {q.id: q.text for q in read_queries(collection.queries_path)}
    excluded = frozenset(heldout.excluded) if heldout is not None else frozenset()
    dev = set(heldout.dev_qids) if heldout is not None else set()
    if config.triples:
        judged, pools = read_triples(config.triples, all_queries, docs)
    else:
        judged = judged_positives(collection, config.split)
    dropped = {"dev_queries": sum(q in dev for q in judged)}
    positives = {q: [d for d in p if d not in excluded] for q, p in judged.items() if q not in dev}
    dropped["positives_held_out"] = sum(len(judged[q]) - len(p) for q, p in positives.items())
    dropped["queries_all_positives_held_out"] = sum(not p for p in positives.values())
    positives = {q: p for q, p in positives.items() if p}
    if not positives:
        raise LilsrError(f"{config.collection}: every training query lost its positives to held-out documents "
                         f"({len(excluded)} documents judged in the evaluation or dev splits); pass "
                         "--allow-dev-docs or --allow-eval-docs, or evaluate elsewhere")
    if not config.triples:
        if config.negatives == "scores":
            if teacher_candidates is None:
                raise LilsrError("--negatives scores takes the candidates of a teacher score file; "
                                 "pass --teacher FILE")
            pools = {qid: [d for d, _ in sorted(cands.items(), key=lambda kv: -kv[1])]
                     for qid, cands in teacher_candidates.items() if qid in positives}
        else:
            queries = {qid: all_queries[qid] for qid in positives if qid in all_queries}
            if config.negatives == "bm25":
                pools = mine_bm25(collection, queries, judged, config.negatives_depth, cache_dir=cache_dir,
                                  excluded=excluded)
            else:
                pools = mine_exact(collection, loaded, config.base, queries, judged, config.negatives_depth,
                                   max_length=config.max_length, query_max_length=config.query_max_length,
                                   cache_dir=cache_dir, vectors_path=config.mine_vectors, progress=progress,
                                   excluded=excluded)
    # a pool never holds a judged positive of its query nor a held-out document, whatever its source
    filtered = {qid: [d for d in pool if d not in excluded and d not in set(judged.get(qid, ()))]
                for qid, pool in pools.items() if qid in positives}
    dropped["negatives_held_out"] = sum(sum(d in excluded for d in pool) for q, pool in pools.items()
                                        if q in positives)
    pools = {qid: pool for qid, pool in filtered.items() if pool}
    queries = {qid: all_queries[qid] for qid in pools if qid in all_queries}
    examples = build_examples(queries, positives, pools, docs)
    if not examples:
        raise LilsrError(f"{config.collection}: no training examples (queries with a positive and a mined negative)")
    data = TrainingData(queries, docs, positives, pools, examples)
    data.dropped = dropped
    return data


def restrict_to_scored(data: TrainingData, scores: dict[str, dict[str, float]]) -> tuple[TrainingData, dict]:
    """Keep only candidates the teacher scored (a score file need not cover every mined negative), and
    only the scores of the pairs trained on (the run's teacher_scores.tsv holds exactly these)."""
    pools = {qid: [d for d in pool if d in scores.get(qid, {})] for qid, pool in data.pools.items()}
    pools = {qid: pool for qid, pool in pools.items() if pool}
    examples = [(q, d) for q, d in data.examples if q in pools and d in scores.get(q, {})]
    dropped = {"examples_without_teacher_score": len(data.examples) - len(examples),
               "negatives_without_teacher_score": sum(len(p) for p in data.pools.values())
               - sum(len(p) for p in pools.values())}
    if not examples:
        raise LilsrError("the teacher scores none of the training pairs (query, positive); "
                         "check that the score file uses this collection's ids")
    trained: dict[str, list[str]] = {}
    for qid, doc in examples:
        trained.setdefault(qid, []).append(doc)
    pools = {qid: pool for qid, pool in pools.items() if qid in trained}
    queries = {qid: data.queries[qid] for qid in pools}
    positives = {qid: data.positives[qid] for qid in pools}
    kept = {qid: {d: scores[qid][d] for d in dict.fromkeys([*trained[qid], *pool])} for qid, pool in pools.items()}
    restricted = TrainingData(queries, data.docs, positives, pools, examples)
    restricted.dropped = {**data.dropped, **dropped}
    return restricted, kept


# --- batches ---------------------------------------------------------------------------------------------

class BatchSampler:
    """Micro-batch ``m`` -> [(qid, [positive, negative, ...]), ...], reproducibly from the seed."""

    def __init__(self, data: TrainingData, batch_size: int, n_negatives: int, seed: int):
        self.data = data
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.seed = seed
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.data.examples))}
        return self._orders[epoch]

    def negatives(self, epoch: int, example: int) -> list[str]:
        qid = self.data.examples[example][0]
        pool = self.data.pools[qid]
        rng = np.random.default_rng([self.seed, epoch, example, 1])
        if len(pool) >= self.n_negatives:
            picked = rng.choice(len(pool), size=self.n_negatives, replace=False)
        else:  # a short pool repeats negatives rather than dropping the query
            picked = rng.choice(len(pool), size=self.n_negatives, replace=True)
        return [pool[i] for i in picked]

    def batch(self, micro_batch: int) -> list[tuple[str, list[str]]]:
        n = len(self.data.examples)
        rows = []
        for position in range(micro_batch * self.batch_size, (micro_batch + 1) * self.batch_size):
            epoch, offset = divmod(position, n)
            example = int(self._order(epoch)[offset])
            qid, positive = self.data.examples[example]
            rows.append((qid, [positive] + self.negatives(epoch, example)))
        return rows
