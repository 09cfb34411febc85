"""Computing a table from a checkpoint (the library side of ``lilsr table export``)."""

from __future__ import annotations

import numpy as np

from ..errors import LilsrError
from .presets import load_masked_lm, resolve_model, vocabulary
from .table import QueryTable, idf_table, init_head, load_head, table_from_head


INITS = ("head", "idf", "vector-idf", "binary", "untrained")


def export_table(model: str, init: str = "head", *, vectors=None, corpus=None, seed: int = 0,
                 min_weight: float | None = None):
    """Return ``(weights, vocab, tokenizer, params)`` for ``model``'s vocabulary; ``min_weight`` zeroes the
    tokens weighing less (a static prune: those tokens drop out of every query; ``prune_table``).

    ``params["query_dup"]`` says how a repeated query token counts with this table (the lookup's default):
    a trained head as the training's ``query_dup`` (sum unless recorded otherwise), idf sums, binary once."""
    masked_lm, tokenizer = load_masked_lm(model)
    embeddings = masked_lm.get_input_embeddings().weight.detach().float().numpy()
    vocab = vocabulary(tokenizer, embeddings.shape[0])
    params = {"init": init, "model": model, "query_dup": "sum"}
    if init == "head":
        w, b = load_head(resolve_model(model))
        weights = table_from_head(embeddings, w, b)
        params.update(bias=b, query_dup=_trained_dup(model))
    elif init == "untrained":
        w, b = init_head(embeddings.shape[1], seed)
        weights = table_from_head(embeddings, w, b)
        params.update(seed=seed, bias=b)
    elif init == "idf":
        from .text_idf import text_idf

        if corpus is None and vectors is not None:  # the corpus the store was encoded from
            from ..manifest import read_manifest

            corpus = read_manifest(vectors).get("params", {}).get("corpus")
        if corpus is None:
            raise LilsrError("--init idf needs --collection (the corpus whose text idf is counted over)")
        counted = text_idf(corpus, tokenizer)
        weights = np.zeros(len(vocab), np.float32)
        weights[: min(len(vocab), len(counted.df))] = counted.weights[: len(vocab)]
        params.update(corpus=counted.corpus, corpus_sha256=counted.corpus_sha256, docs=counted.n_docs,
                      formula="log(1 + (N - df + 0.5) / (df + 0.5)) over corpus text tokens; df 0 -> 0")
    elif init == "vector-idf":
        from ..vectors.store import load_vectors

        if vectors is None:
            raise LilsrError("--init vector-idf needs --vectors (the document vector store to count idf over)")
        store = load_vectors(vectors)
        if store.vocab != vocab:
            raise LilsrError(f"{vectors} was encoded with another vocabulary than {model}'s; use the same model")
        weights = idf_table(store)
        params["vectors"] = str(vectors)
    elif init == "binary":
        weights = np.ones(len(vocab), np.float32)
        params["query_dup"] = "max"
    else:
        raise LilsrError(f"unknown --init {init!r}; choose one of {', '.join(INITS)}")
    weights = np.asarray(weights, np.float32).copy()
    weights[[i for i in tokenizer.all_special_ids if i < len(weights)]] = 0.0
    if min_weight is not None:
        weights, params["prune"] = prune_table(weights, min_weight)
    return weights, vocab, tokenizer, params


def check_min_weight(min_weight: float) -> None:
    """A prune cut is a finite number >= 0 (the CLI checks it before loading the model)."""
    if isinstance(min_weight, bool) or not np.isfinite(min_weight) or min_weight < 0:
        raise LilsrError(f"--min-weight must be a finite number >= 0, got {min_weight!r}")


def table_tokenizer(table: QueryTable):
    """The tokenizer a table was made with: its own folder's files, else its recorded source model."""
    from .presets import load_tokenizer

    source = str(table.path) if table.path and (table.path / "tokenizer_config.json").exists() \
        else table.manifest.get("source")
    return load_tokenizer(source)


def prune_table(weights: np.ndarray, min_weight: float) -> tuple[np.ndarray, dict]:
    """Zero every weight below ``min_weight``; returns the pruned copy and what was cut (for the manifest).
    A cut that leaves no weighted token is refused: every query would match nothing."""
    check_min_weight(min_weight)
    weights = np.asarray(weights, np.float32).copy()
    before = int((weights > 0).sum())
    weights[weights < np.float32(min_weight)] = 0.0
    after = int((weights > 0).sum())
    if after == 0:
        raise LilsrError(f"--min-weight {min_weight:g} leaves no token with a weight (the table's largest weight is "
                         f"below it); every query would match nothing: choose a lower cut")
    return weights, {"min_weight": float(min_weight), "nonzero_before": before, "nonzero_after": after,
                     "tokens_zeroed": before - after}


def _trained_dup(model: str) -> str:
    """The query_dup a checkpoint was trained with (its table/ or run config), default sum."""
    import json
    from pathlib import Path

    folder = Path(resolve_model(model))
    for config in (folder / "lilsr_training.json", folder.parent / "config.json"):
        try:
            value = json.loads(config.read_text()).get("query_dup")
        except (OSError, ValueError, AttributeError):
            continue
        if value in ("sum", "max"):
            return value
    return "sum"


def coverage(table: QueryTable, texts: list[str]) -> dict:
    """Share of query tokens with a non-zero weight, and queries whose tokens all weigh zero."""
    tokenizer = table_tokenizer(table)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    flat = np.concatenate([np.asarray(q, dtype=np.int64) for q in ids]) if ids else np.zeros(0, np.int64)
    live = table.weights[flat] > 0 if flat.size else np.zeros(0, bool)
    all_zero = sum(1 for q in ids if not q or not (table.weights[np.asarray(q)] > 0).any())
    return {"token_coverage": float(live.mean()) if live.size else 0.0, "queries_all_zero": all_zero}
