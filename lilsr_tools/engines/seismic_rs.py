"""Rust Seismic (the ``pyseismic-lsr`` package) behind the engine protocol: the baseline of the native index.

The "index" is either

- a vector store folder: the Seismic index is built in memory when first searched, with the build
  parameters given to ``load(...)`` or as search parameters (``lilsr search STORE Q --engine seismic-rs
  -p n_postings=3500 -p query_cut=10``); a search with different build parameters rebuilds it; or
- a folder written by ``SeismicRsEngine.build`` (kind ``lilsr.seismic-rs-index``: Seismic's own
  ``index.index.seismic`` file, ``vocab.json`` and a manifest), loaded with ``SeismicIndex.load``.

Documents go in by integer component id (``SeismicDataset.add_documents_by_id``), so a query component
is the decimal string of its vocabulary id; query tokens are mapped through the store's vocabulary first,
so unknown tokens are counted, not silently dropped. Known traps handled here: the Rayon pool size is read
from ``RAYON_NUM_THREADS`` when the module is first imported (set before import, from ``threads``);
``batch_search`` returns queries out of order with several threads (results are re-aligned by position);
token arrays must have ``get_seismic_string()``'s dtype; Rust panics arrive as ``PanicException``, a
``BaseException``, and become ``LilsrError``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..locks import locks_output
from ..atomic import atomic_dir, check_can_write
from ..errors import LilsrError
from ..manifest import read_manifest, read_vocab, write_manifest
from ..vectors.store import KIND as VECTORS_KIND, SparseVectors, load_vectors, vocab_digest
from .base import F16_MAX, SearchResults, check_finite_scores, folder_bytes, queries_to_ids
from .call_clock import time_calls
from .checks import checked_search
from .file_checks import check_files, file_records
from .param_specs import SEISMIC_RS

KIND = "lilsr.seismic-rs-index"
INDEX_FILE = "index.index.seismic"
# pyseismic-lsr's own names and defaults (param_specs.SEISMIC_RS)
BUILD_DEFAULTS = SEISMIC_RS.defaults("build")
SEARCH_DEFAULTS = SEISMIC_RS.defaults("search")
_BATCH = 100_000  # documents handed to Seismic per add_documents_by_id call (bounds the int64 copy)


def import_seismic(threads: int | None = None):
    """``import seismic``, fixing the Rayon pool size first (it is read once, at import)."""
    if "seismic" not in sys.modules and threads:
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    try:
        import seismic
    except ImportError as exc:
        raise LilsrError(f"the seismic-rs engine needs pyseismic-lsr ({exc}); pip install pyseismic-lsr") from None
    return seismic


def _call(what: str, fn, *args, **kwargs):
    """Run a Seismic call, turning a Rust panic (a BaseException) into a LilsrError."""
    try:
        return fn(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: B036 - pyo3's PanicException derives from BaseException
        if type(exc).__name__ == "PanicException" or isinstance(exc, (ValueError, TypeError)):
            raise LilsrError(f"Seismic {what} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        raise


def _classes(seismic, vocab_size: int):
    """Seismic's u16-component index when the vocabulary fits, else its large-vocabulary (u32) variant."""
    if vocab_size <= 1 << 16:
        return seismic.SeismicDataset, seismic.SeismicIndex
    return seismic.SeismicDatasetLV, seismic.SeismicIndexLV


def _params(params: dict, stage: str) -> dict:
    """Validated parameters with defaults; Seismic checks none of them (query_cut=0 gave an empty run, a
    negative one an OverflowError, a negative or NaN heap_factor was searched): ``param_specs.SEISMIC_RS``."""
    return SEISMIC_RS.parse(stage, params)


