"""``MilvusEngine``: a vector store in a Milvus collection (``SPARSE_INVERTED_INDEX``, metric IP).

An index folder (kind ``lilsr.milvus-index``) holds the manifest, ``vocab.json`` (query tokens -> the
integer keys of the sparse vectors), ``ids.txt`` (primary key -> document id) and, for Milvus Lite (the
default), the database itself (``milvus.db``). With ``--uri http://host:19530`` the collection lives on a
Milvus server and the folder only points at it: the manifest records the URI (never credentials), the
database name and the collection.

Documents go in as rows ``{pk: row number, vector: {token id: weight}}`` in batches; rows with no
non-zero weight cannot be stored (Milvus refuses empty sparse rows) and never match an IP query, so they
are skipped and counted (``counts.empty_docs_skipped``). The collection carries its own identity as
properties (``lilsr.vocab_digest``, ``lilsr.dim``, ``lilsr.docs``): an index folder refuses a collection
whose vocabulary, dimension or size is not the one it was built with.

Building is resumable and leaves nothing half-written: the folder is filled in a hidden sibling
(``.<name>.milvus-partial``) and renamed at the end; on a server the rows go into ``<collection>_partial``,
renamed once complete. A re-run after a crash or kill continues after the last complete insert batch.

Milvus Lite 3.2.2 (``milvus-lite``) is a pure-Python re-implementation served in-process: its sparse
index scores every posting of every query term in Python dictionaries (exact, term at a time) and is
rebuilt in memory on first search after each start (done by ``load``, timed as ``load_seconds``). It
ignores ``inverted_index_algo`` and accepts only drop ratios of 0, so here it is limited to TAAT_NAIVE
and ratios 0; DAAT_MAXSCORE, DAAT_WAND and non-zero drop ratios need a Milvus server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ...atomic import check_can_write, replace_path
from ...errors import LilsrError
from ...manifest import MANIFEST, read_manifest, write_manifest
from ...progress import enabled as progress_enabled
from ...vectors.store import SparseVectors, load_vectors, vocab_digest
from ..call_clock import time_calls
from ..base import SearchResults, check_known_params, check_memory_fits, folder_bytes, queries_to_ids
from .client import (COLLECTION_NAME, CONNECT_TIMEOUT_S, LITE_FILE, call, check_uri, connect, is_lite,
                     release_lite, safe_uri)
from ..checks import checked_search
from ..file_checks import check_files, file_records, folder_files
from ..param_specs import MILVUS, MILVUS_ALGORITHMS

KIND = "lilsr.milvus-index"
ALGORITHMS = MILVUS_ALGORITHMS
BUILD_DEFAULTS = MILVUS.defaults("build")  # param_specs.MILVUS
SEARCH_DEFAULTS = MILVUS.defaults("search")
PK, VECTOR = "pk", "vector"
MAX_TOPK = 16384  # Milvus's limit on results per query
INSERT_BATCH = 2000
PROBE_QUERY = {0: 1.0}  # any query: the first search makes Milvus Lite build its in-memory postings
_PARTIAL = "_partial"


# ------------------------------------------------------------------------------------------- parameters
def build_params(params: dict, lite: bool) -> dict:
    """Validated build parameters; ``auto`` is TAAT_NAIVE on Milvus Lite (all it has), else Milvus's
    default DAAT_MAXSCORE."""
    p = MILVUS.parse("build", params)
    algo, drop = p["inverted_index_algo"], p["drop_ratio_build"]
    if algo == "auto":
        algo = "TAAT_NAIVE" if lite else "DAAT_MAXSCORE"
    if lite and (algo != "TAAT_NAIVE" or drop):
        raise LilsrError(f"Milvus Lite scores every posting exactly (TAAT_NAIVE, drop ratios 0) and ignores "
                         f"inverted_index_algo={algo}, drop_ratio_build={drop:g}; use a Milvus server "
                         "(--uri http://host:19530, see docs/scale-out.md) for those")
    return {"inverted_index_algo": algo, "drop_ratio_build": drop}


def search_params(params: dict, lite: bool, threads: int) -> dict:
    p = MILVUS.parse("search", params, fill=False)
    drop = p.get("drop_ratio_search", 0.0)
    if lite and drop:
        raise LilsrError(f"Milvus Lite accepts only drop_ratio_search=0 (got {drop:g}); use a Milvus server")
    batch = p.get("batch_size", SEARCH_DEFAULTS["batch_size"] if threads <= 1 else 256)
    return {"drop_ratio_search": drop, "batch_size": batch}


def default_collection(out: Path) -> str:
    """A valid collection name from the index folder's name."""
    name = "".join(c if c.isalnum() else "_" for c in Path(out).resolve().name)
    return ("lilsr_" + name)[:200]


