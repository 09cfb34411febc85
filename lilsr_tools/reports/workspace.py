"""The cached inputs of a comparison: vectors, tables, encoded queries, indexes and exact runs.

Everything lands under ``OUT/artifacts/<kind>/<name>-<key>``, the key hashing what made it, so a re-run
(after a crash, or with a grown grid) reuses what is already there and rebuilds only what changed.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from ..data.collection import Collection
from ..data.trec import Run, read_run, write_run
from ..engines import get_engine
from ..engines.search import QueryBatch, run_search
from ..errors import LilsrError
from ..manifest import MANIFEST, read_manifest, sha256_file
from ..models.table import HEAD_FILE
from ..vectors.store import SparseVectors, load_vectors
from .coverage import Coverage, check_coverage, corpus_coverage, coverage_notes
from .grid import EngineSpec, ModelSpec, key_of

log = logging.getLogger("lilsr.compare")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


class Workspace:
    """``docs``: grow each model's vectors to that many synthetic documents (``vectors.synth``, with the
    ``synth`` options) and index those; tables and queries still come from the real collection.
    ``measure_builds``: build every index in a child process that records wall time and peak memory
    (``engines.measured_build``). ``strict_vectors`` (several collections in one grid): a model's given
    vectors serve only the corpus they encode. ``partial``: accept a given store that lacks some of the
    collection's documents (``coverage`` records how much it holds); else such a store is refused."""

    def __init__(self, root: str | Path, collection: Collection, split: str, progress: bool = True,
                 docs: int | None = None, synth: dict | None = None, measure_builds: bool = False,
                 artifacts: str | Path | None = None, strict_vectors: bool = False, partial: bool = False,
                 query_sample: int | None = None):
        self.root = Path(root)
        self.artifacts = Path(artifacts) if artifacts else self.root / "artifacts"
        self.collection = collection
        self.split = split
        self.progress = progress
        self.docs = docs
        self.synth = dict(synth or {})
        self.measure_builds = measure_builds or docs is not None
        self.strict_vectors = strict_vectors
        self.partial = partial
        self.query_sample = query_sample
        self.coverage: dict[str, Coverage] = {}  # model name -> how much of the corpus its given store holds
        self._real: dict[str, SparseVectors] = {}
        self._vectors: dict[str, SparseVectors] = {}
        self._queries: dict[tuple, QueryBatch] = {}
        self._engines: dict[str, object] = {}

    def path(self, kind: str, name: str, key_payload) -> Path:
        return self.artifacts / kind / f"{_slug(name)}-{key_of(key_payload)}"

    @cached_property
    def corpus_identity(self) -> list[str]:
        """The corpus as cache keys see it: its resolved path and a digest of its content. How the data
        folder is spelled (``LILSR_DATA_DIR=../shared/data`` or the Makefile's absolute path) must not
        change a key, or a re-run re-encodes; an edited corpus must."""
        return corpus_identity(self.collection.corpus_path)

    # -- queries -------------------------------------------------------------------------------------
    @cached_property
    def text_queries(self) -> QueryBatch:
        queries = self.collection.queries(self.split)
        if self.query_sample and len(queries) > self.query_sample:
            import numpy as np

            # seeded, and kept in the split's order: every run of the same sample size sees the same queries
            keep = np.sort(np.random.default_rng(0).choice(len(queries), self.query_sample, replace=False))
            queries = [queries[i] for i in keep]
        return QueryBatch([q.id for q in queries], [q.text for q in queries])

    @cached_property
    def qrels(self):
        return self.collection.qrels(self.split)

    # -- vectors -------------------------------------------------------------------------------------
    def real_vectors(self, model: ModelSpec) -> SparseVectors:
        """The model's vectors of the real collection (given, or encoded once)."""
        if model.name in self._real:
            return self._real[model.name]
        if self._uses_given_vectors(model):
            vectors = load_vectors(model.vectors)
            if self.docs is None:  # grown synthetic stores are judged against exact search, not qrels
                self.coverage[model.name] = corpus_coverage(vectors, self.collection)
                check_coverage(self.coverage[model.name], model.name, self.partial)
        elif model.vectors and not model.checkpoint:
            raise LilsrError(f"model '{model.name}': its vectors {model.vectors} encode another corpus than "
                             f"{self.collection.corpus_path}; give the model a checkpoint to encode this collection")
        else:
            from ..models.corpus import encode_corpus
            from ..models.splade import SpladeEncoder

            path = self.path("vectors", model.name, [_checkpoint_name(model.checkpoint), model.max_length,
                                                     self.corpus_identity, _checkpoint_stamp(model)])
            if (path / MANIFEST).is_file():
                vectors = load_vectors(path)
            else:
                log.info("encoding %s with %s", self.collection.name, model.checkpoint)
                encoder = SpladeEncoder(model.checkpoint, max_length=model.max_length)
                vectors = encode_corpus(self.collection.corpus_path, path, encoder, progress=self.progress)
        self._real[model.name] = vectors
        return vectors

    def vectors(self, model: ModelSpec) -> SparseVectors:
        """The vectors the engines index: the real ones, or grown to ``docs`` synthetic documents."""
        if model.name in self._vectors:
            return self._vectors[model.name]
        vectors = self.real_vectors(model)
        synth = dict(self.synth)
        reorder = synth.pop("reorder", None)  # a reordering of the grown store, not a way of growing it
        if self.docs is not None and self.docs != len(vectors):
            from ..vectors.synth import synthesize

            path = self.path("synthetic", f"{model.name}-{self.docs}",
                             [key_of(vectors.manifest.get("sha256")), self.docs, synth])
            if (path / MANIFEST).is_file():
                vectors = load_vectors(path)
            else:
                log.info("growing %s to %d synthetic documents", model.name, self.docs)
                vectors = synthesize(vectors, path, self.docs, overwrite=True, progress=self.progress, **synth)
        if reorder:
            vectors = self._reordered(model, vectors, reorder)
        self._vectors[model.name] = vectors
        return vectors

    def _reordered(self, model: ModelSpec, vectors: SparseVectors, method: str) -> SparseVectors:
        """``vectors`` with document ids reordered by ``method`` (``lilsr vectors reorder``; ids travel with
        their documents, so every engine finds the same documents), made once and kept in the workspace."""
        import os

        from ..vectors.reorder import reorder_store

        path = self.path("reordered", f"{model.name}-{len(vectors)}", [key_of(vectors.manifest.get("sha256")), method])
        if not (path / MANIFEST).is_file():
            log.info("reordering %s (%s)", model.name, method)
            reorder_store(vectors, path, method=method, seed=0, threads=os.cpu_count() or 1, overwrite=True,
                          progress=self.progress)
        return load_vectors(path)

    def check_coverage(self, models) -> None:
        """Refuse, before any cell runs, a given store that lacks documents of the collection (unless
        ``partial``; its coverage is recorded in ``coverage``). Models encoded here cover it all by making."""
        for model in models:
            if self._uses_given_vectors(model):
                self.real_vectors(model)

    def coverage_notes(self) -> list[str]:
        """One sentence per incomplete store, for the report and the console."""
        return coverage_notes(self.coverage)

    def _uses_given_vectors(self, model: ModelSpec) -> bool:
        return bool(model.vectors) and (not self.strict_vectors or self._encodes_this_corpus(model.vectors))

    def _encodes_this_corpus(self, vectors: str) -> bool:
        corpus = read_manifest(vectors).get("params", {}).get("corpus")
        return corpus is None or Path(corpus).resolve() == self.collection.corpus_path.resolve()

    def vectors_identity(self, model: ModelSpec) -> str:
        return key_of(self.vectors(model).manifest.get("sha256"))

    def real_identity(self, model: ModelSpec) -> str:
        return key_of(self.real_vectors(model).manifest.get("sha256"))

    def checkpoint(self, model: ModelSpec) -> str:
        """The checkpoint behind a model: given, or recorded in its vector store."""
        checkpoint = model.checkpoint or self.real_vectors(model).manifest.get("model")
        if not checkpoint:
            raise LilsrError(f"model '{model.name}': no checkpoint given and none recorded in {model.vectors}")
        return checkpoint

    # -- tables --------------------------------------------------------------------------------------
    def table(self, model: ModelSpec) -> Path:
        """The model's Li-LSR table: given; else from the checkpoint's trained head; else text idf over the
        collection's corpus (the inference-free baseline)."""
        if model.table:
            return Path(model.table)
        from ..models.presets import resolve_model
        from ..models.table import save_table
        from ..models.table_export import export_table

        checkpoint = self.checkpoint(model)
        has_head = (Path(resolve_model(checkpoint)) / HEAD_FILE).is_file()
        init = "head" if has_head else "idf"
        path = self.path("tables", f"{model.name}-{init}", [_checkpoint_name(checkpoint), init,
                                                            _checkpoint_stamp(model),
                                                            self.corpus_identity if init == "idf" else None,
                                                            "text-idf"])
        if not (path / MANIFEST).is_file():
            corpus = self.collection.corpus_path if init == "idf" else None
            weights, vocab, tokenizer, params = export_table(checkpoint, init, corpus=corpus)
            save_table(path, weights, vocab, tokenizer, source=checkpoint, params=params, overwrite=True)
        return path

    def table_source(self, model: ModelSpec) -> str:
        if model.table:
            return "given"
        return read_manifest(self.table(model)).get("params", {}).get("init", "?")

    # -- encoded queries -----------------------------------------------------------------------------
    def queries(self, model: ModelSpec, encoder: str) -> QueryBatch:
        cache_key = (model.name, encoder)
        if cache_key in self._queries:
            return self._queries[cache_key]
        from ..models.query_encoders import make_query_encoder
        from ..vectors.queries import load_encoded_queries, save_encoded_queries
        from ..vectors.store import vocab_digest

        from ..models.query_encoders import parse_encoder_spec

        text = self.text_queries
        encoder_spec, (encoder, top_k) = encoder, parse_encoder_spec(encoder)
        table = self.table(model) if encoder == "table" else None
        inputs = [model.name, encoder, _checkpoint_name(self.checkpoint(model)), self.split, self.collection.name,
                  key_of(read_manifest(table).get("sha256")) if table else None,
                  self.real_identity(model) if encoder == "vector-idf" else None,
                  self.corpus_identity if encoder == "idf" else None]
        inputs += [top_k] if top_k else []  # a cut is part of the key; the uncut keys stay as they were
        inputs += [f"sample{self.query_sample}"] if self.query_sample else []
        path = self.path("queries", f"{model.name}-{encoder_spec.replace(':', '-')}", inputs)
        if not (path / MANIFEST).is_file():
            query_encoder = make_query_encoder(encoder, model=None if encoder == "table" else self.checkpoint(model),
                                               table=table,
                                               vectors=self.real_vectors(model) if encoder == "vector-idf" else None,
                                               corpus=self.collection.corpus_path, progress=self.progress,
                                               top_k=top_k)
            from ..models.query_encoders import encode_queries

            encoded = encode_queries(query_encoder, text.qids, text.texts)
            save_encoded_queries(path, encoded, overwrite=True, vocab_digest=vocab_digest(query_encoder.vocab),
                                 params={"model": model.name, "encoder": encoder_spec})
        encoded, manifest = load_encoded_queries(path)
        batch = QueryBatch(encoded.qids, text.texts, encoded.vectors, encoded.encode_ns, encoder_spec,
                           vocab_digest=manifest.get("vocab_digest"), source=str(path))
        self._queries[cache_key] = batch
        return batch

    # -- indexes -------------------------------------------------------------------------------------
    def index(self, model: ModelSpec | None, engine: EngineSpec) -> Path:
        engine_cls = get_engine(engine.name)
        if engine.name == "bm25":
            path = self.path("indexes", f"{self.collection.name}-bm25", [self.corpus_identity, engine.build])
            source = str(self.collection.root)
        else:
            vectors = self.vectors(model)
            path = self.path("indexes", f"{model.name}-{engine.name}",
                             [self.vectors_identity(model), engine.name, engine.build])
            source = vectors
            if engine.name == "exact":
                if self.measure_builds and not (path / "build.json").is_file():
                    from ..engines.measured_build import measured_build

                    measured_build("exact", vectors.path, path)  # what loading the store for exact search costs
                return vectors.path
        if not (path / MANIFEST).is_file():
            log.info("building %s index at %s", engine.name, path)
            if self.measure_builds and engine.name != "bm25":
                from ..engines.measured_build import measured_build

                measured_build(engine.name, source.path, path, engine.build)
            else:
                built = engine_cls.build(source, path, overwrite=True, **engine.build)
                path = Path(built) if built else path
        return path

    def build_result(self, model: ModelSpec | None, engine: EngineSpec) -> dict:
        """Wall time and peak memory of the index's build, when it was measured (``measure_builds``)."""
        from ..engines.measured_build import read_build_result

        if engine.name == "exact":
            return read_build_result(self.path("indexes", f"{model.name}-exact",
                                               [self.vectors_identity(model), "exact", engine.build]))
        return read_build_result(self.index(model, engine))

    def engine(self, model: ModelSpec | None, engine: EngineSpec):
        """A loaded engine, kept while cells use the same index (the most recent two stay open)."""
        path = self.index(model, engine)
        key = f"{engine.name}:{path}"
        if key not in self._engines:
            if len(self._engines) >= 2:
                self._engines.pop(next(iter(self._engines)))
            self._engines[key] = get_engine(engine.name).load(path)
        return self._engines[key]

    # -- exact runs (ground truth for accuracy@k) ----------------------------------------------------
    def exact_run(self, model: ModelSpec, encoder: str, k: int) -> Run:
        """The exact top k of each query, followed by every document tied with its k-th score (the reference
        of tie-aware accuracy@k: a tie just past rank k is as right as the one the exact engine kept)."""
        batch = self.queries(model, encoder)
        path = self.path("exact-runs", f"{model.name}-{encoder}",
                         [self.vectors_identity(model), encoder, k, "ties", [len(v) for v in batch.vectors],
                          sum(sum(v.values()) for v in batch.vectors)])
        run_file = path / "run.trec"
        if not run_file.is_file():
            from ..engines.exact import ExactEngine

            results = run_search(ExactEngine(self.vectors(model)), batch, k=k, warmup=0,
                                 ties=True)  # ground truth, untimed
            path.mkdir(parents=True, exist_ok=True)
            write_run(run_file, results.qids, results.doc_ids, results.scores, tag="exact")
        return read_run(run_file)


_DIGESTS: dict[tuple, str] = {}


def corpus_identity(corpus: Path) -> list[str]:
    """Resolved path and sha256 of a corpus file; the digest is computed once per file version in a process."""
    path = Path(corpus).resolve()
    stat = path.stat()
    version = (str(path), stat.st_size, stat.st_mtime_ns)
    if version not in _DIGESTS:
        _DIGESTS[version] = sha256_file(path)
    return [str(path), _DIGESTS[version]]


def _checkpoint_name(checkpoint: str | None) -> str | None:
    """A checkpoint as keys see it: a local folder by its resolved path (however it was spelled), a hub or
    preset name as given."""
    if checkpoint and Path(checkpoint).expanduser().is_dir():
        return str(Path(checkpoint).expanduser().resolve())
    return checkpoint


def _checkpoint_stamp(model: ModelSpec):
    """Changes when a local checkpoint folder is rewritten (a model retrained in place)."""
    if not model.checkpoint:
        return None
    from ..models.presets import resolve_model

    path = Path(resolve_model(model.checkpoint))
    files = sorted(p for p in path.glob("*") if p.is_file()) if path.is_dir() else []
    return [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]
