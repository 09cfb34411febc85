"""Evaluate a trained model: encode each evaluation collection with it, search with each query encoder.

A run is evaluated on **targets**: its dev set (the queries carved from, or named beside, the training
split; what choices are made on) and its test targets (``COLLECTION:SPLIT``, reported once, never used to
choose). Each target's collection is encoded once with the trained model (documents shared by the dev
and test targets of one collection). The ``idf`` (BM25 idf over the collection's text) and ``binary``
encoders run over the trained model's own documents, so the comparison with the trained ``table`` is
like for like. FLOPS is the expected number of multiplications per query-document pair, sum over tokens
of P(token in query) x P(token in document) (Paria et al.).

Every target's results state how many of its judged documents training saw (from the run's manifest),
and how many documents and queries the token limits cut.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_file
from ..errors import LilsrError
from ..rounding import round_floats

ENCODERS = ("table", "idf", "binary", "contextual")


@dataclass(frozen=True)
class EvalTarget:
    collection: str
    split: str
    role: str = "test"                 # "dev": choices are made on it; "test": reported once, never chosen on
    qrels_file: str | None = None      # a carved dev split: the run's dev_qrels.tsv

    @property
    def label(self) -> str:
        return f"{self.collection}:{self.split}"


def run_targets(run: str | Path) -> list[EvalTarget]:
    """A finished training run's dev target and test targets, from its manifest."""
    run = Path(run)
    manifest = json.loads((run / "manifest.json").read_text())
    collection = manifest["params"]["collection"]
    dev_source = manifest.get("dev_source") or ""
    if dev_source.startswith("split "):
        dev = EvalTarget(collection, dev_source.split(" ", 1)[1], "dev")
    else:
        dev = EvalTarget(collection, "dev", "dev", str(run / "dev_qrels.tsv"))
    tests = []
    for label in manifest.get("evals") or []:
        name, _, split = label.rpartition(":")
        tests.append(EvalTarget(name, split, "test"))
    return [dev, *tests]


def flops(vectors, query_vectors: Sequence[dict[str, float]]) -> float:
    """Expected multiplications per (query, document) pair: sum_t P(t in q) x P(t in d)."""
    doc_df = np.bincount(np.asarray(vectors.indices), minlength=len(vectors.vocab)) / max(1, len(vectors))
    token_id = {t: i for i, t in enumerate(vectors.vocab)}
    query_df = np.zeros(len(vectors.vocab))
    for query in query_vectors:
        for token, weight in query.items():
            if weight > 0 and token in token_id:
                query_df[token_id[token]] += 1
    query_df /= max(1, len(query_vectors))
    return float(query_df @ doc_df)