def _source_key(vectors: SparseVectors) -> str:
    payload = json.dumps([vectors.manifest.get("sha256"), len(vectors), vectors.nnz], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _identity(client, name: str, uri: str) -> dict | None:
    """The lilsr properties of collection ``name``, or None when it does not exist."""
    if not call("has_collection", uri, client.has_collection, name):
        return None
    described = call("describe_collection", uri, client.describe_collection, name)
    properties = described.get("properties") or {}
    return {key.removeprefix("lilsr."): value for key, value in properties.items() if key.startswith("lilsr.")}


def _describe(identity: dict) -> str:
    if not identity:
        return "not made by lilsr"
    return (f"vocab digest {identity.get('vocab_digest')}, dimension {identity.get('dim')}, "
            f"{identity.get('docs')} docs")


# ---------------------------------------------------------------------------------------------- build
# Milvus Lite (a pure-Python rewrite, in our process) holds its postings as Python objects: measured on the
# 20k and SciFact sets, about 245 bytes a posting while building and searching.
LITE_BYTES_PER_POSTING = 245


def build_milvus_index(source, out, *, overwrite: bool = False, uri: str | None = None, token: str | None = None,
                       db: str | None = None, collection: str | None = None, insert_batch: int = INSERT_BATCH,
                       timeout: float = CONNECT_TIMEOUT_S, progress: bool = True, **params) -> Path:
    """Load a vector store into a Milvus collection and write the index folder ``out``."""
    out = check_can_write(out, overwrite)
    lite = uri is None or is_lite(uri)
    if uri is not None and is_lite(uri):
        raise LilsrError(f"--uri {uri}: a Milvus Lite database is made inside the index folder; omit --uri")
    if uri is not None:
        check_uri(uri)
    index = build_params(params, lite)
    if lite:
        vectors_ = source if isinstance(source, SparseVectors) else load_vectors(source)
        check_memory_fits(vectors_.nnz * LITE_BYTES_PER_POSTING, f"Milvus Lite for {vectors_.nnz:,} postings",
                          f"({LITE_BYTES_PER_POSTING} bytes a posting, measured); use a Milvus server "
                          "(--uri, docs/scale-out.md)")
        source = vectors_
    name = collection or default_collection(out)
    if not COLLECTION_NAME.match(name):
        raise LilsrError(f"collection name {name!r}: letters, digits and underscores, starting with a letter or _")
    if isinstance(insert_batch, bool) or int(insert_batch) < 1:
        raise LilsrError(f"insert batch must be >= 1, got {insert_batch}")
    vectors = source if isinstance(source, SparseVectors) else load_vectors(source)
    digest = vocab_digest(vectors.vocab)
    identity = {"vocab_digest": digest, "dim": str(len(vectors.vocab)), "docs": str(len(vectors))}
    work = out.parent / f".{out.name}.milvus-partial"
    plan = {"source": _source_key(vectors), "index": index, "uri": None if lite else safe_uri(uri), "db": db,
            "collection": name, "insert_batch": int(insert_batch)}
    target = str(work / LITE_FILE) if lite else uri
    partial = name if lite else name + _PARTIAL
    resumable = work.is_dir()  # a partial build from an earlier run: kept on failure, to resume
    client = None
    if not lite:  # reach the server before writing anything
        client = connect(target, token=token, db=db, timeout=timeout)
    try:
        _prepare_work(work, plan)
        if lite:
            client = connect(target, timeout=timeout)
        if not lite:
            existing = _identity(client, name, target)
            if existing is not None and not overwrite:
                raise LilsrError(f"collection {name} already exists at {safe_uri(uri)} ({_describe(existing)}); "
                                 "pass --overwrite to replace it or choose another --collection")
        started = time.perf_counter()
        resumable = True  # from here on rows may be stored: a failure leaves them for the next run
        counts, timings = _fill(client, target, partial, vectors, index, {**identity, "build": plan["source"]},
                                int(insert_batch), progress)
        if not lite:
            if call("has_collection", target, client.has_collection, name):
                call("drop_collection", target, client.drop_collection, name)
            call("rename_collection", target, client.rename_collection, partial, name)
        clock = time.perf_counter()
        call("load_collection", target, client.load_collection, name)
        _wait_for_index(client, target, name)
        call("search", target, client.search, name, data=[PROBE_QUERY], anns_field=VECTOR, limit=1,
             output_fields=[PK], search_params={"metric_type": "IP", "params": {}})
        timings["index_s"] = round(time.perf_counter() - clock, 3)
        build_seconds = time.perf_counter() - started
        server_index = call("describe_index", target, client.describe_index, name, VECTOR)
        version = call("get_server_version", target, client.get_server_version)
    except BaseException:
        _close(client, target)
        if not resumable:
            shutil.rmtree(work, ignore_errors=True)
        raise
    _close(client, target)
    (work / "plan.json").unlink(missing_ok=True)
    (work / "vocab.json").write_text(json.dumps(list(vectors.vocab), ensure_ascii=False), encoding="utf-8")
    (work / "ids.txt").write_text("".join(f"{i}\n" for i in vectors.ids), encoding="utf-8")
    files = folder_files(work, skip=[f"{LITE_FILE}/LOCK"])  # Milvus Lite's empty lock file comes and goes
    write_manifest(work, KIND, params={**index, "index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP",
                                       "insert_batch": int(insert_batch)},
                   counts={**counts, "vocab_size": len(vectors.vocab), "nnz": vectors.nnz},
                   vocab_digest=digest, uri=LITE_FILE if lite else safe_uri(uri), lite=lite, db=db or None,
                   collection=name, server_version=version,
                   server_index={k: v for k, v in dict(server_index).items() if k not in ("total_rows",
                                 "indexed_rows", "pending_index_rows", "state")},
                   source=str(vectors.path) if vectors.path else None, build_seconds=round(build_seconds, 3),
                   timings=timings, index_bytes=folder_bytes(work) if lite else None,
                   command=_safe_command(), hash_files=files, checked_files=file_records(work, files))
    replace_path(work, out)
    return out


def _close(client, uri: str) -> None:
    if client is not None:
        client.close()
    release_lite(uri)


def _prepare_work(work: Path, plan: dict) -> None:
    """Keep a partial build made with the same plan (to resume it); clear any other."""
    plan_file = work / "plan.json"
    if work.is_dir():
        try:
            previous = json.loads(plan_file.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != plan:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan))


