"""Synthetic vector stores grown from a real one (``lilsr vectors synth``).

The lambda question needs posting lists as long as a large collection's; a real million-document
collection encoded by every model of a sweep costs GPU days. A synthetic store grown from a model's vectors
of a small real collection gives an engine what it would see at that size, as far as the statistics it
keeps go: per-document non-zero counts (exactly the source's distribution), each term's document-frequency
*rate* and weight distribution (approximately), and topical co-occurrence (terms that occur together in
real documents occur together in synthetic ones). It keeps the source's vocabulary and digest, so the
source's real encoded queries search it. What it cannot tell: anything about relevance (there are no
judgments), and any structure beyond the source's own topics (a 1M store grown from 5k documents has 5k
documents' worth of topics, seen from many angles). ``reports.synth_validation`` measures how far it
departs from a real store at sizes that can be checked.

Methods
-------
``mix`` (default): each synthetic document recombines ``mix`` real documents of one neighbourhood: a seed
    document, drawn uniformly (its length becomes the new document's length), and ``mix - 1`` others drawn
    from the seed's ``pool`` nearest neighbours (cosine over the vectors). Its terms are drawn without
    replacement from the union of those documents by Pareto sampling (Rosen 1997), each kept with
    probability close to ``p``, the share of the members holding it: terms common to the neighbourhood are
    kept, the rest filled from its rarer terms at their rates. A kept term takes the weight of one of the
    members holding it, at random. No synthetic document copies a real one, yet each stays on one topic.
``templates``: the first method (PR 4's benchmark): each synthetic document copies a random real document,
    its length and, with probability ``keep``, each of its entries (weight times a log-normal factor of
    sigma ``noise``), and fills the rest with postings drawn uniformly from the whole store (a term with
    probability proportional to its document frequency, with one of that term's real weights). From 5,183
    templates a 1M store holds ~200 near-copies of every real document: families that clustering engines
    find unusually easy.

The store is written in resumable shards (``.OUT.synth-work`` beside the output; a re-run after SIGTERM or
kill -9 continues with the first missing shard), each shard's random stream seeded by (seed, shard number),
so the result is the same for a seed whatever happens in between. The shards are then streamed into the
store's arrays (memory stays bounded by one shard) and the work folder is removed.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from ..locks import locks_output
from ..atomic import atomic_dir, check_can_write, replace_path, fault_point
from ..errors import LilsrError
from ..manifest import write_manifest
from ..progress import enabled as progress_enabled
from .store import KIND, SparseVectors, load_vectors, vocab_digest

METHODS = ("mix", "templates")
SHARD_DOCS = 65_536   # documents per resumable shard (fixed: part of what a seed means)
BATCH_DOCS = 4_096    # documents generated at once inside a shard (bounds the temporary arrays)
_NEIGHBOUR_ROWS = 2_048


@dataclass(frozen=True)
class SynthParams:
    docs: int
    method: str = "mix"
    seed: int = 0
    mix: int = 4          # mix: real documents recombined per synthetic document
    pool: int = 16        # mix: nearest neighbours of the seed the others are drawn from
    keep: float = 0.6     # templates: share of the template's entries kept
    noise: float = 0.2    # templates: sigma of the log-normal factor on kept weights

    def check(self, source_docs: int) -> None:
        if self.method not in METHODS:
            raise LilsrError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.docs < 1:
            raise LilsrError(f"--docs must be positive, got {self.docs}")
        if self.docs < source_docs:
            raise LilsrError(f"--docs {self.docs:,} is below the source's {source_docs:,} documents; a synthetic "
                             "store grows a collection (to shrink one, use a subset of the real store)")
        if self.method == "mix":
            if self.mix < 1:
                raise LilsrError(f"--mix must be at least 1, got {self.mix}")
            if self.pool < self.mix - 1:
                raise LilsrError(f"--pool ({self.pool}) must hold at least --mix - 1 ({self.mix - 1}) neighbours")
            if self.pool >= source_docs:
                raise LilsrError(f"--pool {self.pool} must be below the source's {source_docs} documents")
        if not 0 <= self.keep <= 1:
            raise LilsrError(f"--keep must lie in [0, 1], not {self.keep}")
        if not 0 <= self.noise <= 2:
            raise LilsrError(f"--noise must lie in [0, 2], not {self.noise}")


def estimate_bytes(source: SparseVectors, docs: int) -> int:
    """Bytes the store will take (its arrays and ids), from the source's mean length."""
    mean_nnz = source.nnz / max(len(source), 1)
    return int(docs * (mean_nnz * 8 + 8 + len(str(docs)) + 4))


