"""What a query table weighs: its stopwords against its content tokens, beside the text-idf table.

A query table should weigh a token by how much it tells documents apart. The corpus's most frequent tokens
("the", "of", ",") tell almost nothing, so a sound table keeps them below its typical weight, as idf does.
``stopword_profile`` measures that on one collection's text: the weights of the ``n`` tokens in most documents,
the median weight of the other tokens that occur in the corpus, the share of the table's mass (and, with
queries, of the query weight) that falls on the stopwords, and the rank correlation with text idf.
"""

from __future__ import annotations

import numpy as np


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    value = spearmanr(a, b).statistic
    return float(value) if np.isfinite(value) else 0.0


def stopword_profile(weights: np.ndarray, df: np.ndarray, n_docs: int, *, n: int = 100,
                     query_token_ids: list[list[int]] | None = None) -> dict:
    """Stopwords (the ``n`` tokens in most documents) against the rest of the corpus's tokens, for ``weights``."""
    weights = np.asarray(weights, np.float64)
    df = np.asarray(df[: len(weights)], np.float64)
    in_corpus = np.flatnonzero(df > 0)
    stop = in_corpus[np.argsort(-df[in_corpus], kind="stable")[:n]]
    rest = np.setdiff1d(in_corpus, stop)
    total = weights[in_corpus].sum()
    profile = {
        "stopwords": int(len(stop)),
        "stopword_median_weight": float(np.median(weights[stop])) if len(stop) else 0.0,
        "rest_median_weight": float(np.median(weights[rest])) if len(rest) else 0.0,
        "stopwords_below_rest_median": float((weights[stop] < np.median(weights[rest])).mean())
        if len(stop) and len(rest) else 0.0,
        "stopword_mass_share": float(weights[stop].sum() / total) if total > 0 else 0.0,
        "spearman_with_idf": spearman(weights[in_corpus], np.log1p((n_docs - df[in_corpus] + 0.5)
                                                                    / (df[in_corpus] + 0.5))),
        "corpus_tokens": int(len(in_corpus)),
        "top_stopwords": [int(i) for i in stop[:12]],
    }
    if query_token_ids is not None:
        flat = np.concatenate([np.asarray(q, np.int64) for q in query_token_ids if len(q)]) \
            if any(len(q) for q in query_token_ids) else np.zeros(0, np.int64)
        flat = flat[flat < len(weights)]
        mass = weights[flat]
        is_stop = np.isin(flat, stop)
        profile["query_weight_on_stopwords"] = float(mass[is_stop].sum() / mass.sum()) if mass.sum() > 0 else 0.0
        profile["query_nonzeros_mean"] = float(np.mean([len({t for t in q if t < len(weights) and weights[t] > 0})
                                                        for q in query_token_ids])) if query_token_ids else 0.0
    return profile
