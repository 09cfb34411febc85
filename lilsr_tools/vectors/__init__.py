"""The sparse vector store (the one format every other stage reads) and its converters."""

from .store import SparseVectors, load_vectors, save_vectors, vocab_digest

__all__ = ["SparseVectors", "load_vectors", "save_vectors", "vocab_digest"]