def build_in_memory(vectors: SparseVectors, threads: int | None = None, **params):
    """(Seismic index, seconds to fill the dataset, seconds to build) from a vector store in memory."""
    build = _params(params, "build")
    top = float(np.max(vectors.values)) if vectors.nnz else 0.0
    if top > F16_MAX:  # Seismic keeps weights as half floats: larger ones become inf, and so do the scores
        raise LilsrError(f"{vectors.path or 'vectors'}: largest weight {top:.4g} is above what Seismic stores "
                         f"(half precision, at most {F16_MAX:g}); scale the store's weights down")
    seismic = import_seismic(threads)
    dataset_cls, index_cls = _classes(seismic, len(vectors.vocab))
    started = time.perf_counter()
    dataset = dataset_cls(dim=len(vectors.vocab))
    indptr = np.asarray(vectors.indptr)
    ids = list(vectors.ids)
    for lo in range(0, len(ids), _BATCH):
        hi = min(lo + _BATCH, len(ids))
        a, b = int(indptr[lo]), int(indptr[hi])
        _call("add_documents_by_id", dataset.add_documents_by_id, ids[lo:hi],
              np.asarray(vectors.indices[a:b], dtype=np.int64), np.asarray(vectors.values[a:b], dtype=np.float32),
              (indptr[lo:hi + 1] - a).astype(np.int64))
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with _quiet_stdout():
        index = _call("build_from_dataset", index_cls.build_from_dataset, dataset, num_threads=threads or 0, **build)
    return index, fill_seconds, time.perf_counter() - started


class _quiet_stdout:
    """Silence Rust's println! progress lines (written to file descriptor 1, below Python's sys.stdout)."""

    def __enter__(self):
        sys.stdout.flush()
        self._saved = os.dup(1)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 1)

    def __exit__(self, *exc):
        os.dup2(self._saved, 1)
        os.close(self._saved)
        os.close(self._null)
        return False


def space_usage_bytes(index) -> int | None:
    """Seismic's own account of its memory (forward index + posting lists + summaries), in bytes."""
    with tempfile.TemporaryFile() as capture:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(capture.fileno(), 1)
        try:
            index.print_space_usage_byte()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    found = re.search(r"Total:\s*(\d+)\s*Bytes", text)
    return int(found.group(1)) if found else None


