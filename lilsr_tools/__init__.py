"""lilsr-tools: learned sparse retrieval with inference-free (Li-LSR) queries.

Stages, one package each: ``data`` (collections, runs), ``vectors`` (the sparse vector store and its
converters), ``models`` (document encoders, query encoders, the Li-LSR table), ``training``, ``engines``
(exact, Lucene, native, Rust Seismic, BM25 behind one protocol), ``evaluation`` and ``reports``.
The ``lilsr`` command line is a thin layer over these modules.
"""

__version__ = "0.1.0"
