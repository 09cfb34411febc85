"""What a training run must not see: the documents judged in its evaluation splits, and its dev queries.

- **Evaluation targets** are ``COLLECTION:SPLIT`` specs (``scifact:test``). Every document judged (any
  grade) in a target on the *same corpus* as the training collection is held out: it is never a training
  positive, a teacher-scored candidate or a mined negative. A target on another corpus shares no
  documents with training (zero-shot). ``--allow-eval-docs`` turns the rule off and is recorded.
- **Dev** is a seeded share of the training split's queries (``--dev-fraction``, default 0.1), or a named
  split (``--dev-split``). Dev queries never train; the documents judged for them are held out like test
  documents (``--allow-dev-docs`` lets them in), so that dev measures what test will.

Everything is counted: training queries and documents, examples dropped because their positive is held
out, and the judged documents of each target that training saw (0 unless allowed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.collection import Collection, resolve_collection
from ..errors import LilsrError


@dataclass(frozen=True)
class EvalSpec:
    collection: str
    split: str

    @property
    def label(self) -> str:
        return f"{self.collection}:{self.split}"


def parse_eval_spec(text: str) -> EvalSpec:
    """``scifact:test`` -> EvalSpec; a spec without a split is an error (which split would it be?)."""
    name, sep, split = str(text).rpartition(":")
    if not sep or not name or not split or "/" in split:
        raise LilsrError(f"--eval {text!r}: expected COLLECTION:SPLIT, e.g. scifact:test or nfcorpus:test")
    return EvalSpec(name, split)


def default_evals(config) -> list[str]:
    """The targets a run is evaluated on: as given, else the training collection's test split (if any)."""
    if config.evals is not None:
        return list(config.evals)
    collection = resolve_collection(config.collection)
    if (collection.root / "qrels" / "test.tsv").is_file() and config.split != "test":
        return [f"{config.collection}:test"]
    return []


# --- corpora ----------------------------------------------------------------------------------------------

