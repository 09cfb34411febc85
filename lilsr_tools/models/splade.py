"""SPLADE encoding: MLM logits -> max over tokens -> log(1 + ReLU), as sparse vectors.

The max is taken before the activation: log1p and ReLU are monotone, so ``log1p(relu(max_l z_l))``
equals ``max_l log1p(relu(z_l))``, and the element-wise work shrinks from a [batch, length, vocab] tensor
to a [batch, vocab] one. The decoder bias is the same at every position, so it is added after the max too.
Each document's logits are computed over its own (unpadded) tokens, and batches are formed from
documents of similar length, so padding costs nothing.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .presets import load_masked_lm, vocabulary

# Rows of the decoder per logits block (measured on 2 AVX2 cores: ~2x faster than one [length, vocab] block).
VOCAB_CHUNK = 2048


def mlm_parts(model):
    """Split a masked LM into (encoder, head transform, decoder weight, decoder bias), or None.

    With the parts we can pool before the decoder bias and skip padded positions; unknown architectures
    fall back to the full logits.
    """
    predictions = getattr(getattr(model, "cls", None), "predictions", None)
    if predictions is not None:  # BERT family
        return model.base_model, predictions.transform, predictions.decoder.weight, predictions.bias
    if hasattr(model, "vocab_projector"):  # DistilBERT
        def transform(h):
            return model.vocab_layer_norm(model.activation(model.vocab_transform(h)))

        return model.distilbert, transform, model.vocab_projector.weight, model.vocab_projector.bias
    return None


def max_over_positions(hidden: torch.Tensor, lengths: Sequence[int], weight: torch.Tensor, *,
                       with_argmax: bool = False, chunk: int = VOCAB_CHUNK):
    """Max over each text's real positions of the logits ``hidden @ weight.T``, without the [B, L, V] tensor.

    ``hidden`` is [B, L, H] with right padding (text ``b`` has ``lengths[b]`` real positions), ``weight``
    the decoder [V, H]. Returns float32 maxima [B, V] and, with ``with_argmax``, the position of each
    maximum [B, V] (training recomputes the few logits that survive the ReLU from it, with gradients).
    This is the one place the pooling math lives: the inference encoder and the trainer both call it.
    """
    batch, vocab = hidden.shape[0], weight.shape[0]
    maxima = torch.empty(batch, vocab, dtype=torch.float32, device=hidden.device)
    argmax = torch.empty(batch, vocab, dtype=torch.long, device=hidden.device) if with_argmax else None
    if hidden.device.type != "cpu":  # accelerators: one padded block per vocabulary slice, padding masked out
        padding = torch.arange(hidden.shape[1], device=hidden.device)[None, :] >= torch.as_tensor(
            list(lengths), device=hidden.device)[:, None]
        for lo in range(0, vocab, chunk * 4):
            block = (hidden @ weight[lo:lo + chunk * 4].T).masked_fill_(padding[:, :, None], float("-inf"))
            values, positions = block.max(dim=1)
            maxima[:, lo:lo + chunk * 4] = values.float()
            if argmax is not None:
                argmax[:, lo:lo + chunk * 4] = positions
        return maxima, argmax
    for i, length in enumerate(lengths):  # right padding: the first `length` positions are real
        tokens = hidden[i, :length].T.contiguous()
        # vocabulary slices keep each [slice, length] logits block in cache
        for lo in range(0, vocab, chunk):
            block = weight[lo:lo + chunk] @ tokens
            if argmax is None:
                maxima[i, lo:lo + chunk] = block.amax(dim=1).float()
            else:
                values, positions = block.max(dim=1)
                maxima[i, lo:lo + chunk] = values.float()
                argmax[i, lo:lo + chunk] = positions
    return maxima, argmax


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def splade_pool(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Reference SPLADE pooling from full logits [B, L, V]: masked max, then log(1 + ReLU)."""
    masked = logits.masked_fill(~attention_mask.bool().unsqueeze(-1), float("-inf"))
    return torch.log1p(torch.relu(masked.amax(dim=1)))


def check_max_length(model, max_length: int, name: str) -> None:
    """A token limit the model can take: at least 1 and at most its position embeddings (beyond, BERT-like
    models fail deep inside torch with an index error)."""
    from ..errors import LilsrError

    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(max_length, int) or max_length < 1:
        raise LilsrError(f"max length must be a positive number of tokens, not {max_length!r}")
    if isinstance(limit, int) and max_length > limit:
        raise LilsrError(f"max length {max_length} exceeds the {limit} positions of {name}; use at most {limit}")


