"""The engine protocol: build an index folder, load it, batch-search it.

Every engine returns ``SearchResults``: per query the external doc ids and scores in rank order and the
retrieval wall time in nanoseconds (measured as close to the engine as possible: inside Java for Lucene,
around the numba call for the native index). Query encoding time is measured separately by the query
encoders, so reports can split the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, Sequence

import numpy as np

from ..errors import LilsrError
from .params import check_known_params  # noqa: F401 - engines import it from here


@dataclass
class SearchResults:
    qids: list[str]
    doc_ids: list[list[str]]
    scores: list[np.ndarray]
    retrieval_ns: np.ndarray  # per query: wall time around one Python call searching that query ("call" clock)
    unknown_tokens: int = 0  # query tokens the index does not know (counted, never an error)
    info: dict = field(default_factory=dict)
    # per query: the engine's own time for the same query, measured inside it ("engine" clock), where the
    # engine exposes one (native: inside the compiled loop; Lucene: inside Java); None where it does not
    engine_ns: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.qids)

    def as_run(self) -> dict[str, list[tuple[str, float]]]:
        return {qid: list(zip(ids, map(float, scores)))
                for qid, ids, scores in zip(self.qids, self.doc_ids, self.scores)}


class Engine(Protocol):
    name: ClassVar[str]
    query_input: ClassVar[str]  # "vector": {token: weight} queries; "text": raw query strings (BM25)
    # Approximate engines: search settings worth trying, roughly from fastest to most accurate, for studies
    # that pick the fastest setting reaching an accuracy target on a dev split. Safe engines: empty.
    tuning_grid: ClassVar[tuple[dict, ...]]
    # Optional: {parameter: (lowest, highest or None)} how far tuning may widen the grid past its edges
    tuning_bounds: ClassVar[dict[str, tuple]]
    # Optional: (documents, reason) above which studies at scale leave the engine out unless asked for it
    # (a build or search that cannot finish, or fit, on one machine).
    scale_limit: ClassVar[tuple[int, str] | None]

    @classmethod
    def build(cls, source, out: str | Path, *, overwrite: bool = False, **params) -> Path:
        """Write an index folder (with manifest.json) from a vector store (or a collection, for BM25)."""

    @classmethod
    def load(cls, path: str | Path, **options) -> "Engine":
        """Open an index folder for searching."""

    def batch_search(self, qids: Sequence[str], queries: Sequence, k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query; results keep the order of ``qids``."""

    def index_stats(self) -> dict:
        """Index bytes and posting-list statistics, for reports."""


def queries_to_ids(queries: Sequence[dict[str, float]], token_ids: dict[str, int]):
    """Map ``{token: weight}`` queries to (int32 ids, float32 weights) pairs; returns them and the number
    of tokens outside the vocabulary (dropped and counted)."""
    mapped, unknown = [], 0
    for query in queries:
        ids, weights = [], []
        for token, weight in query.items():
            token_id = token_ids.get(token)
            if token_id is None:
                unknown += 1
            elif weight > 0:
                ids.append(token_id)
                weights.append(weight)
        mapped.append((np.asarray(ids, dtype=np.int32), np.asarray(weights, dtype=np.float32)))
    return mapped, unknown


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (positive only), best first; ties go to the lower index."""
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > k:
        part = np.argpartition(-scores[candidates], k - 1)[:k]
        kth = scores[candidates[part]].min()
        # keep every tie of the k-th score, then cut after a stable sort, so ties resolve by index
        candidates = candidates[scores[candidates] >= kth]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def folder_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def source_vectors(source, engine: str):
    """The vector store an engine indexes: ``source`` itself when already loaded, else the store at that
    path; anything else (an index, a table) is refused in one line naming what it holds."""
    from ..manifest import read_manifest
    from ..vectors.store import KIND as VECTORS_KIND, SparseVectors, load_vectors

    if isinstance(source, SparseVectors):
        return source
    kind = read_manifest(source).get("kind")
    if kind != VECTORS_KIND:
        raise LilsrError(f"{source} holds a '{kind}'; the {engine} engine indexes a vector store "
                         "('lilsr encode corpus')")
    return load_vectors(source)


F16_MAX = 65504.0  # the largest half-precision float: kANNolo's plain variant and Seismic store weights so


def check_finite_scores(engine: str, qids, scores) -> None:
    """Refuse results holding a score that is not finite (float32 overflow of huge query weights): the run
    would hold ``inf``, which ranks nothing and breaks every measure."""
    for qid, row in zip(qids, scores):
        if row.size and not np.isfinite(row).all():
            raise LilsrError(f"{engine}: query {qid!r} scored a document {row[~np.isfinite(row)][0]} (float32 "
                             "overflow); its weights are too large: scale the query vectors down")


def tuning_grid(engine_cls) -> tuple[dict, ...]:
    """An engine's tuning grid (empty for safe engines and engines that declare none)."""
    return tuple(getattr(engine_cls, "tuning_grid", ()) or ())


def tuning_bounds(engine_cls) -> dict[str, tuple]:
    """How far tuning may widen an engine's grid, per parameter (``{}``: numbers stay positive)."""
    return dict(getattr(engine_cls, "tuning_bounds", {}) or {})


def check_memory_fits(needed: int, what: str, why: str = "") -> None:
    """Refuse, before any work, a build that would need more memory than the machine has."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if needed > 0.9 * total:
        raise LilsrError(f"{what} needs about {needed / 2**30:.1f} GiB of memory {why}".rstrip()
                         + f"; this machine has {total / 2**30:.1f} GiB")
