"""Retrieval engines behind one small protocol (see ``base.Engine``), looked up by name."""

from __future__ import annotations

import importlib

from ..errors import LilsrError
from .base import Engine, SearchResults

# name -> "module:Class"; modules are imported on first use, so that e.g. the JVM starts only for Lucene.
ENGINES = {
    "exact": "lilsr_tools.engines.exact:ExactEngine",
    "native": "lilsr_tools.engines.native:NativeEngine",
    "seismic-rs": "lilsr_tools.engines.seismic_rs:SeismicRsEngine",
    "lucene": "lilsr_tools.engines.lucene:LuceneEngine",
    "bm25": "lilsr_tools.engines.lucene:BM25Engine",
    "pisa": "lilsr_tools.engines.pisa:PisaEngine",
    "milvus": "lilsr_tools.engines.milvus:MilvusEngine",
    "bmp": "lilsr_tools.engines.bmp:BmpEngine",
    "kannolo": "lilsr_tools.engines.kannolo:KannoloEngine",
}

# manifest "kind" of an index folder -> the engine that searches it by default
KIND_TO_ENGINE = {
    "lilsr.vectors": "exact",
    "lilsr.native-index": "native",
    "lilsr.lucene-index": "lucene",
    "lilsr.bm25-index": "bm25",
    "lilsr.pisa-index": "pisa",
    "lilsr.milvus-index": "milvus",
    "lilsr.seismic-rs-index": "seismic-rs",
    "lilsr.bmp-index": "bmp",
    "lilsr.kannolo-index": "kannolo",
}


def engine_for_index(path) -> str:
    """The default engine for an index folder, from its manifest."""
    from ..manifest import read_manifest

    kind = read_manifest(path).get("kind")
    if kind not in KIND_TO_ENGINE:
        raise LilsrError(f"{path} holds a '{kind}', which no engine searches; pass an index or a vector store")
    return KIND_TO_ENGINE[kind]


# engines added at run time (``register_engine``): name -> class
REGISTERED: dict[str, type] = {}


def register_engine(engine_cls: type) -> type:
    """Add an engine from its declaration alone: ``name``, ``query_input``, ``param_spec`` (an
    ``params.EngineParams`` named like it) and the protocol's methods. It then gets what the built-in
    engines get: lookup by name, ``-p``/keyword parameters validated by its spec, its tuning grid and its
    docs table (``param_docs.render_table``). Usable as a class decorator."""
    from .param_specs import SPECS
    from .params import EngineParams

    name = getattr(engine_cls, "name", None)
    spec = getattr(engine_cls, "param_spec", None)
    if not isinstance(name, str) or not name:
        raise LilsrError(f"{engine_cls.__name__} has no engine name (a class attribute 'name')")
    if name in ENGINES and REGISTERED.get(name) is not engine_cls:
        raise LilsrError(f"an engine named {name!r} exists already; choose another name")
    if not isinstance(spec, EngineParams) or spec.engine != name:
        raise LilsrError(f"engine {name!r} declares no parameters: set param_spec = EngineParams({name!r}, ...)")
    if getattr(engine_cls, "query_input", None) not in ("vector", "text"):
        raise LilsrError(f"engine {name!r}: query_input is 'vector' or 'text'")
    engine_cls.tuning_grid = spec.tuning_grid()
    engine_cls.tuning_bounds = spec.tuning_bounds()
    REGISTERED[name] = engine_cls
    ENGINES[name] = f"{engine_cls.__module__}:{engine_cls.__qualname__}"
    SPECS[name] = spec
    return engine_cls


def get_engine(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise LilsrError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name in REGISTERED:
        return REGISTERED[name]
    module, _, cls = ENGINES[name].partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise LilsrError(f"engine {name!r} is not available ({exc})") from None


__all__ = ["ENGINES", "KIND_TO_ENGINE", "Engine", "SearchResults", "engine_for_index", "get_engine", "register_engine"]