# the default of `lilsr encode corpus --max-length` (cli/encode.py; tests/test_training.py checks they agree)
ENCODE_CORPUS_MAX_LENGTH = 256


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def evaluate_targets(model: str | Path, table: str | Path | None, targets: Sequence[EvalTarget], out: str | Path, *,
                     encoders: Sequence[str] = ENCODERS, max_length: int = 256, batch_size: int = 32,
                     measures: Sequence[str] = ("nDCG@10", "RR@10", "R@100"), encoded: dict | None = None,
                     heldout: dict | None = None, device: str = "cpu", progress: bool = True,
                     roles: Sequence[str] = ("dev", "test")) -> dict:
    """Evaluate ``model`` on each target of the given ``roles``; write ``out/<target>/<encoder>.run``, the
    collections' vectors ``out/vectors-<collection>`` and ``out/results.json`` (all targets so far: a
    second call adds the targets still missing, e.g. test after dev).

    ``heldout`` is the training run's overlap record (manifest ``heldout``): each target's results state
    the judged documents training saw. ``encoded`` maps an encoder name to queries encoded elsewhere."""
    from ..data.collection import read_queries, resolve_collection
    from ..data.qrels import read_qrels
    from ..engines.exact import ExactEngine
    from ..evaluation.metrics import evaluate, parse_measures
    from ..models.corpus import encode_corpus
    from ..models.presets import load_masked_lm
    from ..models.query_encoders import ContextualEncoder, EncodedQueries, encode_queries, make_query_encoder
    from ..models.splade import SpladeEncoder
    from ..vectors.store import load_vectors

    parse_measures(measures)  # refused before a model is loaded or a document encoded
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    previous = json.loads(results_file.read_text()) if results_file.is_file() else {}
    if previous.get("model") not in (None, str(model)) or previous.get("doc_max_length") not in (None, max_length):
        previous = {}
    results: dict = {"model": str(model), "doc_max_length": max_length, "targets": previous.get("targets", {})}
    encoded = encoded or {}
    state: dict = {}

    def loaded():
        if "model" not in state:
            state["model"] = load_masked_lm(str(model))
        return state["model"]

    stores: dict[str, object] = {}
    for target in targets:
        if target.role not in roles or target.label in results["targets"]:
            continue
        started = time.perf_counter()
        source = resolve_collection(target.collection)
        if target.collection not in stores:
            store_path = out / f"vectors-{_slug(source.name)}"
            previous_store = load_vectors(store_path) if (store_path / "manifest.json").is_file() else None
            if previous_store is not None and previous_store.manifest.get("params", {}).get("max_length") == max_length:
                stores[target.collection] = previous_store
            else:  # none yet, or encoded at another --eval-max-length
                encoder = SpladeEncoder(str(model), max_length=max_length, batch_size=batch_size, loaded=loaded(),
                                        device=device, bf16=device != "cpu")
                stores[target.collection] = encode_corpus(source.corpus_path, store_path, encoder, progress=progress,
                                                          overwrite=True)
        store = stores[target.collection]
        encode_seconds = time.perf_counter() - started
        if target.qrels_file:
            qrels = read_qrels(target.qrels_file)
            queries = read_queries(source.queries_path, only=set(qrels))
        else:
            qrels = source.qrels(target.split)
            queries = source.queries(target.split)
        qids, texts = [q.id for q in queries], [q.text for q in queries]
        engine = ExactEngine(store)
        seen = (heldout or {}).get("targets", {}).get(target.label) if target.role == "test" else \
            (heldout or {}).get("dev")
        record: dict = {"role": target.role, "collection": target.collection, "split": target.split,
                        "queries": len(qids), "docs": len(store), "doc_nnz": store.stats()["mean_nnz"],
                        "doc_max_length": store.manifest.get("params", {}).get("max_length", max_length),
                        "doc_truncation": store.manifest.get("counts", {}).get("truncation"),
                        "judged_docs_seen_in_training": None if seen is None else seen["judged_docs_seen_in_training"],
                        "encode_corpus_seconds": round(encode_seconds, 1), "encoders": {}}
        folder = out / _slug(target.label)
        for kind in encoders:
            if kind in encoded:
                given = encoded[kind]
                order = {qid: i for i, qid in enumerate(given.qids)}
                missing = [q for q in qids if q not in order]
                if missing:
                    raise LilsrError(f"the given {kind} queries lack query {missing[0]!r} of {target.label}")
                encoded_queries = EncodedQueries(qids, [given.vectors[order[q]] for q in qids],
                                                 np.asarray([given.encode_ns[order[q]] for q in qids]), kind)
            else:
                if kind == "table" and table is None:
                    raise LilsrError("evaluating the table encoder needs the trained table folder")
                if kind == "contextual":
                    query_encoder = ContextualEncoder(str(model), max_length=128, loaded=loaded())
                else:
                    query_encoder = make_query_encoder(kind, model=str(model), table=str(table) if table else None,
                                                       vectors=store, corpus=source.corpus_path, progress=progress)
                encoded_queries = encode_queries(query_encoder, qids, texts)
            found = engine.batch_search(qids, encoded_queries.vectors, k=1000)
            run = found.as_run()
            with atomic_file(folder / f"{kind}.run") as handle:
                for qid, rows in run.items():
                    for rank, (doc, score) in enumerate(rows, start=1):
                        handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {kind}\n")
            metrics = evaluate(run, qrels, measures).aggregates
            lengths = [len(v) for v in encoded_queries.vectors]
            record["encoders"][kind] = {**{k: round(v, 4) for k, v in metrics.items()},
                                        "query_nnz": float(np.mean(lengths)),
                                        "flops": round(flops(store, encoded_queries.vectors), 3),
                                        "encode_us_mean": round(float(encoded_queries.encode_ns.mean()) / 1e3, 1)}
        record["eval_seconds"] = round(time.perf_counter() - started, 1)
        results["targets"][target.label] = record
        with atomic_file(results_file) as handle:
            json.dump(round_floats(results), handle, indent=1)
    return results


def evaluate_model(model: str | Path, table: str | Path | None, collection: str, out: str | Path, *,
                   split: str = "test", **options) -> dict:
    """One collection and split (a single test target); returns that target's results."""
    target = EvalTarget(collection, split, "test")
    return evaluate_targets(model, table, [target], out, **options)["targets"][target.label]


def evaluation_length_line(doc_max_length: int | None) -> str:
    """What the documents were cut at, and how that differs from ``lilsr encode corpus``: documents encoded
    by hand at its default are not the ones training reported on."""
    if doc_max_length is None:
        return "evaluation documents: length not recorded"
    line = f"evaluation documents encoded at {doc_max_length} tokens"
    if doc_max_length != ENCODE_CORPUS_MAX_LENGTH:
        line += (f" (the training length; 'lilsr encode corpus' defaults to {ENCODE_CORPUS_MAX_LENGTH}: "
                 f"--eval-max-length {ENCODE_CORPUS_MAX_LENGTH} evaluates the documents it encodes)")
    return line


def format_results(results: dict) -> str:
    """The documents' length, then dev first (what choices are made on), then each test target, labelled."""
    from ..models.truncation import describe

    lines = [evaluation_length_line(results.get("doc_max_length"))]
    records = sorted(results.get("targets", {}).items(), key=lambda kv: kv[1]["role"] != "dev")
    for label, record in records:
        role = "dev (choices are made here)" if record["role"] == "dev" else "TEST (reported once, never chosen on)"
        seen = record.get("judged_docs_seen_in_training")
        lines.append(f"{label} [{role}]: {record['queries']} queries, {record['docs']} docs, mean doc non-zeros "
                     f"{record['doc_nnz']:.1f}; judged docs seen in training: "
                     f"{'not recorded' if seen is None else seen}; {describe(record.get('doc_truncation'), 'docs')}")
        for kind, values in record["encoders"].items():
            lines.append(f"  {kind:<10} nDCG@10 {values['nDCG@10']:.4f}  RR@10 {values.get('RR@10', 0):.4f}  "
                         f"R@100 {values.get('R@100', 0):.4f}  query nnz {values['query_nnz']:.1f}  "
                         f"FLOPS {values['flops']:.2f}")
    return "\n".join(lines)
