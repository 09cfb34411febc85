"""BMP (Block-Max Pruning; Mallia, Suel and Tonellotto, SIGIR 2024) behind the engine protocol, through the
authors' ``bmp`` package.

BMP cuts the documents, in store order, into blocks of ``bsize``; each term keeps its largest impact per
block, and a query visits blocks by decreasing upper bound, scoring each block from a block-wise forward
index, until the k-th score exceeds ``alpha`` x the next block's bound. ``beta`` keeps only that share of
the query's terms (the heaviest). ``alpha = beta = 1`` finds the exact top-k of the integers BMP scores.

What BMP 0.2.8 does, read from its source and checked on small indexes, and what we do about it:

- document impacts are one byte: ``round(w * scale)`` must be at most 255 (BMP casts with ``as u8``, so
  300 would silently become 44); an explicit ``scale`` that overflows is refused. The default scale maps
  the store's largest weight to 127, not 255: BMP sums scores in 16 bits (below), and on SciFact's
  splade-tiny vectors with contextual queries 255 made 44 of 300 queries overflow (accuracy@10 0.964)
  where 127 makes none (0.981), at no cost for table queries (0.971 both). Weights that round to 0 are
  dropped and counted, as for Lucene.
- query weights: BMP rescales every query so that its largest weight is 32 and rounds up
  (``ceil(w * 32 / max w)`` in float32); our float weights go in and BMP quantizes them.
- **it never scores the last block of its candidate list** (the one with the lowest upper bound: its loop
  scores the current block only when there is a next one), so a query whose matches sit in one block gets
  nothing, and others lose that block's documents. We append a sentinel block after the documents (empty
  padding documents up to a block boundary, then one document holding three reserved terms with impacts 1,
  32 and 255) and give each query those terms at the levels that make the sentinel's upper bound exactly
  the query's starting threshold + 1: it is then the last candidate, the block BMP drops, and it holds no
  real document. ``beta`` is applied here (the same rule: the ceil(beta x terms) heaviest) so the
  sentinel is never cut.
- it starts the threshold at a term's 10th, 100th or 1000th largest impact (for k up to 10, 100, 1000)
  and keeps only documents scoring *above* the threshold, so documents tied at it are lost and a query can
  get fewer than k results although k documents match (or, when no real block beats it, nothing). Such a
  query is searched again at once with k = 1001 (threshold 0) and cut to k; both calls count in its time
  (``info["requeried"]``).
- scores are 16-bit integers: a document scoring above 65,535 wraps around. Each query's score is bounded
  (sum of its levels x its terms' largest impacts); queries whose bound exceeds 65,535 are counted
  (``info["queries_over_u16_bound"]``: they *may* be mis-ranked).
- block-local doc ids are one byte and term ids two bytes: ``bsize`` <= 256, at most 65,533 terms.

Scores are reported in the float units of the vectors: BMP's integer score / (scale x 32 / max query weight).
Timing: ``retrieval_ns`` is the call clock around each query's ``Searcher.search`` call (or two), including
the query's conversion to BMP's {token: weight} dict; BMP exposes no internal time (``engine_ns`` is None)
and no threads.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..locks import locks_output
from ..atomic import atomic_dir, check_can_write
from ..errors import LilsrError
from ..manifest import write_manifest
from ..progress import enabled as progress_enabled
from ..vectors.convert import quantize
from ..vectors.store import SparseVectors, posting_stats, vocab_digest
from .call_clock import time_calls
from .base import SearchResults, source_vectors, check_known_params, folder_bytes, queries_to_ids
from .param_specs import BMP
from .file_checks import checked_index_manifest, file_records
from .packages import call_rust, call_rust_quiet, check_query_vocab, import_package, package_version
from .checks import checked_search

KIND = "lilsr.bmp-index"
INDEX_FILE = "index.bmp"
TERMS_FILE = "terms.npz"  # per vocabulary id: largest impact, postings, 10th/100th/1000th largest impact
INDEX_FILES = [INDEX_FILE, TERMS_FILE, "vocab.json"]
MAX_IMPACT = 255  # BMP keeps document impacts in a u8
DEFAULT_TOP_IMPACT = 127  # the default scale maps the largest weight here: headroom for BMP's u16 sums
OUTLIER_QUANTILE = 0.9999  # the default scale ignores weights above twice this percentile (clipped, counted)
# (on stores under 10,000 weights: above twice the second largest)
QUERY_LEVELS = 32  # BMP's MAX_TERM_WEIGHT: every query is rescaled so that its largest weight is 32
SEED_RANKS = (10, 100, 1000)  # BMP seeds the threshold with a term's impact at this rank (k <= rank)
SCORE_LIMIT = 65_535  # BMP accumulates scores in a u16
MAX_BSIZE = int(BMP.param("build", "bsize").high)  # block-local doc ids are a u8 (declared in param_specs.BMP)
# reserved documents and terms of the sentinel block (a NUL byte keeps them apart from any real id/token)
SENTINEL_DOC = "\x00lilsr-bmp-sentinel"
PAD_DOC = "\x00lilsr-bmp-pad-"
SENTINEL_TERMS = (("\x00lilsr-bmp-s1", 1), ("\x00lilsr-bmp-s32", 32), ("\x00lilsr-bmp-s255", 255))
MAX_TERMS = (1 << 16) - len(SENTINEL_TERMS)  # term ids in the block forward index are a u16
BUILD_DEFAULTS = BMP.defaults("build")  # param_specs.BMP
SEARCH_DEFAULTS = BMP.defaults("search")
TIMING = ("call clock (call_clock.time_calls): per query, our query's mapping, beta pruning and conversion to "
          "BMP's {token: weight} dict, its Searcher.search call (two when requeried) and the results back; BMP "
          "exposes no internal time")


def import_bmp():
    return import_package("bmp", "bmp", "bmp")


def build_params(params: dict) -> dict:
    """Validated build parameters (``scale`` None means: the largest weight becomes 127)."""
    return BMP.parse("build", params)


def search_params(params: dict) -> dict:
    return BMP.parse("search", params)


def auto_scale(vectors: SparseVectors) -> float:
    """The default scale: the store's largest weight becomes an impact of 127, unless the largest lies above
    twice the 99.99th percentile (the largest 0.01% of weights, at least one, are outliers): then that
    percentile becomes 127 and the outliers above 255 are clipped to it, counted. Before, one huge weight
    rounded every other weight to zero."""
    values = np.asarray(vectors.values)
    top = float(np.max(values)) if vectors.nnz else 0.0
    if not top > 0:
        raise LilsrError(f"{vectors.path or 'vectors'}: no positive weight to index")
    reference = top
    outliers = max(1, int(values.size * (1 - OUTLIER_QUANTILE)))  # at least one, on small stores
    if values.size > outliers:
        high = float(np.partition(values, values.size - outliers - 1)[values.size - outliers - 1])
        if top > MAX_IMPACT / DEFAULT_TOP_IMPACT * high > 0:
            reference = high
    scale = DEFAULT_TOP_IMPACT / reference
    while quantize(np.float32(reference), scale) > DEFAULT_TOP_IMPACT:  # float rounding must not round it up
        scale = float(np.nextafter(scale, 0))
    return scale


def clip_outliers(vectors: SparseVectors, scale: float) -> tuple[SparseVectors, int]:
    """The weights above what impact 255 stands for at ``scale`` lowered to it (only the automatic scale
    does this: an explicit one that overflows is refused); returns the vectors and how many were clipped."""
    ceiling = np.float32(MAX_IMPACT / scale)
    values = np.asarray(vectors.values)
    over = values > ceiling
    clipped = int(over.sum())
    if not clipped:
        return vectors, 0
    while quantize(ceiling, scale) > MAX_IMPACT:
        ceiling = np.nextafter(ceiling, np.float32(0))
    return SparseVectors(vectors.indptr, vectors.indices, np.minimum(values, ceiling), vectors.vocab, vectors.ids,
                         path=vectors.path, manifest=vectors.manifest), clipped


def quantize_impacts(vectors: SparseVectors, scale: float) -> np.ndarray:
    """BMP's impacts ``round(w * scale)``, refusing any above 255 (BMP would wrap them)."""
    impacts = quantize(vectors.values, scale)
    if impacts.size and int(impacts.max()) > MAX_IMPACT:
        top = float(np.max(vectors.values))
        raise LilsrError(f"bmp build: scale {scale:g} makes the largest weight {top:.4g} an impact of "
                         f"{int(impacts.max())}, above BMP's one-byte maximum {MAX_IMPACT}; use scale <= "
                         f"{MAX_IMPACT / top:.4g} (or leave it out: the default maps it to {DEFAULT_TOP_IMPACT})")
    return impacts


