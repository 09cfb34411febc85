"""BMP (Block-Max Pruning; Mallia, Suel and Tonellotto, SIGIR 2024) behind the engine protocol, through the
authors' ``bmp`` package.

BMP cuts the documents, in store order, into blocks of ``bsize``; each term keeps one maximum impact per
block, and a query visits blocks by decreasing upper bound, scoring each block from a block-wise forward
index, until the k-th score exceeds ``alpha`` x the next block's bound. ``beta`` keeps only that share of
the query's terms (the heaviest). ``alpha = beta = 1`` is safe for the integers BMP scores.

What BMP stores, and what we do about it (read from its source; each limit is checked here):

- document impacts are one byte: ``round(w * scale)`` must be at most 255 (BMP casts with ``as u8``, so
  300 would silently become 44). The default scale is 255 / the store's largest weight, so the largest
  weight becomes 255; an explicit ``scale`` that overflows is refused. Weights that round to 0 are dropped
  and counted, as for Lucene.
- query weights: BMP rescales every query itself so that its largest weight is 32 and rounds up
  (``ceil(w * 32 / max w)``); our float weights go in unchanged and BMP quantizes them.
- scores are 16-bit integers: a document scoring above 65,535 wraps around. For each query we bound the
  score (sum over its terms of query weight x the term's largest impact) and count the queries whose bound
  exceeds 65,535 (``info["queries_over_u16_bound"]``; such a query *may* be mis-ranked, not must).
- block-local doc ids are one byte and term ids two bytes: ``bsize`` <= 256, at most 65,536 distinct terms.
- a query none of whose terms is in the index panics inside BMP: such queries are not sent (empty result).

Scores are reported in the float units of the vectors: BMP's integer score / (scale x 32 / max query weight).
Timing: ``retrieval_ns`` is the call clock around each ``Searcher.search`` call (one query, including the
conversion of the query into a Python dict of the index's tokens); BMP's Python searcher exposes no time of
its own (``engine_ns`` is None) and no threads.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_dir, check_can_write
from ..errors import LilsrError
from ..manifest import read_manifest, write_manifest
from ..vectors.convert import quantize
from ..vectors.store import KIND as VECTORS_KIND, SparseVectors, load_vectors, posting_stats, vocab_digest
from .base import SearchResults, bool_param, check_known_params, folder_bytes, queries_to_ids
from .packages import call_rust, check_query_vocab, import_package, package_version

KIND = "lilsr.bmp-index"
INDEX_FILE = "index.bmp"
TERM_MAX_FILE = "term_max_impact.npy"
MAX_IMPACT = 255  # BMP keeps document impacts in a u8
QUERY_LEVELS = 32  # BMP's MAX_TERM_WEIGHT: every query is rescaled so that its largest weight is 32
SCORE_LIMIT = 65_535  # BMP accumulates scores in a u16
MAX_BSIZE = 256  # block-local doc ids are a u8
MAX_TERMS = 1 << 16  # term ids in the block forward index are a u16
BUILD_DEFAULTS = {"scale": None, "bsize": 32, "compress_range": False}
SEARCH_DEFAULTS = {"alpha": 1.0, "beta": 1.0}
TIMING = ("call clock: per query, around one bmp Searcher.search call, including the query's conversion "
          "to BMP's {token: weight} dict and of the results back; BMP exposes no internal time")


def import_bmp():
    return import_package("bmp", "bmp", "bmp")


def build_params(params: dict) -> dict:
    """Validated build parameters (``scale`` None means: the largest weight becomes 255)."""
    check_known_params(params, BUILD_DEFAULTS, "bmp build")
    merged = {**BUILD_DEFAULTS, **params}
    try:
        bsize = int(merged["bsize"])
        scale = None if merged["scale"] in (None, "auto") else float(merged["scale"])
    except (TypeError, ValueError):
        raise LilsrError(f"bmp build: bsize must be an integer and scale a number or 'auto' (got {params})") from None
    if not 1 <= bsize <= MAX_BSIZE:
        raise LilsrError(f"bmp build: bsize must be in 1..{MAX_BSIZE} (BMP numbers documents within a block "
                         f"with one byte), got {bsize}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise LilsrError(f"bmp build: scale must be a positive number, got {scale}")
    return {"scale": scale, "bsize": bsize, "compress_range": bool_param("compress_range", merged["compress_range"])}


def search_params(params: dict) -> dict:
    check_known_params(params, SEARCH_DEFAULTS, "bmp search")
    merged = {**SEARCH_DEFAULTS, **params}
    try:
        alpha, beta = float(merged["alpha"]), float(merged["beta"])
    except (TypeError, ValueError):
        raise LilsrError(f"bmp search: alpha and beta must be numbers (got {params})") from None
    if not (0 < alpha <= 1 and 0 < beta <= 1):
        raise LilsrError(f"bmp search: alpha and beta must be in (0, 1] (got alpha={alpha}, beta={beta}); "
                         "1 is exact for BMP's integers")
    return {"alpha": alpha, "beta": beta}


def auto_scale(vectors: SparseVectors) -> float:
    """The scale that maps the store's largest weight to 255, BMP's largest impact."""
    top = float(np.max(vectors.values)) if vectors.nnz else 0.0
    if not top > 0:
        raise LilsrError(f"{vectors.path or 'vectors'}: no positive weight to index")
    scale = MAX_IMPACT / top
    # float rounding must not push the largest weight to 256
    while np.rint(np.float64(np.float32(top)) * scale) > MAX_IMPACT:
        scale = np.nextafter(scale, 0)
    return float(scale)


def quantize_impacts(vectors: SparseVectors, scale: float) -> np.ndarray:
    """BMP's impacts ``round(w * scale)``, refusing any above 255 (BMP would wrap them)."""
    impacts = quantize(vectors.values, scale)
    if impacts.size and int(impacts.max()) > MAX_IMPACT:
        top = float(np.max(vectors.values))
        raise LilsrError(f"bmp build: scale {scale:g} makes the largest weight {top:.4g} an impact of "
                         f"{int(impacts.max())}, above BMP's one-byte maximum {MAX_IMPACT}; use scale <= "
                         f"{MAX_IMPACT / top:.4g} (or leave scale out: {MAX_IMPACT / top:.4g} is the default)")
    return impacts


