"""Milvus behind the engine protocol: Milvus Lite (in-process, a database inside the index folder) by
default, any Milvus standalone or cluster server by URI (see docs/milvus.md, docs/scale-out.md).

Importing this package imports no pymilvus; building or loading an index does."""

from .engine import KIND, MilvusEngine, build_milvus_index

__all__ = ["KIND", "MilvusEngine", "build_milvus_index"]
