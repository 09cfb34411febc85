"""Collections (BEIR layout, MS MARCO TSV), qrels and TREC run files: streaming readers, atomic writers."""

from .collection import Collection, Document, Query, read_corpus, read_queries, resolve_collection
from .jsonl import read_jsonl
from .qrels import read_qrels
from .trec import Run, read_run, write_run

__all__ = [
    "Collection", "Document", "Query", "read_corpus", "read_queries", "resolve_collection",
    "read_jsonl", "read_qrels", "Run", "read_run", "write_run",
]
