"""lilsr-tools: learned sparse retrieval with inference-free (Li-LSR) queries.

Stages, one package each: ``data`` (collections, runs), ``vectors`` (the sparse vector store and its
converters), ``models`` (document encoders, query encoders, the Li-LSR table), ``training``, ``engines``
(exact, Lucene, native, Rust Seismic, BM25 behind one protocol), ``evaluation`` and ``reports``.
The ``lilsr`` command line is a thin layer over these modules; ``lilsr_tools.Searcher`` searches an index
with raw query texts from Python (docs/python.md).
"""

__version__ = "0.1.0"

__all__ = ["Hit", "Searcher", "__version__"]


def __getattr__(name):
    # imported on first use, so `import lilsr_tools` stays light (no torch, no engines)
    if name in ("Searcher", "Hit"):
        from . import searcher

        return getattr(searcher, name)
    raise AttributeError(f"module 'lilsr_tools' has no attribute {name!r}")
