"""Counting what a token limit cuts: texts truncated and the share of their tokens lost.

A transformer reads at most ``max_length`` tokens (special tokens included); the rest of a long text is
silently ignored. Every stage that truncates (encode, train, teacher) counts it with ``Truncation`` and
records ``as_dict()`` in its manifest, so a reader sees how much of the collection the numbers are about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Truncation:
    max_length: int
    texts: int = 0
    truncated: int = 0
    tokens: int = 0        # tokens of the full texts (special tokens included)
    tokens_cut: int = 0

    def add_lengths(self, lengths) -> None:
        """Full token counts (with special tokens) of some texts."""
        lengths = np.asarray(lengths, dtype=np.int64)
        cut = np.maximum(lengths - self.max_length, 0)
        self.texts += int(lengths.size)
        self.truncated += int((cut > 0).sum())
        self.tokens += int(lengths.sum())
        self.tokens_cut += int(cut.sum())

    def add(self, tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None, batch: int = 1024) -> "Truncation":
        """Tokenize ``texts`` (or text pairs with ``pairs``) in full and count what ``max_length`` cuts."""
        for start in range(0, len(texts), batch):
            chunk = list(texts[start:start + batch])
            other = list(pairs[start:start + batch]) if pairs is not None else None
            encoded = tokenizer(chunk, other, add_special_tokens=True, truncation=False, verbose=False,
                                return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            self.add_lengths([len(ids) for ids in encoded])
        return self

    @property
    def share(self) -> float:
        return self.tokens_cut / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict:
        return {"max_length": self.max_length, "texts": self.texts, "truncated": self.truncated,
                "truncated_share_of_texts": round(self.truncated / self.texts, 4) if self.texts else 0.0,
                "tokens_cut_share": round(self.share, 4)}

    def describe(self, what: str = "texts") -> str:
        return (f"{self.truncated} of {self.texts} {what} cut at {self.max_length} tokens "
                f"({100 * self.share:.1f}% of their tokens)")


def describe(record: dict | None, what: str = "texts") -> str:
    """One line from an ``as_dict()`` record (as manifests hold it)."""
    if not record:
        return f"{what}: truncation not recorded"
    return (f"{record['truncated']} of {record['texts']} {what} cut at {record['max_length']} tokens "
            f"({100 * record['tokens_cut_share']:.1f}% of their tokens)")