def _create(client, uri: str, name: str, index: dict, identity: dict) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False,
                                  description="lilsr-tools learned sparse vectors")
    schema.add_field(PK, DataType.INT64, is_primary=True)
    schema.add_field(VECTOR, DataType.SPARSE_FLOAT_VECTOR)
    index_params = client.prepare_index_params()
    extra = {"inverted_index_algo": index["inverted_index_algo"]}
    if index["drop_ratio_build"]:
        extra["drop_ratio_build"] = index["drop_ratio_build"]
    index_params.add_index(field_name=VECTOR, index_type="SPARSE_INVERTED_INDEX", metric_type="IP", params=extra)
    call("create_collection", uri, client.create_collection, name, schema=schema, index_params=index_params,
         properties={f"lilsr.{key}": value for key, value in identity.items()})


def _fill(client, uri: str, name: str, vectors: SparseVectors, index: dict, identity: dict, batch: int,
          progress: bool):
    """Create (or resume) collection ``name`` and insert every non-empty row, in batches of ``batch`` rows."""
    n = len(vectors)
    lengths = np.diff(np.asarray(vectors.indptr))
    live = lengths > 0
    # rows inserted once batch b is complete: the resume points
    boundaries = np.minimum(np.arange(1, (n + batch - 1) // batch + 1) * batch, n)
    inserted_at = np.concatenate([[0], np.cumsum(live)[boundaries - 1]]) if n else np.zeros(1, dtype=np.int64)
    start_batch = 0
    existing = _identity(client, name, uri)
    if existing is not None:  # an earlier run of this build: resume after its last complete batch
        stored = -1
        if existing == identity:
            call("load_collection", uri, client.load_collection, name)  # a server answers queries when loaded
            stored = _count(client, uri, name)
        matches = np.flatnonzero(inserted_at == stored) if stored >= 0 else []
        if len(matches):
            start_batch = int(matches[-1])
        else:
            call("drop_collection", uri, client.drop_collection, name)
            existing = None
    if existing is None:
        _create(client, uri, name, index, identity)
    indptr, indices, values = vectors.indptr, vectors.indices, vectors.values
    clock = time.perf_counter()
    total_batches = len(boundaries)
    with tqdm(total=n, initial=min(start_batch * batch, n), unit="doc", desc=f"milvus insert {name}",
              disable=not progress_enabled(progress), smoothing=0.05) as bar:
        for b in range(start_batch, total_batches):
            lo, hi = b * batch, int(boundaries[b])
            rows = []
            for i in np.flatnonzero(live[lo:hi]) + lo:
                a, z = int(indptr[i]), int(indptr[i + 1])
                rows.append({PK: int(i), VECTOR: dict(zip(indices[a:z].tolist(), values[a:z].tolist()))})
            if rows:
                call("insert", uri, client.insert, name, rows)
            if b == start_batch and rows:  # refuse parameters the server does not take before loading it all
                call("search", uri, client.search, name, data=[PROBE_QUERY], anns_field=VECTOR, limit=1,
                     output_fields=[PK], search_params={"metric_type": "IP", "params": {}})
            bar.update(hi - lo)
    insert_s = time.perf_counter() - clock
    clock = time.perf_counter()
    call("flush", uri, client.flush, name)
    flush_s = time.perf_counter() - clock
    stored = _count(client, uri, name)
    if stored != int(live.sum()):
        raise LilsrError(f"Milvus at {safe_uri(uri)} holds {stored} rows in {name} after inserting "
                         f"{int(live.sum())}; rebuild with --overwrite")
    counts = {"docs": n, "inserted": int(live.sum()), "empty_docs_skipped": int(n - live.sum()),
              "resumed_from_doc": min(start_batch * batch, n)}
    return counts, {"insert_s": round(insert_s, 3), "flush_s": round(flush_s, 3)}


def _count(client, uri: str, name: str) -> int:
    rows = call("query count(*)", uri, client.query, name, filter="", output_fields=["count(*)"],
                consistency_level="Strong")  # every insert acknowledged so far, not a bounded-staleness view
    return int(rows[0]["count(*)"]) if rows else 0


def _wait_for_index(client, uri: str, name: str, patience_s: float = 3600.0) -> None:
    """Servers build indexes after a flush, asynchronously: wait until every row is indexed."""
    deadline = time.monotonic() + patience_s
    while True:
        described = call("describe_index", uri, client.describe_index, name, VECTOR)
        if described.get("pending_index_rows", 0) == 0 and described.get("state", "Finished") in ("Finished", 3):
            return
        if time.monotonic() > deadline:
            raise LilsrError(f"Milvus at {safe_uri(uri)} has not finished indexing {name} after {patience_s:g} s")
        time.sleep(1.0)


def _safe_command() -> str:
    """``sys.argv`` for the manifest, with --token and URI credentials left out."""
    import sys

    words, hide = [], False
    for word in sys.argv:
        if hide:
            words.append("***")
            hide = False
        elif word == "--token":
            words.append(word)
            hide = True
        elif word.startswith("--token="):
            words.append("--token=***")
        else:
            words.append(safe_uri(word) if "://" in word else word)
    return " ".join(words)


# --------------------------------------------------------------------------------------------- engine
class MilvusEngine:
    """A Milvus collection searched one query per request (``batch_size=1``) or in batches."""

    name = "milvus"
    query_input = "vector"
    param_spec = MILVUS
    # studies at scale (ablate lambda --docs) leave it out above this many documents unless asked for
    scale_limit = (50_000, "Milvus Lite (the default, embedded) scores every posting in Python, 52 ms a query at "
                           "5k documents and 83 ms at 20k, and holds 245 bytes a posting; for large collections "
                           "use a Milvus server (--uri)")

    def __init__(self, client, uri: str, manifest: dict, vocab: list[str], ids: list[str], path: Path,
                 load_seconds: float):
        self.client = client
        self.uri = uri
        self.manifest = manifest
        self.vocab = vocab
        self.ids = ids
        self.path = path
        self.collection = manifest["collection"]
        self.lite = bool(manifest.get("lite"))
        self.load_seconds = load_seconds
        self._token_ids = {token: i for i, token in enumerate(vocab)}

    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, **params) -> Path:
        return build_milvus_index(source, out, overwrite=overwrite, **params)

    @classmethod
    def load(cls, path, *, uri: str | None = None, token: str | None = None, db: str | None = None,
             timeout: float = CONNECT_TIMEOUT_S, **options) -> "MilvusEngine":
        """Open an index folder: connect, check the collection is the one built, load it for search."""
        check_known_params(options, ("uri", "token", "db", "timeout"), "milvus load")
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.get("kind") != KIND:
            raise LilsrError(f"{path} holds a '{manifest.get('kind')}'; the milvus engine searches a folder made by "
                             "'lilsr index milvus'")
        check_files(path, manifest)  # size and CRC-32 of every file (Milvus Lite reads its own unchecked)
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        ids = (path / "ids.txt").read_text(encoding="utf-8").splitlines()
        if manifest.get("lite"):
            target = str(path / LITE_FILE)
            if not Path(target).is_dir():
                raise LilsrError(f"{target} is missing; rebuild the index with 'lilsr index milvus'")
        else:
            target = uri or manifest["uri"]
        client = connect(target, token=token, db=db if db is not None else manifest.get("db"), timeout=timeout)
        try:
            name = manifest["collection"]
            found = _identity(client, name, target)
            if found is None:
                raise LilsrError(f"collection {name} is not at {safe_uri(target)}; rebuild {path} with "
                                 "'lilsr index milvus'")
            wanted = {"vocab_digest": manifest.get("vocab_digest"), "dim": str(len(vocab)), "docs": str(len(ids))}
            if {key: found.get(key) for key in wanted} != wanted:
                raise LilsrError(f"collection {name} at {safe_uri(target)} holds other vectors ({_describe(found)}) "
                                 f"than {path} was built with ({_describe(wanted)}); rebuild with --overwrite")
            started = time.perf_counter()
            call("load_collection", target, client.load_collection, name)
            call("search", target, client.search, name, data=[PROBE_QUERY], anns_field=VECTOR, limit=1,
                 output_fields=[PK], search_params={"metric_type": "IP", "params": {}})
            load_seconds = time.perf_counter() - started
        except BaseException:
            client.close()
            release_lite(target)
            raise
        return cls(client, target, manifest, vocab, ids, path, load_seconds)

    def close(self) -> None:
        """Disconnect (and stop the in-process Milvus Lite server, freeing its in-memory index)."""
        if self.client is not None:
            self.client.close()
            release_lite(self.uri)
            self.client = None

    def _request(self, queries: list[dict], k: int, params: dict):
        return self.client.search(self.collection, data=queries, anns_field=VECTOR, limit=k, output_fields=[PK],
                                  search_params={"metric_type": "IP", "params": params})

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """Search every query. ``batch_size=1`` (the default with one thread): one request per query, timed
        on its own; ``batch_size=N`` (256 by default with more threads): N queries per request, each given the
        request's wall time / N."""
        if len(qids) != len(queries):
            raise LilsrError(f"{len(qids)} query ids for {len(queries)} queries")
        if not 1 <= k <= MAX_TOPK:
            raise LilsrError(f"k must be in [1, {MAX_TOPK}] for Milvus, got {k}")
        if self.client is None:
            raise LilsrError("this milvus engine was closed; load the index again")
        chosen = search_params(params, self.lite, threads)
        sent = {"drop_ratio_search": chosen["drop_ratio_search"]} if chosen["drop_ratio_search"] else {}
        batch, n = chosen["batch_size"], len(qids)
        info = {"engine": self.name, "k": k, "threads": threads, "batch_size": batch,
                "drop_ratio_search": chosen["drop_ratio_search"], "collection": self.collection,
                "uri": safe_uri(self.uri) if not self.lite else LITE_FILE, "lite": self.lite,
                "index_params": self.manifest.get("params", {})}
        if batch == 1:
            return self._search_one_by_one(qids, queries, k, sent, info)
        doc_ids: list[list[str]] = [[] for _ in range(n)]
        scores: list[np.ndarray] = [np.zeros(0, dtype=np.float32) for _ in range(n)]
        times = np.zeros(n, dtype=np.int64)
        unknown = 0
        ids_of = self.ids
        for lo in range(0, n, batch):
            hi = min(lo + batch, n)
            start = time.perf_counter_ns()
            mapped, missing = queries_to_ids(queries[lo:hi], self._token_ids)
            live = [j for j, (ids, _) in enumerate(mapped) if ids.size]
            if live:
                data = [dict(zip(mapped[j][0].tolist(), mapped[j][1].tolist())) for j in live]
                found = call("search", self.uri, self._request, data, k, sent)
                for j, hits in zip(live, found):
                    doc_ids[lo + j] = [ids_of[hit["pk"]] for hit in hits]
                    scores[lo + j] = np.fromiter((hit["distance"] for hit in hits), dtype=np.float32, count=len(hits))
            times[lo:hi] = (time.perf_counter_ns() - start) // (hi - lo)
            unknown += missing
        info["timing"] = (f"batched: {batch} queries per search request, each query given the request's wall "
                          "time / its queries (token ids in, doc ids out)")
        return SearchResults(list(qids), doc_ids, scores, times, unknown, info)

    def _search_one_by_one(self, qids, queries, k: int, sent: dict, info: dict) -> SearchResults:
        """One search request per query, on the shared call clock (``call_clock.time_calls``): token ids in,
        the request, doc ids out."""
        ids_of = self.ids

        def prepare(query):
            [(ids, weights)], missing = queries_to_ids([query], self._token_ids)
            return dict(zip(ids.tolist(), weights.tolist())), missing

        def search(data):
            if not data:  # no token the collection knows: nothing to ask for
                return [], np.zeros(0, np.float32), None
            [hits] = call("search", self.uri, self._request, [data], k, sent)
            return ([hit["pk"] for hit in hits],
                    np.fromiter((hit["distance"] for hit in hits), dtype=np.float32, count=len(hits)), None)

        info["timing"] = ("call clock (call_clock.time_calls): per query, token ids in, one search request, doc "
                          "ids out")
        return time_calls(qids, queries, prepare, search, lambda pks: [ids_of[pk] for pk in pks], info)

    def index_stats(self) -> dict:
        manifest = self.manifest
        return {"docs": manifest["counts"].get("docs"), "inserted": manifest["counts"].get("inserted"),
                "collection": self.collection, "uri": manifest.get("uri"), "lite": self.lite,
                "server_version": manifest.get("server_version"), "index_params": manifest.get("params"),
                "build_seconds": manifest.get("build_seconds"), "load_seconds": round(self.load_seconds, 3),
                "index_bytes": folder_bytes(self.path) if self.lite else None}


def is_milvus_index(path) -> bool:
    path = Path(path)
    return (path / MANIFEST).is_file() and read_manifest(path).get("kind") == KIND
