"""The experiment grid of ``lilsr compare``: models x query encoders x engines x engine parameters.

A grid comes from a TOML (or YAML) file or from CLI flags::

    collection = "scifact"                 # or several: collections = ["scifact", "nfcorpus:test"]
    split = "test"                         # the split of collections named without one
    k = 1000
    threads = 1
    baseline = "bm25"                      # a cell id, for paired significance

    [[models]]
    name = "splade-tiny"
    checkpoint = "splade-tiny"             # encodes the corpus when `vectors` is absent
    vectors = "out/scifact-splade-tiny"    # optional: a vector store made earlier
    table = "out/idf-table"                # optional: else the checkpoint's Li-LSR head, else idf

    encoders = ["table", "contextual"]

    [engines.lucene]
    build = {scale = 100}
    [engines.native]
    build = {n_postings = 3500}
    search = [{query_cut = 10, heap_factor = 0.8}, {query_cut = 20, heap_factor = 0.9}]
    [engines.bm25]

A cell is one (model, encoder, engine, build parameters, search parameters); ``bm25`` searches text and
makes one cell per grid, whatever the models. With several collections, every cell runs on each (a
model then needs a checkpoint: its documents are encoded per collection).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import ENGINES
from ..errors import LilsrError
from ..models.query_encoders import QUERY_ENCODERS


@dataclass(frozen=True)
class ModelSpec:
    name: str
    checkpoint: str | None = None
    vectors: str | None = None
    table: str | None = None
    max_length: int = 256


def parse_model_spec(item: str) -> ModelSpec:
    """``--model NAME=CHECKPOINT``, ``NAME=VECTOR_STORE`` or a bare path (named by its folder): a vector
    store is searched as it is, anything else is a checkpoint to encode with."""
    from ..manifest import MANIFEST, read_manifest

    name, sep, value = item.partition("=")
    if not sep:
        name, value = Path(item).name or item, item
    path = Path(value)
    if (path / MANIFEST).is_file() and read_manifest(path).get("kind") == "lilsr.vectors":
        return ModelSpec(name=name, vectors=str(path))
    if not value:
        raise LilsrError(f"--model {item!r}: expected NAME=CHECKPOINT or NAME=VECTOR_STORE")
    return ModelSpec(name=name, checkpoint=value)


@dataclass(frozen=True)
class EngineSpec:
    name: str
    build: dict = field(default_factory=dict)
    search: tuple[dict, ...] = ({},)


@dataclass(frozen=True)
class Cell:
    model: ModelSpec | None  # None for bm25
    encoder: str | None      # None for bm25
    engine: EngineSpec
    search: dict

    @property
    def id(self) -> str:
        parts = ["bm25"] if self.engine.name == "bm25" else [self.model.name, self.encoder, self.engine.name]
        parts += [f"{k}={v}" for k, v in sorted(self.engine.build.items())]
        parts += [f"{k}={v}" for k, v in sorted(self.search.items())]
        return "/".join(str(p) for p in parts)

    @property
    def slug(self) -> str:
        """A file-name-safe id (long ids end in a hash of the whole id, so file names stay short and distinct)."""
        from ..data.trec import run_tag

        return run_tag(self.id.replace("/", "__"), limit=150)

    @property
    def tag(self) -> str:
        """The TREC run tag: the id, readable (``/`` as ``.``), unique per cell (see ``data.trec.run_tag``)."""
        from ..data.trec import run_tag

        return run_tag(self.id)


@dataclass
class Grid:
    collection: str
    split: str = "test"
    k: int = 1000
    threads: int = 1
    baseline: str | None = None
    models: list[ModelSpec] = field(default_factory=list)
    encoders: list[str] = field(default_factory=lambda: ["table", "contextual"])
    engines: list[EngineSpec] = field(default_factory=list)
    measures: list[str] = field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100", "R@1000"])
    source: str | None = None
    warmup: int = 1       # untimed passes over the queries before timing
    repeat: int = 1       # timed passes; per query the median
    docs: int | None = None  # grow each model's vectors to this many synthetic documents (lilsr vectors synth)
    synth: dict = field(default_factory=dict)  # synth options: method, seed, mix, pool, keep, noise
    collections: list[str] = field(default_factory=list)  # several: "name" or "name:split" each
    partial: bool = False  # accept vector stores that lack some of the corpus (coverage recorded)
    query_sample: int | None = None  # run a seeded sample of this many of the split's queries (tuning at scale)

    def targets(self) -> list[tuple[str, str]]:
        """(collection, split) pairs the grid runs on."""
        names = self.collections or [self.collection]
        pairs = []
        for name in names:
            base, sep, split = str(name).rpartition(":")
            pairs.append((base, split) if sep and base and "/" not in split else (str(name), self.split))
        return pairs

    def for_target(self, collection: str, split: str) -> "Grid":
        from dataclasses import replace

        return replace(self, collection=collection, split=split, collections=[])

    def cells(self) -> list[Cell]:
        cells = []
        for engine in self.engines:
            for search in engine.search:
                if engine.name == "bm25":
                    cells.append(Cell(None, None, engine, dict(search)))
                    continue
                for model in self.models:
                    for encoder in self.encoders:
                        cells.append(Cell(model, encoder, engine, dict(search)))
        return cells

    def as_dict(self) -> dict:
        return {"collection": self.collection, "collections": self.collections, "split": self.split, "k": self.k,
                "threads": self.threads, "warmup": self.warmup, "repeat": self.repeat, "docs": self.docs,
                "synth": self.synth, "partial": self.partial, "query_sample": self.query_sample,
                "baseline": self.baseline, "encoders": self.encoders, "measures": self.measures,
                "models": [vars(m) for m in self.models],
                "engines": [{"name": e.name, "build": e.build, "search": list(e.search)} for e in self.engines]}


def key_of(payload) -> str:
    """A stable short hash of JSON-able inputs, for caching."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such grid file")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LilsrError(f"{path}: invalid YAML ({exc})") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LilsrError(f"{path}: invalid TOML ({exc})") from None
    grid = grid_from_dict(data or {}, str(path))
    grid.source = str(path)
    # relative paths in the file are relative to the file
    base = path.parent
    grid.models = [ModelSpec(m.name, _rel(m.checkpoint, base, keep_names=True), _rel(m.vectors, base),
                             _rel(m.table, base), m.max_length) for m in grid.models]
    return grid