def check_source(source: SparseVectors) -> None:
    """A source must be a lilsr store whose vocabulary is the one its manifest names."""
    recorded = source.manifest.get("vocab_digest")
    if recorded is None:
        raise LilsrError(f"{source.path}: the store's manifest records no vocabulary digest; re-save it with lilsr")
    if recorded != vocab_digest(source.vocab):
        raise LilsrError(f"{source.path}: vocab.json does not match the manifest's vocabulary digest {recorded} "
                         "(a foreign or edited vocabulary); the source's queries could not search the result")
    if len(source) == 0 or source.nnz == 0:
        raise LilsrError(f"{source.path}: the store has no non-zero entries to grow from")


def check_disk(out: Path, needed: int) -> None:
    """Refuse before writing when the output's file system lacks room (shards plus store: twice the size)."""
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if 2 * needed + (256 << 20) > free:
        raise LilsrError(f"{out}: needs about {2 * needed / 2**30:.1f} GiB free while growing (the store is about "
                         f"{needed / 2**30:.1f} GiB), but {parent} has {free / 2**30:.1f} GiB; free space or "
                         "choose another path")


# ------------------------------------------------------------------------------------------ neighbours

def neighbours(source: SparseVectors, pool: int, seed: int = 0) -> np.ndarray:
    """The ``pool`` nearest other documents of every document by cosine, int32 [docs, pool] (ties broken
    at random, seeded; documents with no overlap fill the tail at random)."""
    csr = sp.csr_matrix((np.asarray(source.values, np.float32), np.asarray(source.indices),
                         np.asarray(source.indptr)), shape=source.shape)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    unit = sp.diags((1.0 / norms).astype(np.float32)) @ csr
    unit_t = unit.T.tocsr()
    n = len(source)
    rng = np.random.default_rng([seed, 7])
    out = np.empty((n, pool), np.int32)
    for lo in range(0, n, _NEIGHBOUR_ROWS):
        hi = min(n, lo + _NEIGHBOUR_ROWS)
        sims = (unit[lo:hi] @ unit_t).toarray()
        sims += rng.random(sims.shape, dtype=np.float32) * 1e-6  # random tie-breaks (e.g. no overlap at all)
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        top = np.argpartition(-sims, pool - 1, axis=1)[:, :pool]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[lo:hi] = np.take_along_axis(top, order, axis=1)
    return out


# ------------------------------------------------------------------------------------------ generators

def _gather(indptr: np.ndarray, members: np.ndarray):
    """Entries of the given documents: (member position, entry position) over ``members`` flattened."""
    lengths = (indptr[members + 1] - indptr[members]).astype(np.int64)
    owner = np.repeat(np.arange(members.size, dtype=np.int64), lengths)
    starts = np.repeat(indptr[members] - (np.cumsum(lengths) - lengths), lengths)
    return owner, starts + np.arange(owner.size, dtype=np.int64)


