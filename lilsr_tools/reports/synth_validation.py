"""How close is a synthetic store to a real one? (``lilsr vectors synth --validate``)

A synthetic store is only useful if engines behave on it as they would on a real collection of its size.
That cannot be checked at 1M documents without a real 1M collection, so it is checked where it can be: a
synthetic store grown to the source's own size is compared with the real store, and - the harder test - one
grown from a random 1/G subset of the source (growth factor G, as a 1M store grown from 5k documents has
G = 193) is compared with the whole real store. Per store: document lengths, posting-list length quantiles,
how well document-frequency rates and per-term weight distributions match, how similar each document is to
its nearest other document (near-copies make clustering easy), and exact, native and Lucene latency and
accuracy@10 on the source's real queries. The departures from the real store, as ratios, say whether a
method favours one engine family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..atomic import atomic_file
from ..engines import get_engine
from ..engines.search import QueryBatch, run_search
from ..errors import LilsrError
from ..evaluation.metrics import accuracy_at_k
from ..manifest import MANIFEST, read_manifest, write_manifest
from ..vectors.queries import load_encoded_queries
from ..vectors.store import SparseVectors, load_vectors, posting_lengths, save_vectors, vocab_digest
from ..vectors.synth import check_source, synthesize
from .render import Block, write_report

NEAREST_SAMPLE = 500
WEIGHT_TERMS = 200


def subset(vectors: SparseVectors, n: int, seed: int) -> SparseVectors:
    """``n`` documents of ``vectors`` chosen at random (seeded), in store order."""
    rows = np.sort(np.random.default_rng([seed, 11]).choice(len(vectors), size=n, replace=False))
    csr = vectors.csr[rows]
    return SparseVectors(csr.indptr.astype(np.int64), csr.indices.astype(np.int32), csr.data.astype(np.float32),
                         list(vectors.vocab), [vectors.ids[i] for i in rows])


def store_statistics(store: SparseVectors, real: SparseVectors, seed: int = 0) -> dict:
    """Lengths, posting lengths, df and weight agreement with ``real``, nearest-neighbour similarity."""
    from scipy.stats import ks_2samp, spearmanr

    lengths = store.row_lengths()
    postings = posting_lengths(store)
    live = postings[postings > 0]
    real_postings = posting_lengths(real)
    used = (postings > 0) | (real_postings > 0)
    rate, real_rate = postings[used] / len(store), real_postings[used] / len(real)
    # weight distributions of the terms with the most postings in the real store
    top_terms = np.argsort(-real_postings)[:WEIGHT_TERMS]
    by_term, real_by_term = store.csr.T.tocsr(), real.csr.T.tocsr()
    ks = [ks_2samp(by_term[t].data, real_by_term[t].data).statistic for t in top_terms
          if by_term[t].nnz and real_by_term[t].nnz]
    q10, q50, q90 = np.percentile(lengths, [10, 50, 90])
    p50, p90, p99 = np.percentile(live, [50, 90, 99])
    nearest = nearest_similarity(store, seed)
    return {"docs": len(store), "mean_doc_nnz": float(lengths.mean()), "doc_nnz_p10": float(q10),
            "doc_nnz_p50": float(q50), "doc_nnz_p90": float(q90), "terms": int(live.size),
            "posting_p50": float(p50), "posting_p90": float(p90), "posting_p99": float(p99),
            "posting_max": int(live.max()),
            "df_rate_spearman": float(spearmanr(rate, real_rate).statistic),
            "df_rate_abs_log_err": float(np.mean(np.abs(np.log1p(rate * 1e4) - np.log1p(real_rate * 1e4)))),
            "weight_ks_mean": float(np.mean(ks)) if ks else float("nan"),
            "nearest_cos_mean": float(nearest.mean()), "near_copies_0.9": float((nearest > 0.9).mean())}


def nearest_similarity(store: SparseVectors, seed: int = 0) -> np.ndarray:
    """For a sample of documents, the cosine to their most similar other document."""
    csr = sp.csr_matrix((np.asarray(store.values, np.float32), np.asarray(store.indices), np.asarray(store.indptr)),
                        shape=store.shape)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    unit = sp.diags(1.0 / norms) @ csr
    rows = np.random.default_rng([seed, 13]).choice(len(store), size=min(NEAREST_SAMPLE, len(store)), replace=False)
    sims = (unit[rows] @ unit.T).toarray()
    sims[np.arange(rows.size), rows] = -1.0
    return sims.max(axis=1)


def _engine_rows(label: str, store: SparseVectors, batch: QueryBatch, work: Path, engines: tuple[str, ...],
                 repeat: int) -> dict:
    """p50 latency at k=10 and k=1000 and accuracy@10 against exact search, per engine."""
    exact = get_engine("exact").load(store)
    truth = run_search(exact, batch, k=10, warmup=0).as_run()
    row: dict = {}
    for name in engines:
        cls = get_engine(name)
        if name == "exact":
            engine = exact
        else:
            index = work / f"{label}-{name}"
            if not (index / MANIFEST).is_file():
                cls.build(store, index, overwrite=True)
            engine = cls.load(index)
        for k in (10, 1000) if name != "native" else (10,):
            results = run_search(engine, batch, k=k, warmup=2, repeat=repeat)
            row[f"{name}_p50_ms@{k}"] = float(np.median(results.retrieval_ns)) / 1e6
            if k == 10:
                row[f"{name}_accuracy@10"] = accuracy_at_k(results.as_run(), truth, 10)
        if hasattr(engine, "close") and engine is not exact:
            engine.close()
    return row


def validate_synth(source, queries, out, *, method: str = "mix", seed: int = 0, growths=(1, 5),
                   engines: tuple[str, ...] = ("exact", "native", "lucene"), repeat: int = 3, overwrite: bool = False,
                   **options) -> pd.DataFrame:
    """Grow synthetic stores at ``source``'s size (growth factors ``growths``) and compare them with it."""
    out = Path(out)
    if (out / MANIFEST).is_file() and not overwrite:
        raise LilsrError(f"{out} already holds a validation report; pass --overwrite to redo it")
    real = load_vectors(source)
    check_source(real)
    encoded, meta = load_encoded_queries(queries)
    digest = meta.get("vocab_digest")
    if digest and digest != vocab_digest(real.vocab):
        raise LilsrError(f"{queries}: queries encoded over another vocabulary ({digest}) than {source} "
                         f"({vocab_digest(real.vocab)})")
    for name in engines:
        get_engine(name)  # unknown names fail before any work
    batch = QueryBatch(encoded.qids, None, encoded.vectors, encoded.encode_ns, "given")
    work = out / "artifacts"
    work.mkdir(parents=True, exist_ok=True)
    stores = {"real": real}
    for growth in growths:
        if growth < 1 or len(real) // growth < 2:
            raise LilsrError(f"growth factor {growth} leaves fewer than 2 of {len(real)} documents to grow from")
        label = f"{method}-g{growth}"
        grown = work / label
        if not (grown / MANIFEST).is_file():
            templates = real
            if growth > 1:
                templates_path = work / f"subset-g{growth}"
                if not (templates_path / MANIFEST).is_file():
                    save_vectors(templates_path, subset(real, len(real) // growth, seed), model=real.manifest.get(
                        "model"), params={"subset_of": str(source), "docs": len(real) // growth, "seed": seed},
                        overwrite=True)
                templates = load_vectors(templates_path)
            synthesize(templates, grown, len(real), method=method, seed=seed, overwrite=True, progress=False,
                       **options)
        stores[label] = load_vectors(grown)
    rows = []
    for label, store in stores.items():
        row = {"store": label, "growth": 0 if label == "real" else int(label.rsplit("g", 1)[1])}
        row.update(store_statistics(store, real, seed))
        row.update(_engine_rows(label, store, batch, work, engines, repeat))
        rows.append(row)
    # the first store measured also warmed the JVM's and numba's compilers: measure the real one again last
    rows[0].update(_engine_rows("real", real, batch, work, engines, repeat))
    frame = pd.DataFrame(rows)
    departures = departure_table(frame)
    with atomic_file(out / "validation.csv") as handle:
        frame.to_csv(handle, index=False)
    with atomic_file(out / "departures.csv") as handle:
        departures.to_csv(handle, index=False)
    params = {"source": str(source), "queries": str(queries), "method": method, "seed": seed,
              "growths": list(growths), "engines": list(engines), "repeat": repeat, **options}
    blocks = [Block("h1", f"Synthetic store validation: {method} ({', '.join(f'{k}={v}' for k, v in options.items())})"),
              Block("text", f"Source {source} ({len(real):,} documents), {len(batch.qids)} real queries. Each "
                            "synthetic store has the source's size; growth G means it was grown from a random 1/G "
                            "of the source's documents (a 1M store grown from 5k documents has G ~ 200)."),
              Block("h2", "Stores"), Block("table", frame),
              Block("h2", "Departures from the real store"),
              Block("table", departures, "Ratios synthetic / real (1 = same); accuracy as a difference. A method "
                                         "that favours clustering engines shows native accuracy up and latency "
                                         "down while Lucene's stay put.")]
    write_report(blocks, out, "synth validation")
    write_manifest(out, "lilsr.synth-validation", params=params, counts={"stores": len(frame)})
    return departures


def departure_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each synthetic store against the real one: ratios (differences for accuracies and correlations)."""
    real = frame[frame["store"] == "real"].iloc[0]
    rows = []
    for _, row in frame[frame["store"] != "real"].iterrows():
        out = {"store": row["store"], "growth": row["growth"]}
        for column in frame.columns:
            if column in ("store", "growth", "docs") or not isinstance(row[column], (int, float, np.number)):
                continue
            if "accuracy" in column or column in ("df_rate_spearman", "df_rate_abs_log_err", "weight_ks_mean",
                                                 "near_copies_0.9", "nearest_cos_mean"):
                out[column if column not in ("nearest_cos_mean", "near_copies_0.9") else f"{column} (diff)"] = \
                    float(row[column] - real[column]) if "accuracy" in column or "near" in column else float(row[column])
            elif real[column]:
                out[f"{column} ratio"] = float(row[column] / real[column])
        rows.append(out)
    return pd.DataFrame(rows)