class BmpEngine:
    """A BMP index folder: BMP's own file plus the vocabulary and each term's largest impact."""

    name = "bmp"
    query_input = "vector"

    def __init__(self, path: Path, manifest: dict, vocab: list[str], term_max: np.ndarray, searcher):
        self.path = path
        self.manifest = manifest
        self.vocab = vocab
        self.scale = float(manifest["params"]["scale"])
        self.term_max = term_max  # per vocabulary id: the term's largest impact (0: not in the index)
        self.searcher = searcher
        self._token_ids = {token: i for i, token in enumerate(vocab)}
        self._tokens = np.asarray(vocab, dtype=object)

    # --------------------------------------------------------------------------------- build and load
    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, progress: bool = False, **params) -> Path:
        """Write a ``lilsr.bmp-index`` folder from a vector store (``params``: scale, bsize, compress_range)."""
        p = build_params(params)
        out = check_can_write(out, overwrite)
        bmp = import_bmp()
        started = time.perf_counter()
        if not isinstance(source, SparseVectors):
            kind = read_manifest(source).get("kind")
            if kind != VECTORS_KIND:
                raise LilsrError(f"{source} holds a '{kind}'; the bmp engine indexes a vector store "
                                 "('lilsr encode corpus')")
            source = load_vectors(source)
        vectors = source
        scale = p["scale"] if p["scale"] is not None else auto_scale(vectors)
        impacts = quantize_impacts(vectors, scale)
        indices = np.asarray(vectors.indices)
        live = impacts > 0
        used = np.unique(indices[live])
        if used.size > MAX_TERMS:
            raise LilsrError(f"{vectors.path or 'vectors'}: {used.size} distinct terms; BMP numbers terms with "
                             f"two bytes (at most {MAX_TERMS})")
        term_max = np.zeros(len(vectors.vocab), np.uint8)
        np.maximum.at(term_max, indices[live], impacts[live].astype(np.uint8))
        lengths = np.bincount(indices[live], minlength=len(vectors.vocab))
        tokens = np.asarray(vectors.vocab, dtype=object)
        indptr = np.asarray(vectors.indptr)
        rows = range(len(vectors))
        if progress:
            from tqdm import tqdm

            rows = tqdm(rows, desc="bmp index", unit="doc", mininterval=1.0)
        empty = 0
        with atomic_dir(out, overwrite=overwrite) as tmp:
            indexer = call_rust("bmp Indexer", bmp.Indexer, str(tmp / INDEX_FILE), p["bsize"], p["compress_range"])
            for i in rows:
                lo, hi = int(indptr[i]), int(indptr[i + 1])
                keep = live[lo:hi]
                empty += not keep.any()
                doc = dict(zip(tokens[indices[lo:hi][keep]].tolist(), impacts[lo:hi][keep].tolist()))
                indexer.add_document(vectors.ids[i], doc)
            call_rust("bmp Indexer.finish", indexer.finish)
            del indexer
            if not (tmp / INDEX_FILE).is_file():
                raise LilsrError(f"bmp did not write {INDEX_FILE}")
            np.save(tmp / TERM_MAX_FILE, term_max)
            (tmp / "vocab.json").write_text(json.dumps(list(vectors.vocab), ensure_ascii=False), "utf-8")
            counts = {"docs": len(vectors), "postings": int(live.sum()),
                      "dropped_zero_after_rounding": int((~live).sum()), "empty_docs": empty,
                      "terms": int(used.size), "max_impact": int(term_max.max()) if term_max.size else 0}
            write_manifest(tmp, KIND, params={**p, "scale": scale, "scale_given": p["scale"] is not None,
                                              "quantization": "round(w * scale)"},
                           counts=counts, postings=posting_stats(lengths), vocab_digest=vocab_digest(vectors.vocab),
                           source=str(vectors.path) if vectors.path else None, model=vectors.manifest.get("model"),
                           engine_version={"bmp": package_version("bmp")},
                           build_seconds=round(time.perf_counter() - started, 3),
                           index_bytes=folder_bytes(tmp), hash_files=[TERM_MAX_FILE, "vocab.json"])
        return Path(out)

    @classmethod
    def load(cls, path, **options) -> "BmpEngine":
        check_known_params(options, (), "bmp load")
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.get("kind") != KIND:
            raise LilsrError(f"{path} holds a '{manifest.get('kind')}', not a '{KIND}'; build one with "
                             "'lilsr index bmp' or pick the engine that made it (--engine)")
        for name in (INDEX_FILE, TERM_MAX_FILE, "vocab.json"):
            if not (path / name).is_file():
                raise LilsrError(f"{path / name} is missing; rebuild the index")
        bmp = import_bmp()
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        term_max = np.load(path / TERM_MAX_FILE)
        if term_max.shape != (len(vocab),):
            raise LilsrError(f"{path / TERM_MAX_FILE} does not match vocab.json; rebuild the index")
        searcher = call_rust(f"loading the BMP index {path / INDEX_FILE}", bmp.Searcher, str(path / INDEX_FILE))
        return cls(path, manifest, vocab, term_max, searcher)

    # ---------------------------------------------------------------------------------------- search
    def prepare(self, queries: Sequence[dict]):
        """Per query: (ids of its terms in the index, float32 weights); plus the unknown-token count (tokens
        outside the vocabulary; terms in it but in no document are dropped silently, as every engine does)."""
        mapped, unknown = queries_to_ids(queries, self._token_ids)
        check_query_vocab(unknown, sum(len(q) for q in queries), self.path)
        prepared = []
        for ids, weights in mapped:
            present = self.term_max[ids] > 0
            prepared.append((ids[present], weights[present]))
        return prepared, unknown

    def overflow_bound(self, ids: np.ndarray, weights: np.ndarray) -> int:
        """The largest score BMP could give any document for this query (its own query quantization)."""
        if ids.size == 0:
            return 0
        levels = np.ceil(weights.astype(np.float64) * (QUERY_LEVELS / float(weights.max())))
        return int(np.dot(levels, self.term_max[ids].astype(np.float64)))

    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query, one ``Searcher.search`` call each (BMP's Python API has no batch call)."""
        if len(qids) != len(queries):
            raise LilsrError(f"{len(qids)} query ids for {len(queries)} queries")
        if k < 1:
            raise LilsrError(f"k must be at least 1, got {k}")
        p = search_params(params)
        prepared, unknown = self.prepare(queries)
        n = len(qids)
        times = np.zeros(n, np.int64)
        doc_ids: list[list[str]] = [[] for _ in range(n)]
        scores: list[np.ndarray] = [np.zeros(0, np.float32) for _ in range(n)]
        search, tokens, alpha, beta = self.searcher.search, self._tokens, p["alpha"], p["beta"]
        over = 0
        for i, (ids, weights) in enumerate(prepared):
            if ids.size == 0:
                continue  # BMP panics on a query with no term in the index
            over += self.overflow_bound(ids, weights) > SCORE_LIMIT
            start = time.perf_counter_ns()
            query = dict(zip(tokens[ids].tolist(), weights.tolist()))
            found, raw = call_rust("bmp search", search, query, k, alpha, beta)
            times[i] = time.perf_counter_ns() - start
            divisor = self.scale * QUERY_LEVELS / float(weights.max())
            doc_ids[i] = found
            scores[i] = np.asarray(raw, np.float32) / np.float32(divisor)
        info = {"engine": self.name, "k": k, "threads": 1, "requested_threads": threads, **p, "scale": self.scale,
                "bsize": self.manifest["params"].get("bsize"), "queries_over_u16_bound": over,
                "score_units": "BMP integer score / (scale x 32 / largest query weight)", "timing": TIMING}
        return SearchResults(list(qids), doc_ids, scores, times, unknown, info)

    def index_stats(self) -> dict:
        return {**self.manifest.get("counts", {}), **self.manifest.get("postings", {}), "scale": self.scale,
                "params": self.manifest.get("params"), "build_seconds": self.manifest.get("build_seconds"),
                "index_bytes": folder_bytes(self.path)}