def term_statistics(vectors: SparseVectors, impacts: np.ndarray) -> dict[str, np.ndarray]:
    """Per vocabulary id: largest impact, postings, and the impacts at ranks 10, 100, 1000 (0 when the list
    is shorter), which is what BMP seeds its threshold with."""
    live = impacts > 0
    by_term = sp.csr_matrix((impacts, vectors.indices, vectors.indptr), shape=vectors.shape).T.tocsr()
    by_term.eliminate_zeros()
    lengths = np.diff(by_term.indptr)
    vocab = len(vectors.vocab)
    top = np.zeros(vocab, np.uint8)
    kth = np.zeros((len(SEED_RANKS), vocab), np.uint8)
    for t in np.flatnonzero(lengths):
        row = by_term.data[by_term.indptr[t]:by_term.indptr[t + 1]]
        top[t] = row.max()
        for j, rank in enumerate(SEED_RANKS):
            if row.size >= rank:
                kth[j, t] = np.partition(row, row.size - rank)[row.size - rank]
    assert int(lengths.sum()) == int(live.sum())
    return {"max_impact": top, "postings": lengths.astype(np.int64), "kth_impact": kth}


def bmp_levels(weights: np.ndarray) -> np.ndarray:
    """BMP's query levels, computed as it does (float32): ceil(w * (32 / max w))."""
    weights = weights.astype(np.float32)
    scale = np.float32(QUERY_LEVELS) / weights.max()
    return np.ceil(weights * scale).astype(np.int64)


