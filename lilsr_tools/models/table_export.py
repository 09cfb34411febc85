"""Computing a table from a checkpoint (the library side of ``lilsr table export``)."""

from __future__ import annotations

import numpy as np

from ..errors import LilsrError
from .presets import load_masked_lm, resolve_model, vocabulary
from .table import QueryTable, idf_table, init_head, load_head, table_from_head


def export_table(model: str, init: str = "head", *, vectors=None, seed: int = 0):
    """Return ``(weights, vocab, tokenizer, params)`` for ``model``'s vocabulary."""
    masked_lm, tokenizer = load_masked_lm(model)
    embeddings = masked_lm.get_input_embeddings().weight.detach().float().numpy()
    vocab = vocabulary(tokenizer, embeddings.shape[0])
    params = {"init": init, "model": model}
    if init == "head":
        w, b = load_head(resolve_model(model))
        weights = table_from_head(embeddings, w, b)
        params["bias"] = b
    elif init == "untrained":
        w, b = init_head(embeddings.shape[1], seed)
        weights = table_from_head(embeddings, w, b)
        params.update(seed=seed, bias=b)
    elif init == "idf":
        from ..vectors.store import load_vectors

        if vectors is None:
            raise LilsrError("--init idf needs --vectors (the document vector store to count idf over)")
        store = load_vectors(vectors)
        if store.vocab != vocab:
            raise LilsrError(f"{vectors} was encoded with another vocabulary than {model}'s; use the same model")
        weights = idf_table(store)
        params["vectors"] = str(vectors)
    else:
        raise LilsrError(f"unknown --init {init!r}")
    weights = np.asarray(weights, np.float32).copy()
    weights[[i for i in tokenizer.all_special_ids if i < len(weights)]] = 0.0
    return weights, vocab, tokenizer, params


def coverage(table: QueryTable, texts: list[str]) -> dict:
    """Share of query tokens with a non-zero weight, and queries whose tokens all weigh zero."""
    from .presets import load_tokenizer

    source = str(table.path) if table.path and (table.path / "tokenizer_config.json").exists() \
        else table.manifest.get("source")
    tokenizer = load_tokenizer(source)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    flat = np.concatenate([np.asarray(q, dtype=np.int64) for q in ids]) if ids else np.zeros(0, np.int64)
    live = table.weights[flat] > 0 if flat.size else np.zeros(0, bool)
    all_zero = sum(1 for q in ids if not q or not (table.weights[np.asarray(q)] > 0).any())
    return {"token_coverage": float(live.mean()) if live.size else 0.0, "queries_all_zero": all_zero}