def _rel(value: str | None, base: Path, keep_names: bool = False) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    if keep_names and not candidate.exists():
        return value  # a preset or hub name
    return str(candidate)


def grid_from_dict(data: dict, where: str = "grid") -> Grid:
    known = {"collection", "collections", "split", "k", "threads", "baseline", "models", "encoders", "engines",
             "measures", "warmup", "repeat", "docs", "synth", "partial"}
    unknown = set(data) - known
    if unknown:
        raise LilsrError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    collections = data.get("collections") or []
    if isinstance(data.get("collection"), list):
        collections = list(data["collection"])
    collections = [str(c) for c in ([collections] if isinstance(collections, str) else collections)]
    if "collection" not in data and not collections:
        raise LilsrError(f"{where}: 'collection' is required")
    if len(collections) != len(set(collections)):
        raise LilsrError(f"{where}: a collection is listed twice")
    models = []
    for i, model in enumerate(data.get("models", [])):
        if "name" not in model:
            raise LilsrError(f"{where}: models[{i}] needs a 'name'")
        if not model.get("checkpoint") and not model.get("vectors"):
            raise LilsrError(f"{where}: model '{model['name']}' needs 'checkpoint' or 'vectors'")
        extra = set(model) - {"name", "checkpoint", "vectors", "table", "max_length"}
        if extra:
            raise LilsrError(f"{where}: model '{model['name']}' has unknown key(s) {', '.join(sorted(extra))}")
        models.append(ModelSpec(**model))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise LilsrError(f"{where}: model names must be unique")
    encoders = list(data.get("encoders", ["table", "contextual"]))
    from ..models.query_encoders import parse_encoder_spec

    for encoder in encoders:
        if parse_encoder_spec(encoder)[0] not in QUERY_ENCODERS:
            raise LilsrError(f"{where}: unknown encoder {encoder!r}; choose from {', '.join(QUERY_ENCODERS)} "
                             "(NAME:topT keeps each query's T heaviest tokens)")
    engines = []
    for name, spec in (data.get("engines") or {}).items():
        if name not in ENGINES:
            raise LilsrError(f"{where}: unknown engine {name!r}; choose from {', '.join(ENGINES)}")
        spec = spec or {}
        search = spec.get("search", [{}])
        search = [search] if isinstance(search, dict) else list(search)
        engines.append(EngineSpec(name, dict(spec.get("build", {})), tuple(search)))
    if not engines:
        raise LilsrError(f"{where}: no engines; add e.g. [engines.exact]")
    if any(e.name != "bm25" for e in engines) and not models:
        raise LilsrError(f"{where}: vector engines need at least one [[models]] entry")
    first = collections[0] if collections else str(data["collection"])
    return Grid(collection=first, collections=collections if len(collections) > 1 else [],
                split=str(data.get("split", "test")), k=int(data.get("k", 1000)),
                threads=int(data.get("threads", 1)), baseline=data.get("baseline"), models=models,
                encoders=encoders, engines=engines,
                measures=_measures(data.get("measures", ["nDCG@10", "RR@10", "R@100", "R@1000"]), where),
                warmup=_count(data, "warmup", 1, 0, where), repeat=_count(data, "repeat", 1, 1, where),
                docs=_count(data, "docs", None, 1, where), synth=_synth_options(data.get("synth"), where),
                partial=_flag(data, "partial", where))


def _flag(data: dict, key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise LilsrError(f"{where}: '{key}' must be true or false, not {value!r}")
    return value


def _measures(value, where: str) -> list[str]:
    """The grid's measures, checked before any cell runs and named as results are keyed (``P.5,10`` gives
    ``P@5`` and ``P@10``)."""
    from ..evaluation.measure_names import parse_measures

    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise LilsrError(f"{where}: 'measures' is empty")
    try:
        return list(dict.fromkeys(m.name for m in parse_measures(names)))
    except LilsrError as exc:
        raise LilsrError(f"{where}: {exc}") from None


def _synth_options(value, where: str) -> dict:
    known = {"method", "seed", "mix", "pool", "keep", "noise", "reorder"}
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - known:
        raise LilsrError(f"{where}: 'synth' must be a table with keys among {', '.join(sorted(known))}")
    if value.get("reorder") not in (None, "bp"):
        raise LilsrError(f"{where}: synth 'reorder' must be 'bp' (recursive graph bisection), not {value['reorder']!r}")
    return dict(value)


def _count(data: dict, key: str, default: int | None, minimum: int, where: str) -> int | None:
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LilsrError(f"{where}: '{key}' must be an integer >= {minimum}, not {value!r}")
    return value