def corpus_digest(collection: Collection) -> str:
    """sha256 of the corpus file (one streaming pass; cached beside nothing: it is cheap next to encoding)."""
    digest = hashlib.sha256()
    with open(collection.corpus_path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def same_corpus(a: Collection, b: Collection) -> bool:
    """Whether two collections search the same documents (the same file, or byte-identical files)."""
    pa, pb = a.corpus_path.resolve(), b.corpus_path.resolve()
    if pa == pb:
        return True
    if pa.stat().st_size != pb.stat().st_size:
        return False
    return corpus_digest(a) == corpus_digest(b)


def judged_docs_checked(collection: Collection, split: str, doc_ids) -> dict[str, dict[str, int]]:
    """The split's qrels, refusing a judgment of a document the corpus lacks (file and line named):
    evaluation against documents that cannot be retrieved would silently lower every score."""
    from ..data.qrels import read_qrels

    path = collection.qrels_path(split)
    qrels = read_qrels(path)
    known = doc_ids
    unknown = {d for docs in qrels.values() for d in docs if d not in known}
    if unknown:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.split()
                if len(parts) in (3, 4) and parts[-2] in unknown:
                    raise LilsrError(f"{path}:{number}: document id {parts[-2]!r} is not in {collection.corpus_path}; "
                                     "evaluation qrels must judge documents of the corpus (fix the qrels or "
                                     "the corpus)")
    return qrels


# --- dev --------------------------------------------------------------------------------------------------

def carve_dev(qids, fraction: float, seed: int) -> list[str]:
    """A seeded share of ``qids`` (at least one): the same queries for the same ids, fraction and seed."""
    ordered = sorted(qids)
    if len(ordered) < 2:
        raise LilsrError(f"cannot carve a dev set from {len(ordered)} training query; pass --dev-split")
    n_dev = min(len(ordered) - 1, max(1, int(round(fraction * len(ordered)))))
    order = np.random.default_rng([seed, 0xDE7]).permutation(len(ordered))
    return sorted(ordered[i] for i in order[:n_dev])


# --- the held-out set of a run ----------------------------------------------------------------------------

@dataclass
class HeldOut:
    """The documents and queries a run keeps out of training, with where each came from."""

    dev_qids: list[str]
    dev_qrels: dict[str, dict[str, int]]
    dev_source: str                                   # "carved 0.1 of train (seed 0)" or "split dev"
    targets: list[EvalSpec]
    target_docs: dict[str, set[str]] = field(default_factory=dict)   # label -> judged docs (same corpus only)
    target_same_corpus: dict[str, bool] = field(default_factory=dict)
    allow_eval_docs: bool = False
    allow_dev_docs: bool = False

    @property
    def dev_docs(self) -> set[str]:
        return {d for docs in self.dev_qrels.values() for d in docs}

    @property
    def excluded(self) -> set[str]:
        """Documents that may not train the model."""
        docs: set[str] = set()
        if not self.allow_eval_docs:
            for judged in self.target_docs.values():
                docs |= judged
        if not self.allow_dev_docs:
            docs |= self.dev_docs
        return docs

    def overlap(self, train_docs: set[str], train_qids: set[str]) -> dict:
        """What the manifest and every report state: sizes, and the judged documents training saw."""
        targets = {}
        for spec in self.targets:
            judged = self.target_docs.get(spec.label, set())
            targets[spec.label] = {"same_corpus": self.target_same_corpus.get(spec.label, False),
                                   "judged_docs": len(judged),
                                   "judged_docs_seen_in_training": len(judged & train_docs)}
        return {"training_queries": len(train_qids), "training_documents": len(train_docs),
                "allow_eval_docs": self.allow_eval_docs, "allow_dev_docs": self.allow_dev_docs,
                "dev": {"source": self.dev_source, "queries": len(self.dev_qids),
                        "queries_in_training": len(set(self.dev_qids) & train_qids),
                        "judged_docs": len(self.dev_docs),
                        "judged_docs_seen_in_training": len(self.dev_docs & train_docs)},
                "targets": targets}


def build_heldout(config, collection: Collection, train_qrels: dict[str, dict[str, int]],
                  doc_ids: set[str]) -> HeldOut:
    """Resolve the run's dev queries and evaluation targets (qrels checked against their corpora)."""
    if config.dev_split is not None:
        dev_qrels = judged_docs_checked(collection, config.dev_split, doc_ids)
        dev_qids = sorted(q for q in dev_qrels)
        source = f"split {config.dev_split}"
    else:
        judged = [q for q, docs in train_qrels.items() if any(rel > 0 for rel in docs.values())]
        dev_qids = carve_dev(judged, config.dev, config.seed)
        dev_qrels = {q: train_qrels[q] for q in dev_qids}
        source = f"carved {config.dev:g} of split {config.split} (seed {config.seed})"
    specs = [parse_eval_spec(s) for s in default_evals(config)]
    held = HeldOut(dev_qids, dev_qrels, source, specs, allow_eval_docs=config.allow_eval_docs,
                   allow_dev_docs=config.allow_dev_docs)
    for spec in specs:
        target = resolve_collection(spec.collection)
        same = same_corpus(collection, target)
        if same and spec.split == config.split:
            raise LilsrError(f"--eval {spec.label} is the training split itself; evaluate on another split")
        if same:
            qrels = judged_docs_checked(target, spec.split, doc_ids)
        else:  # another corpus: check its qrels against its own documents
            qrels = judged_docs_checked(target, spec.split, {d.id for d in target.corpus()})
        held.target_same_corpus[spec.label] = same
        held.target_docs[spec.label] = {d for docs in qrels.values() for d in docs} if same else set()
    return held


def held_out_of(run_folder: str | Path) -> dict | None:
    """The overlap a finished training run recorded (its manifest's ``heldout``), or None."""
    import json

    path = Path(run_folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("heldout") if manifest.get("kind") == "lilsr.training" else None


def training_overlap(checkpoint: str | Path, collection: Collection, split: str) -> dict | None:
    """For a checkpoint made by ``lilsr train`` (its ``lilsr_training.json``): the training collection and
    sizes, and how many documents judged in ``collection``'s ``split`` training used (0 on another corpus).
    None for a checkpoint that ``lilsr train`` did not make."""
    import json

    from ..models.presets import resolve_model

    try:
        folder = Path(resolve_model(str(checkpoint)))
        record = json.loads((folder / "lilsr_training.json").read_text())
    except (OSError, ValueError, LilsrError):
        return None
    heldout = record.get("heldout") or {}
    row = {"trained_on": f"{record.get('collection')}:{record.get('split')}",
           "training_queries": heldout.get("training_queries"), "training_docs": heldout.get("training_documents"),
           "eval_docs_allowed": heldout.get("allow_eval_docs")}
    try:
        trained = resolve_collection(record["collection"])
        same = same_corpus(trained, collection)
    except (LilsrError, KeyError, OSError):
        same = None
    triples = Path(record.get("run", "")) / "triples.jsonl"
    if same is False:
        row["judged_docs_seen_in_training"] = 0
        row["relation"] = "another corpus (zero-shot)"
    elif same and triples.is_file():
        from ..data.jsonl import read_jsonl
        from ..data.qrels import read_qrels

        docs: set[str] = set()
        for _, obj in read_jsonl(triples):
            docs.update(obj.get("positives", []))
            docs.update(obj.get("negatives", []))
        judged = {d for judged_docs in read_qrels(collection.qrels_path(split)).values() for d in judged_docs}
        row["judged_docs_seen_in_training"] = len(judged & docs)
        row["relation"] = "same corpus"
    else:
        label = f"{collection.name}:{split}"
        target = next((t for name, t in heldout.get("targets", {}).items() if name.endswith(label)), None)
        row["judged_docs_seen_in_training"] = target["judged_docs_seen_in_training"] if target else None
        row["relation"] = "same corpus" if same else "unknown (training run folder not found)"
    return row