class SeismicRsEngine:
    """pyseismic-lsr's SeismicIndex searched with its own parameters (query_cut, heap_factor, sorted, n_knn)."""

    name = "seismic-rs"
    query_input = "vector"
    param_spec = SEISMIC_RS
    tuning_grid = SEISMIC_RS.tuning_grid()
    tuning_bounds = SEISMIC_RS.tuning_bounds()

    def __init__(self, vocab: list[str], *, vectors: SparseVectors | None = None, index=None,
                 build_params: dict | None = None, path: Path | None = None, manifest: dict | None = None,
                 threads: int | None = None):
        self.vocab = vocab
        self.vectors = vectors
        self.index = index
        self.build_params = _params(build_params or {}, "build")
        self.path = path
        self.manifest = manifest or {}
        self.threads = threads
        self.build_seconds = self.manifest.get("build_seconds")
        self.fill_seconds = None
        self._token_ids = {token: i for i, token in enumerate(vocab)}
        self._component_names = None
        self._dtype = None

    # --------------------------------------------------------------------------------- build and load
    @classmethod
    @locks_output()
    def build(cls, source, out, *, overwrite: bool = False, threads: int | None = None, **params) -> Path:
        """Build from a vector store and save Seismic's index file in a folder with a manifest."""
        check_can_write(out, overwrite)
        vectors = source if isinstance(source, SparseVectors) else load_vectors(source)
        engine = cls(list(vectors.vocab), vectors=vectors, build_params=params, path=vectors.path, threads=threads)
        engine._ensure_index({})
        return engine.save(out, overwrite=overwrite)

    def save(self, out, overwrite: bool = False) -> Path:
        """Write the index (built in memory or loaded) to a ``lilsr.seismic-rs-index`` folder."""
        out = check_can_write(out, overwrite)
        self._ensure_index({})
        with atomic_dir(out, overwrite=overwrite) as tmp:
            with _quiet_stdout():
                _call("save", self.index.save, str(tmp / INDEX_FILE.removesuffix(".index.seismic")))
            if not (tmp / INDEX_FILE).is_file():
                raise LilsrError(f"Seismic did not write {INDEX_FILE}; this pyseismic-lsr saves elsewhere")
            files = [INDEX_FILE, "vocab.json"]
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")
            # the kNN graph travels inside Seismic's index file (knn_len: neighbours per document)
            counts = {"docs": self.index.len, "nnz": self.index.nnz, "vocab_size": len(self.vocab),
                      "knn_len": self.index.knn_len}
            write_manifest(tmp, KIND, params=self.build_params, counts=counts, vocab_digest=vocab_digest(self.vocab),
                           source=str(self.path) if self.path else None,
                           build_seconds=round(self.build_seconds, 3) if self.build_seconds else None,
                           checked_files=file_records(tmp, files), hash_files=files)
        return Path(out)

    @classmethod
    def load(cls, path, threads: int | None = None, **build_params) -> "SeismicRsEngine":
        """A vector store (built in memory on first search, with ``build_params``) or a saved index folder."""
        if isinstance(path, SparseVectors):
            return cls(list(path.vocab), vectors=path, build_params=build_params, path=path.path, threads=threads)
        manifest = read_manifest(path)
        if manifest.get("kind") == VECTORS_KIND:
            vectors = load_vectors(path)
            return cls(list(vectors.vocab), vectors=vectors, build_params=build_params, path=Path(path),
                       threads=threads)
        if manifest.get("kind") != KIND:
            raise LilsrError(f"{path} holds a '{manifest.get('kind')}'; the seismic-rs engine reads a vector store "
                             f"or a '{KIND}' folder")
        if build_params:
            raise LilsrError(f"{path} is a built Seismic index; build parameters ({', '.join(build_params)}) apply "
                             "only when searching a vector store")
        files = [INDEX_FILE, "vocab.json"]
        for name in files:
            if not (Path(path) / name).is_file():
                raise LilsrError(f"{Path(path) / name} is missing; rebuild the index")
        check_files(path, manifest, files)  # Seismic panics or aborts on a damaged file
        seismic = import_seismic(threads)
        vocab = read_vocab(Path(path) / "vocab.json", "rebuild the index")
        _, index_cls = _classes(seismic, len(vocab))
        file = Path(path) / INDEX_FILE
        if not file.is_file():
            raise LilsrError(f"{file} is missing; rebuild the index")
        with _quiet_stdout():
            index = _call(f"load of {file}", index_cls.load, str(file))
        return cls(vocab, index=index, build_params=manifest.get("params", {}), path=Path(path), manifest=manifest,
                   threads=threads)

    def _ensure_index(self, build_params: dict) -> None:
        wanted = _params({**self.build_params, **build_params}, "build")
        if self.index is not None and wanted == self.build_params:
            return
        if self.vectors is None:
            raise LilsrError("build parameters cannot change a saved Seismic index; search the vector store instead")
        self.index = None  # free the old index before building the new one
        self.index, self.fill_seconds, self.build_seconds = build_in_memory(self.vectors, self.threads, **wanted)
        self.build_params = wanted

    # ---------------------------------------------------------------------------------------- search
    def _component_name(self, ids: np.ndarray, dtype) -> np.ndarray:
        if self._component_names is None:
            self._component_names = np.array([str(i) for i in range(len(self.vocab))], dtype=dtype)
        return self._component_names[ids]

    def prepare(self, queries: Sequence[dict]):
        """Queries as Seismic's (component strings, float32 weights) arrays, plus the unknown-token count."""
        if self._dtype is None:
            self._dtype = import_seismic(self.threads).get_seismic_string()
        dtype = self._dtype
        mapped, unknown = queries_to_ids(queries, self._token_ids)
        return [(self._component_name(ids, dtype), weights) for ids, weights in mapped], unknown

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query. With one thread each query is a ``search`` call timed on its own; with more,
        one ``batch_search`` call whose wall time x threads / queries is given to every query."""
        if len(qids) != len(queries):
            raise LilsrError(f"{len(qids)} query ids for {len(queries)} queries")
        if k < 1:
            raise LilsrError(f"k must be at least 1, got {k}")
        build_params = {key: params.pop(key) for key in list(params) if key in BUILD_DEFAULTS}
        search = _params(params, "search")
        if self.threads is None:
            self.threads = threads  # also sizes the in-memory build and, at first import, the Rayon pool
        self._ensure_index(build_params)
        if search["n_knn"] > self.build_params["nknn"]:  # Seismic would read past each document's neighbours
            raise LilsrError(f"n_knn {search['n_knn']} needs an index built with nknn >= {search['n_knn']} "
                             f"(this one: nknn {self.build_params['nknn']}); build with -p nknn=N or search n_knn=0")
        if threads <= 1:
            return self._search_one_by_one(list(qids), queries, k, **search)
        prepared, unknown = self.prepare(queries)
        return self.search_prepared(list(qids), prepared, unknown, k=k, threads=threads, **search)

    def _search_one_by_one(self, qids: list[str], queries: Sequence[dict], k: int, query_cut: int,
                           heap_factor: float, sorted: bool, n_knn: int) -> SearchResults:
        """Each query on the shared call clock (``call_clock.time_calls``): its conversion to Seismic's
        arrays, ``SeismicIndex.search`` and the result lists (Seismic exposes no clock of its own)."""
        index = self.index

        def prepare(query):
            [prepared], missing = self.prepare([query])
            return prepared, missing

        def search(prepared):
            components, weights = prepared
            found = (_call("search", index.search, "q", components, weights, k=k, query_cut=query_cut,
                           heap_factor=heap_factor, n_knn=n_knn, sorted=sorted) if components.size else [])
            return [doc for _, _, doc in found], np.asarray([score for _, score, _ in found], dtype=np.float32), None

        info = {"engine": self.name, "k": k, "threads": 1, "query_cut": query_cut, "heap_factor": heap_factor,
                "sorted": sorted, "n_knn": n_knn, "build_params": self.build_params,
                "timing": "call clock per query, around conversion, SeismicIndex.search and the result lists"}
        results = time_calls(qids, queries, prepare, search, list, info)  # Seismic returns external ids
        check_finite_scores(self.name, qids, results.scores)
        return results

    def search_prepared(self, qids: list[str], prepared, unknown: int = 0, k: int = 1000, threads: int = 1,
                        query_cut: int = 10, heap_factor: float = 0.7, sorted: bool = True, n_knn: int = 0):
        """Search queries already in Seismic's form (see ``prepare``): the timed part."""
        if self.index is None:  # called before any batch_search: build with the current parameters
            self._ensure_index({})
        index = self.index
        n = len(qids)
        rows: list[list] = [[] for _ in range(n)]
        times = np.zeros(n, dtype=np.int64)
        live = [i for i, (components, _) in enumerate(prepared) if components.size]
        if threads <= 1:
            for i in live:
                components, weights = prepared[i]
                start = time.perf_counter_ns()
                found = _call("search", index.search, str(i), components, weights, k=k, query_cut=query_cut,
                              heap_factor=heap_factor, n_knn=n_knn, sorted=sorted)
                times[i] = time.perf_counter_ns() - start
                rows[i] = found
            timing = "per query, around each SeismicIndex.search call"
        elif live:
            seismic = import_seismic(self.threads)
            names = np.array([str(i) for i in live], dtype=seismic.get_seismic_string())
            start = time.perf_counter_ns()
            found = _call("batch_search", index.batch_search, names, [prepared[i][0] for i in live],
                          [prepared[i][1] for i in live], k=k, query_cut=query_cut, heap_factor=heap_factor,
                          n_knn=n_knn, sorted=sorted, num_threads=threads)
            wall = time.perf_counter_ns() - start
            for result in found:  # queries come back out of order: re-align by the query name
                if result:
                    rows[int(result[0][0])] = result
            times[live] = wall * threads // len(live)
            timing = "batch wall time x threads / queries (Seismic's batch call exposes no per-query times)"
        else:
            timing = "no query had a known token"
        doc_ids = [[doc for _, _, doc in row] for row in rows]
        scores = [np.asarray([score for _, score, _ in row], dtype=np.float32) for row in rows]
        info = {"engine": self.name, "k": k, "threads": threads, "query_cut": query_cut, "heap_factor": heap_factor,
                "sorted": sorted, "n_knn": n_knn, "build_params": self.build_params, "timing": timing}
        check_finite_scores(self.name, qids, scores)
        return SearchResults(qids, doc_ids, scores, times, unknown, info)

    def index_stats(self) -> dict:
        stats = {"build_params": self.build_params, "build_seconds": self.build_seconds}
        if self.index is not None:
            stats.update(docs=self.index.len, nnz=self.index.nnz, space_usage_bytes=space_usage_bytes(self.index))
        if self.path is not None and self.vectors is None:
            stats["index_bytes"] = folder_bytes(self.path)
        else:
            stats["index_bytes"] = stats.get("space_usage_bytes")
        return stats
