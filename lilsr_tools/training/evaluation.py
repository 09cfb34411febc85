"""Evaluate a trained model: encode the collection with it, search with each query encoder (exact engine).

The ``idf`` and ``binary`` encoders run over the trained model's own documents, so the comparison with
the trained ``table`` is like for like. FLOPS is the expected number of multiplications per
query-document pair, sum over tokens of P(token in query) x P(token in document) (Paria et al.).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_file
from ..errors import LilsrError

ENCODERS = ("table", "idf", "binary", "contextual")


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


def evaluate_model(model: str | Path, table: str | Path | None, collection: str, out: str | Path, *,
                   split: str = "test", encoders: Sequence[str] = ENCODERS, max_length: int = 256,
                   batch_size: int = 32, measures: Sequence[str] = ("nDCG@10", "RR@10", "R@100"),
                   vectors: str | Path | None = None, encoded: dict | None = None, device: str = "cpu",
                   progress: bool = True) -> dict:
    """Write ``out/vectors`` (unless ``vectors`` is given), ``out/<encoder>.run`` and ``out/results.json``.

    ``encoded`` maps an encoder name to queries encoded elsewhere (``EncodedQueries``, e.g. contextual
    queries encoded on a GPU machine); those are searched as they are."""
    from ..data.collection import resolve_collection
    from ..engines.exact import ExactEngine
    from ..evaluation.metrics import evaluate
    from ..models.corpus import encode_corpus
    from ..models.presets import load_masked_lm
    from ..models.query_encoders import ContextualEncoder, EncodedQueries, encode_queries, make_query_encoder
    from ..models.splade import SpladeEncoder
    from ..vectors.store import load_vectors

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = resolve_collection(collection)
    encoded = encoded or {}
    needs_model = vectors is None or any(k == "contextual" and k not in encoded for k in encoders)
    loaded = load_masked_lm(str(model)) if needs_model else None
    started = time.perf_counter()
    if vectors is None:
        store_path = out / "vectors"
        if (store_path / "manifest.json").is_file():
            store = load_vectors(store_path)
        else:
            encoder = SpladeEncoder(str(model), max_length=max_length, batch_size=batch_size, loaded=loaded,
                                    device=device, bf16=device != "cpu")
            store = encode_corpus(source.corpus_path, store_path, encoder, progress=progress, overwrite=True)
    else:
        store = load_vectors(vectors)
    encode_seconds = time.perf_counter() - started
    queries = source.queries(split)
    qids, texts = [q.id for q in queries], [q.text for q in queries]
    qrels = source.qrels(split)
    engine = ExactEngine(store)
    results: dict = {"model": str(model), "collection": str(collection), "split": split,
                     "doc_max_length": max_length, "docs": len(store), "doc_nnz": store.stats()["mean_nnz"],
                     "encode_corpus_seconds": round(encode_seconds, 1), "encoders": {}}
    for kind in encoders:
        if kind in encoded:
            given = encoded[kind]
            order = {qid: i for i, qid in enumerate(given.qids)}
            missing = [q for q in qids if q not in order]
            if missing:
                raise LilsrError(f"the given {kind} queries lack query {missing[0]!r} of split '{split}'")
            encoded_queries = EncodedQueries(qids, [given.vectors[order[q]] for q in qids],
                                         np.asarray([given.encode_ns[order[q]] for q in qids]), kind)
        else:
            if kind == "table" and table is None:
                raise LilsrError("evaluating the table encoder needs the trained table folder")
            if kind == "contextual":
                query_encoder = ContextualEncoder(str(model), max_length=128, loaded=loaded)
            else:
                query_encoder = make_query_encoder(kind, model=str(model), table=str(table) if table else None,
                                                   vectors=store)
            encoded_queries = encode_queries(query_encoder, qids, texts)
        found = engine.batch_search(qids, encoded_queries.vectors, k=1000)
        run = found.as_run()
        with atomic_file(out / f"{kind}.run") as handle:
            for qid, rows in run.items():
                for rank, (doc, score) in enumerate(rows, start=1):
                    handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {kind}\n")
        metrics = evaluate(run, qrels, measures).aggregates
        lengths = [len(v) for v in encoded_queries.vectors]
        results["encoders"][kind] = {**{k: round(v, 4) for k, v in metrics.items()},
                                     "query_nnz": float(np.mean(lengths)),
                                     "flops": round(flops(store, encoded_queries.vectors), 3),
                                     "encode_us_mean": round(float(encoded_queries.encode_ns.mean()) / 1e3, 1)}
    results["eval_seconds"] = round(time.perf_counter() - started, 1)
    with atomic_file(out / "results.json") as handle:
        json.dump(results, handle, indent=1)
    return results


def format_results(results: dict) -> str:
    lines = [f"{results['collection']} {results['split']}: {results['docs']} docs (max length "
             f"{results['doc_max_length']}), mean doc non-zeros {results['doc_nnz']:.1f}"]
    for kind, values in results["encoders"].items():
        lines.append(f"  {kind:<10} nDCG@10 {values['nDCG@10']:.4f}  RR@10 {values.get('RR@10', 0):.4f}  "
                     f"R@100 {values.get('R@100', 0):.4f}  query nnz {values['query_nnz']:.1f}  "
                     f"FLOPS {values['flops']:.2f}")
    return "\n".join(lines)