def _mix_batch(src, near, n: int, params: SynthParams, rng):
    """``n`` documents by the ``mix`` method: (lengths, components, weights), rows sorted by component."""
    indptr, indices, values, vocab_size = src
    seeds = rng.integers(0, len(indptr) - 1, n)
    target = (indptr[seeds + 1] - indptr[seeds]).astype(np.int64)
    if params.mix > 1:
        # mix - 1 distinct neighbours of each seed, drawn with weights 1 / (how often a document is anybody's
        # neighbour): exponential keys scaled by that count, smallest first. Unweighted, "hub" documents (near
        # to many) would be members far more often than others and their terms' lists would swell.
        pool, in_degree = near
        rows = pool[seeds]
        keys = rng.standard_exponential(rows.shape) * in_degree[rows]
        picked = np.argpartition(keys, params.mix - 2, axis=1)[:, :params.mix - 1]
        members = np.concatenate([seeds[:, None], np.take_along_axis(rows, picked, axis=1)], axis=1)
    else:
        members = seeds[:, None]
    owner, position = _gather(indptr, members.ravel())
    doc = owner // params.mix
    key = doc * vocab_size + indices[position]
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count = np.diff(np.r_[first, key.size])
    # each (document, term) takes the weight of one member holding it, at random
    chosen = order[first + (rng.random(first.size) * count).astype(np.int64)]
    group_doc = key[first] // vocab_size
    group_comp = (key[first] % vocab_size).astype(np.int32)
    group_weight = values[position[chosen]]
    # Pareto sampling (Rosen 1997): keep the target number of terms with the smallest keys
    # (u / (1 - u)) / (p / (1 - p)), p = share of the members holding the term; each term is then kept with
    # probability close to p, and the p sum to the members' mean length: a real document's inclusion rates
    share = count / params.mix
    u = rng.random(first.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        race = np.where(share >= 1.0, 0.0, (u / (1.0 - u)) * ((1.0 - share) / share))  # 0: every member has it
    # rank of each term in its document by race key; keep the document's target length. Groups are sorted
    # by document already, so one float sort on document + race / (1 + race) (in [0, 1)) orders both
    by_race = np.argsort(group_doc + race / (1.0 + race))
    doc_start = np.searchsorted(group_doc[by_race], np.arange(n))
    rank = np.empty(first.size, np.int64)
    rank[by_race] = np.arange(first.size) - doc_start[group_doc[by_race]]
    kept = rank < target[group_doc]
    lengths = np.bincount(group_doc[kept], minlength=n)
    return lengths, group_comp[kept], group_weight[kept], int((lengths < target).sum())


def _templates_batch(src, near, n: int, params: SynthParams, rng):
    """``n`` documents by the ``templates`` method (see the module docstring)."""
    indptr, indices, values, vocab_size = src
    templates = rng.integers(0, len(indptr) - 1, n)
    owner, position = _gather(indptr, templates)
    target = np.bincount(owner, minlength=n)
    kept = rng.random(owner.size) < params.keep
    kept_doc, kept_pos = owner[kept], position[kept]
    kept_weight = values[kept_pos] * np.exp(params.noise * rng.standard_normal(kept_pos.size)).astype(np.float32)
    fresh = target - np.bincount(kept_doc, minlength=n)
    fresh_doc = np.repeat(np.arange(n), fresh)
    drawn = rng.integers(0, indices.size, fresh_doc.size)
    all_doc = np.concatenate([kept_doc, fresh_doc])
    all_comp = np.concatenate([indices[kept_pos], indices[drawn]]).astype(np.int64)
    all_weight = np.concatenate([kept_weight, values[drawn]]).astype(np.float32)
    key = all_doc * vocab_size + all_comp
    order = np.argsort(key, kind="stable")  # a term drawn twice keeps its first (template) weight
    key = key[order]
    unique = np.r_[True, key[1:] != key[:-1]]
    rows = order[unique]
    lengths = np.bincount(all_doc[rows], minlength=n)
    return lengths, all_comp[rows].astype(np.int32), all_weight[rows], int((lengths < target).sum())


_GENERATORS = {"mix": _mix_batch, "templates": _templates_batch}


# ------------------------------------------------------------------------------------------ the store

@locks_output()
def synthesize(source, out: str | Path, docs: int, *, method: str = "mix", seed: int = 0, overwrite: bool = False,
               progress: bool = True, **options) -> SparseVectors:
    """Grow ``source`` (a store folder or a loaded ``SparseVectors``) to ``docs`` synthetic documents at
    ``out``. ``options``: ``mix``, ``pool`` (method mix), ``keep``, ``noise`` (method templates)."""
    out = Path(out)
    source = source if isinstance(source, SparseVectors) else load_vectors(source)
    unknown = set(options) - {"mix", "pool", "keep", "noise"}
    if unknown:
        raise LilsrError(f"unknown synth option(s) {', '.join(sorted(unknown))}; known: mix, pool, keep, noise")
    params = SynthParams(docs=int(docs), method=method, seed=int(seed), **options)
    params.check(len(source))
    check_source(source)
    check_can_write(out, overwrite)
    needed = estimate_bytes(source, params.docs)
    work = out.parent / f".{out.name}.synth-work"
    fingerprint = {**asdict(params), "source": str(source.path), "source_sha256": source.manifest.get("sha256"),
                   "shard_docs": SHARD_DOCS, "batch_docs": BATCH_DOCS}
    if not (work / "params.json").is_file():
        check_disk(out, needed)
    _prepare_work(work, fingerprint)

    started = time.perf_counter()
    src = (np.ascontiguousarray(source.indptr, np.int64), np.ascontiguousarray(source.indices, np.int32),
           np.ascontiguousarray(source.values, np.float32), len(source.vocab))
    near = None
    if params.method == "mix":
        pool = neighbours(source, params.pool, params.seed)
        near = (pool, np.maximum(np.bincount(pool.ravel(), minlength=len(source)), 1).astype(np.float64))
    generate = _GENERATORS[params.method]
    n_shards = -(-params.docs // SHARD_DOCS)
    short = 0
    with tqdm(total=params.docs, unit="doc", desc=f"synth {out.name}", disable=not progress_enabled(progress), smoothing=0.1) as bar:
        for shard in range(n_shards):
            lo, hi = shard * SHARD_DOCS, min(params.docs, (shard + 1) * SHARD_DOCS)
            file = work / f"shard-{shard:05d}.npz"
            if file.is_file():
                with np.load(file) as done:
                    short += int(done["short"])
                bar.update(hi - lo)
                continue
            rng = np.random.default_rng([params.seed, shard])
            parts = []
            for b in range(lo, hi, BATCH_DOCS):
                parts.append(generate(src, near, min(BATCH_DOCS, hi - b), params, rng))
                bar.update(min(BATCH_DOCS, hi - b))
            lengths = np.concatenate([p[0] for p in parts]).astype(np.int64)
            tmp = file.with_suffix(".tmp.npz")
            np.savez(tmp, lengths=lengths, indices=np.concatenate([p[1] for p in parts]),
                     values=np.concatenate([p[2] for p in parts]).astype(np.float32),
                     short=np.int64(sum(p[3] for p in parts)))
            replace_path(tmp, file)
            fault_point("synth:shard")
            short += sum(p[3] for p in parts)
    generate_seconds = time.perf_counter() - started
    vectors = _join(work, out, n_shards, params, source, overwrite,
                    counts={"short_docs": short, "generate_seconds": round(generate_seconds, 2)})
    shutil.rmtree(work, ignore_errors=True)
    return vectors


def _prepare_work(work: Path, fingerprint: dict) -> None:
    """Keep finished shards of an interrupted run with the same parameters; anything else starts over."""
    params_file = work / "params.json"
    if work.is_dir():
        try:
            same = json.loads(params_file.read_text()) == json.loads(json.dumps(fingerprint))
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("*.tmp.npz"):
        stale.unlink()
    params_file.write_text(json.dumps(fingerprint))


def _join(work: Path, out: Path, n_shards: int, params: SynthParams, source: SparseVectors, overwrite: bool,
          counts: dict) -> SparseVectors:
    """Stream the shards into the store's arrays (one shard in memory at a time), then the manifest."""
    lengths = []
    total = 0
    for shard in range(n_shards):
        with np.load(work / f"shard-{shard:05d}.npz") as part:
            lengths.append(part["lengths"])
            total += int(part["indices"].size)
    indptr = np.zeros(params.docs + 1, np.int64)
    np.cumsum(np.concatenate(lengths), out=indptr[1:])
    width = len(str(params.docs - 1))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        np.save(tmp / "indptr.npy", indptr)
        for name, dtype in (("indices", np.int32), ("values", np.float32)):
            with open(tmp / f"{name}.npy", "wb") as handle:
                np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                              "fortran_order": False, "shape": (total,)})
                for shard in range(n_shards):
                    with np.load(work / f"shard-{shard:05d}.npz") as part:
                        np.ascontiguousarray(part[name], dtype=dtype).tofile(handle)
        (tmp / "vocab.json").write_text(json.dumps(source.vocab, ensure_ascii=False), encoding="utf-8")
        with open(tmp / "ids.txt", "w", encoding="utf-8") as handle:
            for lo in range(0, params.docs, 1 << 16):
                handle.write("".join(f"syn{i:0{width}d}\n" for i in range(lo, min(params.docs, lo + (1 << 16)))))
        vectors = load_vectors_unchecked(tmp, indptr, source.vocab)
        stats = vectors.stats()
        write_manifest(tmp, KIND, params={**asdict(params), "source": str(source.path)},
                       counts={**stats, **counts}, model=source.manifest.get("model"),
                       vocab_digest=vocab_digest(source.vocab),
                       synthetic={"source": str(source.path), "source_docs": len(source),
                                  "source_digest": source.manifest.get("sha256", {}).get("values.npy"),
                                  "method": params.method, "seed": params.seed},
                       hash_files=["indptr.npy", "indices.npy", "values.npy", "vocab.json", "ids.txt"])
    return load_vectors(out)


def load_vectors_unchecked(folder: Path, indptr: np.ndarray, vocab: list[str]) -> SparseVectors:
    """The arrays of a store being written (no manifest yet), memory-mapped, for its statistics."""
    indices = np.load(folder / "indices.npy", mmap_mode="r")
    values = np.load(folder / "values.npy", mmap_mode="r")
    ids = (folder / "ids.txt").read_text(encoding="utf-8").splitlines()
    return SparseVectors(indptr, indices, values, list(vocab), ids)
