"""The Li-LSR student: a SPLADE document encoder and a static query scorer sharing the word embeddings.

Documents: d = log(1 + ReLU(max over positions of the MLM logits)), as at inference. The forward is
memory-lean: the max over positions runs without gradients through ``models.splade.max_over_positions``
(no [batch, length, vocab] tensor is ever kept), then only the logits that survive the ReLU (a few hundred
per document) are recomputed from their argmax position with gradients. The gradient is the exact
gradient of the max (it flows to the argmax position); entries cut by the ReLU have zero gradient anyway.

Queries (``static``, Li-LSR): each query token x weighs s(x) = log(1 + ReLU(w . E_W(x) + b)), E_W the
word-embedding matrix shared with the document encoder (no positions, no context); a query's score is
sum over its tokens of s(x) * d[x]. A repeated token counts each time (``query_dup="sum"``, the default)
or once (``"max"``); the exported table records the mode, and the ``table`` encoder looks up the same
way. ``contextual`` queries go through the SPLADE encoder itself (plain SPLADE, for
the ablation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import LilsrError
from ..models.splade import max_over_positions, mlm_parts


class LiLSRStudent(torch.nn.Module):
    def __init__(self, masked_lm, tokenizer, head: tuple[np.ndarray, float], query_side: str = "static",
                 query_dup: str = "sum", head_center: bool = False):
        super().__init__()
        parts = mlm_parts(masked_lm)
        if parts is None:
            raise LilsrError(f"training needs a BERT- or DistilBERT-style masked LM, not {type(masked_lm).__name__}")
        self.mlm = masked_lm
        self.tokenizer = tokenizer
        self.query_side = query_side
        self.query_dup = query_dup
        self._encoder, self._transform, _, _ = parts
        self.head_center = head_center
        w, b = head
        self.head_weight = torch.nn.Parameter(torch.as_tensor(np.asarray(w, np.float32)).clone())
        self.head_bias = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float32))
        self.set_head(w, b)
        vocab = self.decoder_weight.shape[0]
        special = sorted(i for i in tokenizer.all_special_ids if i < vocab)
        self.register_buffer("special_ids", torch.tensor(special, dtype=torch.long), persistent=False)
        self._backend = getattr(tokenizer, "backend_tokenizer", None)

    # the decoder is looked up each time: tied weights may be re-tied by load_state_dict
    @property
    def decoder_weight(self) -> torch.Tensor:
        return mlm_parts(self.mlm)[2]

    @property
    def decoder_bias(self) -> torch.Tensor:
        return mlm_parts(self.mlm)[3]

    @property
    def embeddings(self) -> torch.Tensor:
        return self.mlm.get_input_embeddings().weight

    @property
    def vocab_size(self) -> int:
        return self.decoder_weight.shape[0]

    # --- documents (and contextual queries) -----------------------------------------------------------

    def tokenize(self, texts: list[str], max_length: int) -> dict:
        batch = self.tokenizer(texts, max_length=max_length, truncation=True, padding=True, return_tensors="pt")
        return {k: v.to(self.head_weight.device) for k, v in batch.items()}

    def encode_splade(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense [B, V] SPLADE vectors (with gradients on the non-zero entries) and non-zeros per row."""
        hidden = self._transform(self._encoder(**batch).last_hidden_state)
        weight, bias = self.decoder_weight, self.decoder_bias
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        # accelerators get the argmax from the batched max for free; on CPU the plain max is ~30% cheaper
        # and the surviving logits are recomputed per document over its positions instead
        with_argmax = hidden.device.type != "cpu"
        with torch.no_grad():
            maxima, argmax = max_over_positions(hidden.detach(), lengths, weight.detach(), with_argmax=with_argmax)
            maxima += bias.detach().float()
            if len(self.special_ids):
                maxima[:, self.special_ids] = 0.0  # special tokens never appear in a vector
            rows, cols = torch.nonzero(maxima > 0, as_tuple=True)  # row-major: rows ascend
        if argmax is not None:
            positions = argmax[rows, cols]
            logits = (hidden[rows, positions].float() * weight[cols].float()).sum(dim=-1)
        else:
            # each document's surviving rows of the decoder, padded to [B, n_max, H], against all of its
            # positions in one batched product: [B, n_max, L], padding masked, max over positions
            counts = torch.bincount(rows, minlength=len(lengths))
            starts = torch.cumsum(counts, 0) - counts
            slots = torch.arange(len(rows), device=rows.device) - starts[rows]
            width = int(counts.max()) if len(rows) else 0
            rows_of = torch.zeros(len(lengths), width, hidden.shape[-1], dtype=hidden.dtype, device=hidden.device)
            rows_of = rows_of.index_put((rows, slots), weight[cols].to(hidden.dtype))
            block = rows_of @ hidden.transpose(1, 2)
            padding = torch.arange(hidden.shape[1], device=hidden.device)[None, :] >= torch.as_tensor(
                lengths, device=hidden.device)[:, None]
            block = block.masked_fill(padding[:, None, :], float("-inf"))
            logits = block.amax(dim=2)[rows, slots].float()
        values = torch.log1p(torch.relu(logits + bias[cols].float()))
        dense = torch.zeros(len(lengths), weight.shape[0], dtype=values.dtype, device=values.device)
        dense = dense.index_put((rows, cols), values)
        return dense, torch.bincount(rows, minlength=len(lengths))

    # --- static queries --------------------------------------------------------------------------------

    def token_ids(self, text: str) -> list[int]:
        """The query's tokens exactly as the ``table`` query encoder sees them (no special tokens)."""
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def query_tokens(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded token ids [Q, T] and a float mask [Q, T] (0 for padding and special tokens)."""
        ids = [self.token_ids(t)[:max_length] or [0] for t in texts]
        width = max(len(i) for i in ids)
        tokens = torch.zeros(len(ids), width, dtype=torch.long)
        mask = torch.zeros(len(ids), width)
        for r, row in enumerate(ids):
            tokens[r, :len(row)] = torch.tensor(row)
            if self.query_dup == "max":  # each distinct token once, as the table's lookup with dup max
                first = {token: i for i, token in reversed(list(enumerate(row)))}
                mask[r, sorted(first.values())] = 1.0
            else:
                mask[r, :len(row)] = 1.0
        if len(self.special_ids):
            mask[torch.isin(tokens, self.special_ids.cpu())] = 0.0
        device = self.head_weight.device
        return tokens.to(device), mask.to(device)

    # With ``head_center`` the head reads the word embeddings minus their mean over the vocabulary:
    # z(x) = w . (E_W(x) - mean E_W) + b. The same affine family (the saved head folds the mean into b), but
    # trained differently: raw embeddings share a large common component, so every per-token gradient on the
    # table moves w along that component and acts on all tokens alike (benchmarks/table_gradients.py: the
    # step that a batch's "content up, stopwords down" gradient gives pushes every class down, stopwords
    # least); centred, the common push goes to b alone and w follows the differences between tokens.
    def embedding_center(self) -> torch.Tensor:
        if not self.head_center:
            return torch.zeros(self.embeddings.shape[1], device=self.head_weight.device)
        return self.embeddings.detach().float().mean(dim=0)

    def set_head(self, w, b: float) -> None:
        """Set the head from its saved form, z = w . E_W(x) + b."""
        with torch.no_grad():
            self.head_weight.copy_(torch.as_tensor(np.asarray(w, np.float32)).to(self.head_weight.device))
            shift = float(self.embedding_center() @ self.head_weight)
            self.head_bias.fill_(float(b) + shift)

    def token_scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """s(x) = log1p(relu(E_W(x) . w + b)) for the given token ids (any shape)."""
        z = (self.embeddings[tokens].float() - self.embedding_center()) @ self.head_weight + self.head_bias
        return torch.log1p(torch.relu(z))

    def table(self) -> np.ndarray:
        """The full query table over the vocabulary (special tokens 0), float32: what ``save_table`` writes."""
        with torch.no_grad():
            z = (self.embeddings.float() - self.embedding_center()) @ self.head_weight + self.head_bias
            weights = torch.log1p(torch.relu(z))
            weights[self.special_ids] = 0.0
        return weights.cpu().numpy().astype(np.float32)

    # --- scores ----------------------------------------------------------------------------------------

    def forward(self, query_texts: list[str], doc_texts: list[str], n_candidates: int, *, max_length: int,
                query_max_length: int, in_batch: bool = False) -> dict[str, torch.Tensor]:
        """Scores [Q, C] of each query against its own C candidates (``doc_texts`` is query-major), the
        document vectors, and the query vectors' regularizable part. ``in_batch`` adds ``batch_scores``
        [Q, Q*C]: each query against every candidate of the batch (the other queries' as extra negatives)."""
        docs, doc_nonzeros = self.encode_splade(self.tokenize(doc_texts, max_length))
        candidates = docs.view(len(query_texts), n_candidates, -1)
        if self.query_side == "static":
            tokens, mask = self.query_tokens(query_texts, query_max_length)
            weights = self.token_scores(tokens) * mask  # [Q, T]
            index = tokens.unsqueeze(1).expand(-1, n_candidates, -1)  # [Q, C, T]
            scores = (candidates.gather(2, index) * weights.unsqueeze(1)).sum(dim=-1)
            # the query vectors (a repeated token sums unless query_dup is max), for the query regularizer
            queries = torch.zeros(len(query_texts), docs.shape[1], device=docs.device).scatter_add(1, tokens, weights)
            query_nonzeros = (queries > 0).sum(dim=1)
        else:
            queries, query_nonzeros = self.encode_splade(self.tokenize(query_texts, query_max_length))
            scores = torch.einsum("qv,qcv->qc", queries, candidates)
        out = {"scores": scores, "docs": docs, "queries": queries, "doc_nonzeros": doc_nonzeros,
               "query_nonzeros": query_nonzeros}
        if in_batch:  # the dense query vectors hold the same sums as the lookup: one product serves both sides
            out["batch_scores"] = queries @ docs.T
        return out

    # --- checkpoints -----------------------------------------------------------------------------------

    def head(self) -> tuple[np.ndarray, float]:
        """(w, b) of z = w . E_W(x) + b, the form saved and exported (a centred head's mean folded into b)."""
        with torch.no_grad():
            shift = float(self.embedding_center() @ self.head_weight)
        return (self.head_weight.detach().float().cpu().numpy().copy(), float(self.head_bias.detach().cpu()[0]) - shift)

    def save(self, folder: str | Path, *, source: str, params: dict | None = None) -> None:
        """A Hugging Face checkpoint (model + tokenizer) plus ``lilsr_head.safetensors`` and ``table/``."""
        from ..models.presets import vocabulary
        from ..models.table import save_head, save_table

        folder = Path(folder)
        self.mlm.save_pretrained(str(folder))
        clear_call_state(self.tokenizer)
        self.tokenizer.save_pretrained(str(folder))
        w, b = self.head()
        save_head(folder, w, b)
        save_table(folder / "table", self.table(), vocabulary(self.tokenizer, self.vocab_size), self.tokenizer,
                   source=source, params={"init": "head", "bias": b, "query_dup": self.query_dup, **(params or {})},
                   overwrite=True)


def clear_call_state(tokenizer) -> None:
    """Forget the truncation and padding the last call left in a fast tokenizer's backend: ``save_pretrained``
    writes them into tokenizer.json, and the table's query encoder then truncates queries at whatever length
    that call used (32 in a run, 512 when a resumed run saved without a call). Saved tokenizers carry none."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()


def load_student(checkpoint: str | Path, query_side: str = "static", query_dup: str = "sum") -> LiLSRStudent:
    """A trained student back from a checkpoint folder (model + tokenizer + lilsr_head.safetensors)."""
    from ..models.presets import load_masked_lm
    from ..models.table import load_head

    masked_lm, tokenizer = load_masked_lm(str(checkpoint))
    return LiLSRStudent(masked_lm, tokenizer, load_head(checkpoint), query_side, query_dup)