class SpladeEncoder:
    """Encode texts into SPLADE vectors over the model's vocabulary.

    >>> encoder = SpladeEncoder("splade-tiny", max_length=256)
    >>> matrix = encoder.encode(["a document", "another one"])   # scipy CSR, float32
    """

    def __init__(self, model: str = "splade-tiny", max_length: int = 256, batch_size: int = 32,
                 threads: int | None = None, bf16: bool = False, loaded=None, device: str = "cpu"):
        if threads:
            torch.set_num_threads(threads)
        self.model_name = str(model)
        self.model, self.tokenizer = loaded if loaded is not None else load_masked_lm(model)
        self.device = torch.device(device)
        self.model.eval().to(self.device)
        check_max_length(self.model, max_length, self.model_name)
        self.max_length = max_length
        self.batch_size = batch_size
        self.bf16 = bf16
        if bf16 and not cpu_has_fast_bf16():
            warnings.warn("--bf16 on a CPU without AVX512-BF16/AMX runs bfloat16 in emulation, several times "
                          "slower than float32", stacklevel=2)
        self.vocab_size = self.model.get_output_embeddings().weight.shape[0]
        self.vocab = vocabulary(self.tokenizer, self.vocab_size)
        self.special_ids = torch.tensor(sorted(i for i in self.tokenizer.all_special_ids if i < self.vocab_size))
        self._parts = mlm_parts(self.model)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def tokenize(self, texts: Sequence[str]) -> dict:
        return self.tokenizer(list(texts), max_length=self.max_length, truncation=True, padding=True,
                              return_tensors="pt").to(self.device)

    @torch.inference_mode()
    def encode_batch(self, texts: Sequence[str]) -> torch.Tensor:
        """Dense [len(texts), vocab] float32 weights; special tokens are zero."""
        batch = self.tokenize(texts)
        mask = batch["attention_mask"]
        with self._autocast():
            if self._parts is None:
                logits = self.model(**batch).logits
                pooled = logits.masked_fill(~mask.bool().unsqueeze(-1), float("-inf")).amax(dim=1).float()
            else:
                encoder, transform, weight, bias = self._parts
                hidden = transform(encoder(**batch).last_hidden_state)
                pooled, _ = max_over_positions(hidden, mask.sum(dim=1).tolist(), weight)
                pooled += bias.float()
        weights = torch.log1p(torch.relu_(pooled)).cpu()
        if len(self.special_ids):
            weights[:, self.special_ids] = 0.0
        return weights

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
               truncation=None) -> sp.csr_matrix:
        """Encode any number of texts; rows come back in input order. Empty texts give empty rows.
        ``truncation`` (a ``models.truncation.Truncation``) counts the texts cut at ``max_length``."""
        texts = list(texts)
        lengths = self.token_lengths(texts)
        if truncation is not None:
            truncation.add_lengths([n for n, text in zip(lengths, texts) if text.strip()])
        order = sorted(range(len(texts)), key=lambda i: lengths[i]) if len(texts) > self.batch_size \
            else list(range(len(texts)))
        rows: list[sp.csr_matrix] = [None] * len(texts)  # type: ignore[list-item]
        empty = sp.csr_matrix((1, self.vocab_size), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            live = [i for i in chunk if texts[i].strip()]
            if live:
                block = sp.csr_matrix(self.encode_batch([texts[i] for i in live]).numpy())
                for j, i in enumerate(live):
                    rows[i] = block[j]
            for i in chunk:
                if rows[i] is None:
                    rows[i] = empty
            if progress:
                progress(len(chunk))
        if not rows:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        return sp.vstack(rows, format="csr", dtype=np.float32)

    def encode_one(self, text: str) -> dict[str, float]:
        """One text as ``{token: weight}`` (the contextual query encoder uses this)."""
        if not text.strip():
            return {}
        row = self.encode_batch([text])[0]
        ids = torch.nonzero(row).flatten().tolist()
        return {self.vocab[i]: float(row[i]) for i in ids}

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Full token counts, special tokens included (what ``max_length`` is compared with)."""
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(texts, truncation=False, verbose=False, return_attention_mask=False,
                                                   return_token_type_ids=False)["input_ids"]]