def sentinel_weights(bound: int, top: float) -> list[tuple[str, float]]:
    """Query weights for the sentinel terms (impacts 1, 32, 255) whose levels sum to ``bound``, the upper
    bound the sentinel block must have; ``top`` is the query's largest weight (it stays the largest)."""
    assert 1 <= bound <= QUERY_LEVELS * (1 + 32 + 255)
    high = min(bound // 255, QUERY_LEVELS)  # levels above 32 would make a sentinel the heaviest query term
    middle = min((bound - 255 * high) // 32, QUERY_LEVELS)
    low = bound - 255 * high - 32 * middle
    scale = np.float32(QUERY_LEVELS) / np.float32(top)
    out = []
    for (token, _), level in zip(SENTINEL_TERMS, (low, middle, high)):
        if level:
            weight = np.float32(top * (level - 0.5) / QUERY_LEVELS)
            assert np.ceil(weight * scale) == level, (level, weight, top)
            out.append((token, float(weight)))
    return out


class BmpEngine:
    """A BMP index folder: BMP's own file plus the vocabulary and per-term statistics."""

    name = "bmp"
    query_input = "vector"
    param_spec = BMP
    tuning_grid = BMP.tuning_grid()
    tuning_bounds = BMP.tuning_bounds()  # shares of the threshold / of the query

    def __init__(self, path: Path, manifest: dict, vocab: list[str], terms: dict, searcher):
        self.path = path
        self.manifest = manifest
        self.vocab = vocab
        self.scale = float(manifest["params"]["scale"])
        self.term_max = terms["max_impact"]  # 0: the term is in no document
        self.term_length = terms["postings"]
        self.term_kth = terms["kth_impact"]
        self.searcher = searcher
        self._token_ids = {token: i for i, token in enumerate(vocab)}
        self._tokens = np.asarray(vocab, dtype=object)

    # --------------------------------------------------------------------------------- build and load
    @classmethod
    @locks_output()
    def build(cls, source, out, *, overwrite: bool = False, progress: bool = False, **params) -> Path:
        """Write a ``lilsr.bmp-index`` folder from a vector store (``params``: scale, bsize, compress_range)."""
        p = build_params(params)
        out = check_can_write(out, overwrite)
        bmp = import_bmp()
        started = time.perf_counter()
        vectors = source_vectors(source, "bmp")
        where = vectors.path or "vectors"
        scale, clipped = p["scale"], 0
        if scale is None:
            scale = auto_scale(vectors)
            vectors, clipped = clip_outliers(vectors, scale)
        impacts = quantize_impacts(vectors, scale)
        indices = np.asarray(vectors.indices)
        live = impacts > 0
        terms = term_statistics(vectors, impacts)
        used = int((terms["postings"] > 0).sum())
        if used > MAX_TERMS:
            raise LilsrError(f"{where}: {used} distinct terms; BMP numbers terms with two bytes (at most "
                             f"{MAX_TERMS} besides the sentinel's)")
        vocabulary = set(vectors.vocab)
        if any(token in vocabulary for token, _ in SENTINEL_TERMS) or any(doc.startswith("\x00lilsr-bmp-") for doc in vectors.ids):
            raise LilsrError(f"{where}: a token or document id starts with the reserved '\\x00lilsr-bmp-'")
        tokens = np.asarray(vectors.vocab, dtype=object)
        indptr = np.asarray(vectors.indptr)
        rows = range(len(vectors))
        if progress_enabled(progress):
            from tqdm import tqdm

            rows = tqdm(rows, desc="bmp index", unit="doc", mininterval=1.0)
        empty = 0
        padding = -len(vectors) % p["bsize"]
        with atomic_dir(out, overwrite=overwrite) as tmp:
            indexer = call_rust("bmp Indexer", bmp.Indexer, str(tmp / INDEX_FILE), p["bsize"], p["compress_range"])
            add = indexer.add_document
            for i in rows:
                lo, hi = int(indptr[i]), int(indptr[i + 1])
                keep = live[lo:hi]
                empty += not keep.any()
                add(vectors.ids[i], dict(zip(tokens[indices[lo:hi][keep]].tolist(), impacts[lo:hi][keep].tolist())))
            for i in range(padding):  # the sentinel must start a block of its own
                add(f"{PAD_DOC}{i}", {})
            add(SENTINEL_DOC, dict(SENTINEL_TERMS))
            call_rust_quiet("bmp Indexer.finish", indexer.finish)
            del indexer
            if not (tmp / INDEX_FILE).is_file():
                raise LilsrError(f"bmp did not write {INDEX_FILE}")
            np.savez(tmp / TERMS_FILE, **terms)
            (tmp / "vocab.json").write_text(json.dumps(list(vectors.vocab), ensure_ascii=False), "utf-8")
            counts = {"docs": len(vectors), "postings": int(live.sum()),
                      "dropped_zero_after_rounding": int((~live).sum()), "clipped_to_max_impact": clipped,
                      "empty_docs": empty, "terms": used,
                      "max_impact": int(terms["max_impact"].max()) if used else 0,
                      "padding_docs": padding, "sentinel_docs": 1}
            write_manifest(tmp, KIND, params={**p, "scale": scale, "scale_given": p["scale"] is not None,
                                              "quantization": "round(w * scale)"},
                           counts=counts, postings=posting_stats(terms["postings"]),
                           vocab_digest=vocab_digest(vectors.vocab),
                           source=str(vectors.path) if vectors.path else None, model=vectors.manifest.get("model"),
                           engine_version={"bmp": package_version("bmp")},
                           build_seconds=round(time.perf_counter() - started, 3),
                           index_bytes=folder_bytes(tmp), checked_files=file_records(tmp, INDEX_FILES),
                           hash_files=INDEX_FILES)
        return Path(out)

    @classmethod
    def load(cls, path, **options) -> "BmpEngine":
        check_known_params(options, (), "bmp load")
        path = Path(path)
        manifest = checked_index_manifest(  # BMP panics (or aborts) on a damaged file
            path, KIND, "build one with 'lilsr index bmp' or pick the engine that made it (--engine)", INDEX_FILES)
        bmp = import_bmp()
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        with np.load(path / TERMS_FILE) as saved:
            terms = {name: saved[name] for name in ("max_impact", "postings", "kth_impact")}
        if terms["max_impact"].shape != (len(vocab),) or terms["kth_impact"].shape != (len(SEED_RANKS), len(vocab)):
            raise LilsrError(f"{path / TERMS_FILE} does not match vocab.json; rebuild the index")
        searcher = call_rust(f"loading the BMP index {path / INDEX_FILE}", bmp.Searcher, str(path / INDEX_FILE))
        return cls(path, manifest, vocab, terms, searcher)

    # ---------------------------------------------------------------------------------------- search
    def prepare(self, queries: Sequence[dict], beta: float = 1.0, check: bool = True):
        """Per query: (ids of its indexed terms, float32 weights), the ceil(beta x n) heaviest kept (ties:
        lower id first); plus the unknown-token count (tokens outside the vocabulary; terms of the vocabulary
        that no document holds are dropped silently, as every engine does)."""
        mapped, unknown = queries_to_ids(queries, self._token_ids)
        if check:
            check_query_vocab(unknown, sum(len(q) for q in queries), self.path)
        prepared = []
        for ids, weights in mapped:
            present = self.term_max[ids] > 0
            ids, weights = ids[present], weights[present]
            if beta < 1 and ids.size:
                keep = np.lexsort((ids, -weights))[:math.ceil(ids.size * beta)]
                ids, weights = ids[keep], weights[keep]
            prepared.append((ids, weights))
        return prepared, unknown

    def threshold(self, ids: np.ndarray, levels: np.ndarray, k: int) -> int:
        """The threshold BMP starts a query with at this k: max over its terms of level x seeded impact."""
        band = sum(k > rank for rank in SEED_RANKS)
        if band == len(SEED_RANKS):
            return 0
        return int((levels * self.term_kth[band, ids]).max())

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query, one ``Searcher.search`` call each (BMP's Python API has no batch call)."""
        # qids, queries, k and threads: checked by @checked_search
        p = search_params(params)
        # a batch encoded for another model is refused before anything is timed (a check, not query work)
        token_ids = self._token_ids
        check_query_vocab(sum(token not in token_ids for query in queries for token in query),
                          sum(len(q) for q in queries), self.path)
        tokens, alpha, beta = self._tokens, p["alpha"], p["beta"]
        counters = {"over": 0, "requeried": 0}

        def prepare(query):  # on the call clock: mapping, beta pruning, levels, threshold, BMP's dict
            [(ids, weights)], missing = self.prepare([query], beta, check=False)
            if ids.size == 0:
                return None, missing
            levels = bmp_levels(weights)
            top = float(weights.max())
            counters["over"] += int(np.dot(levels, self.term_max[ids])) > SCORE_LIMIT
            return (dict(zip(tokens[ids].tolist(), weights.tolist())), top, self.threshold(ids, levels, k)), missing

        def search(prepared):
            if prepared is None:  # BMP panics on a query with no term in the index
                return [], np.zeros(0, np.float32), None
            query, top, seeded = prepared
            found, raw, again = self._search(query, top, seeded, k, alpha)
            counters["requeried"] += again
            return found, np.asarray(raw, np.float32) / np.float32(self.scale * QUERY_LEVELS / top), None

        info = {"engine": self.name, "k": k, "threads": 1, "requested_threads": threads, **p, "scale": self.scale,
                "bsize": self.manifest["params"].get("bsize"),
                "score_units": "BMP integer score / (scale x 32 / largest query weight)", "timing": TIMING}
        results = time_calls(qids, queries, prepare, search, list, info)  # BMP returns external ids already
        results.info.update({"queries_over_u16_bound": counters["over"], "requeried": counters["requeried"]})
        return results

    def _search(self, query: dict, top: float, seeded: int, k: int, alpha: float):
        """(doc ids, BMP scores, whether it took a second call) for one query. The sentinel terms go in at
        the levels that put the sentinel block last among the candidates; a short result from a seeded
        threshold is searched again from 0."""
        search = self.searcher.search
        found, raw = call_rust("bmp search", search, {**query, **dict(sentinel_weights(seeded + 1, top))}, k,
                               alpha, 1.0)
        if len(found) >= k or not seeded:
            return found, raw, False
        found, raw = call_rust("bmp search", search, {**query, **dict(sentinel_weights(1, top))}, 1001, alpha, 1.0)
        return found[:k], raw[:k], True

    def index_stats(self) -> dict:
        return {**self.manifest.get("counts", {}), **self.manifest.get("postings", {}), "scale": self.scale,
                "params": self.manifest.get("params"), "build_seconds": self.manifest.get("build_seconds"),
                "index_bytes": folder_bytes(self.path)}
