"""Build Lucene indexes with Anserini's IndexCollection, run in a child JVM.

Two index kinds, each a folder ``OUT/`` holding ``manifest.json`` and the Lucene files under ``OUT/lucene/``:

- ``lilsr.lucene-index``: learned sparse vectors, quantized ``round(w * scale)`` (never truncated), written
  as an Anserini JsonVectorCollection and indexed with ``-impact -pretokenized`` (term frequency = impact).
  ``vocab.json`` is kept beside it, so that query tokens outside the vocabulary are counted at search time.
- ``lilsr.bm25-index``: a BEIR corpus indexed "flat" (title and text in one ``contents`` field, Anserini's
  default English analyzer), exactly as Anserini's BEIR flat regressions do.

Everything is built in a hidden sibling folder and renamed at the end (``atomic_dir``): an interrupted
build, a failed IndexCollection or Ctrl-C leaves nothing that loads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ...locks import locks_output
from ...atomic import atomic_dir, check_can_write, fault_point
from ...errors import LilsrError
from ...manifest import MANIFEST, read_manifest, write_manifest
from ...vectors.convert import (JSON_VECTORS_KIND, MAX_DOC_IMPACT, collection_header, impact_counts,
                                iter_json_vector_collection, write_json_vector_collection)
from ...vectors.store import KIND as VECTORS_KIND
from ...vectors.store import SparseVectors, load_vectors, posting_stats, vocab_digest
from ..base import folder_bytes
from . import jvm

LUCENE_KIND = "lilsr.lucene-index"
BM25_KIND = "lilsr.bm25-index"
LUCENE_DIR = "lucene"
_COUNTER = re.compile(r"\b(indexed|unindexable|empty|skipped|errors):\s+([\d,]+)\s*$")
_WHITESPACE = re.compile(r"\s")


def run_index_collection(args: list[str], heap: str | None = None, echo=None) -> dict[str, int]:
    """Run ``io.anserini.index.IndexCollection`` with ``args``; return its final counters.

    Its log is relayed line by line to ``echo`` (stderr by default) as progress. A non-zero exit or any
    indexing error raises ``LilsrError`` with the last log lines. The child JVM dies with us on every path
    (an error, Ctrl-C, SIGTERM, and kill -9 through its parent-death signal: ``jvm.child_process``)."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    command = jvm.java_command("io.anserini.index.IndexCollection", *args, heap=heap)
    counters: dict[str, int] = {}
    tail: list[str] = []
    with jvm.child_process(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           encoding="utf-8", errors="replace") as process:
        fault_point("lucene:indexing", child=process.pid)
        for line in process.stdout:
            line = line.rstrip()
            if line.startswith("WARNING: ") or "MMapDirectory" in line:
                continue  # JDK notices about sun.misc.Unsafe / MMapDirectory; not ours to fix
            tail = (tail + [line])[-15:]
            match = _COUNTER.search(line)
            if match:
                counters[match.group(1)] = int(match.group(2).replace(",", ""))
            if " INFO " in line and ("documents indexed" in line or "% of files completed" in line
                                      or "file found" in line or "files found" in line):
                echo("anserini: " + line.split(" - ", 1)[-1])
            elif " ERROR " in line or "Exception" in line:
                echo("anserini: " + line)
        code = process.wait()
    if code != 0:
        raise LilsrError(f"Anserini IndexCollection failed (exit {code}): " + " | ".join(tail[-5:]))
    if "indexed" not in counters:
        raise LilsrError("Anserini IndexCollection finished without its final counters: " + " | ".join(tail[-5:]))
    if counters.get("errors", 0) or counters.get("unindexable", 0):
        raise LilsrError(f"Anserini IndexCollection reported {counters.get('errors', 0)} errors and "
                         f"{counters.get('unindexable', 0)} unindexable documents: " + " | ".join(tail[-5:]))
    return counters


def lucene_posting_stats(index_dir: Path, heap: str | None = None) -> dict | None:
    """Posting statistics read from the Lucene index itself (needs the Java bridge; None without it)."""
    ok, _ = jvm.bridge_status()
    if not ok:
        return None
    java = jvm.find_java()
    classpath = f"{jvm.fatjar()}{':' if sys.platform != 'win32' else ';'}{jvm.BRIDGE_CLASSES}"
    result = jvm.run_child([str(java.executable), *jvm.jvm_options(java, heap), "-cp", classpath,
                            jvm.BRIDGE_CLASS, "stats", str(index_dir)])
    if result.returncode != 0:
        raise LilsrError(f"reading posting statistics of {index_dir} failed: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- impact indexes -------------------------------------------------------------------------------------


def _check_tokens(vocab, used: np.ndarray, where) -> None:
    """Anserini splits pre-tokenized contents on whitespace: a token holding whitespace would be mangled."""
    for token_id in used:
        token = vocab[int(token_id)]
        if not token or _WHITESPACE.search(token):
            raise LilsrError(f"{where}: token {token!r} is empty or contains whitespace, which Anserini's "
                             "pre-tokenized indexing would split; such a vocabulary cannot go into Lucene")


def _read_collection(path: Path) -> tuple[dict, list[str], dict[str, int], int]:
    """Validate a JsonVectorCollection folder line by line before Anserini sees it (integer impacts within
    range, known tokens, unique ids: ``convert.iter_json_vector_collection``; plus no whitespace in tokens).

    Returns its manifest, its vocabulary, the posting length of every token, and the number of documents."""
    manifest, _, vocab = collection_header(path)
    lengths: Counter = Counter()
    docs = 0
    for file, number, _, vector in iter_json_vector_collection(path, vocab):
        total = 0
        for token, weight in vector.items():
            if weight > 0:
                if _WHITESPACE.search(token) or not token:
                    raise LilsrError(f"{file}:{number}: token {token!r} is empty or contains whitespace, "
                                     "which Anserini's pre-tokenized indexing would split")
                lengths[token] += 1
                total += weight
        if total > MAX_DOC_IMPACT:
            raise LilsrError(f"{file}:{number}: the impacts of this document add up to {total:,}; Anserini writes "
                             f"each token impact times and indexes at most {MAX_DOC_IMPACT:,} per document: "
                             "re-export at a lower scale")
        docs += 1
    return manifest, vocab, dict(lengths), docs


@locks_output()
def build_impact_index(source: str | Path | SparseVectors, out: str | Path, *, scale: float | None = None,
                       threads: int = 2, optimize: bool = True, overwrite: bool = False,
                       heap: str | None = None, echo=None) -> Path:
    """Index learned sparse vectors into ``out`` (a ``lilsr.lucene-index`` folder).

    ``source`` is a vector store (quantized here with ``scale``, default 100) or a JsonVectorCollection
    folder from ``lilsr vectors export --format anserini`` (its recorded scale is used; every weight is
    checked to be an integer first, since Anserini would silently truncate floats)."""
    out = check_can_write(out, overwrite)
    jvm.java_command("io.anserini.index.IndexCollection")  # Java and the fatjar are there, before any work
    started = time.perf_counter()
    if isinstance(source, (str, Path)):
        source_path = Path(source)
        kind = read_manifest(source_path).get("kind")
        if kind == VECTORS_KIND:
            source = load_vectors(source_path)
        elif kind != JSON_VECTORS_KIND:
            raise LilsrError(f"{source_path} holds a '{kind}'; index a vector store ('lilsr encode corpus') or a "
                             "JsonVectorCollection ('lilsr vectors export --format anserini')")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        if isinstance(source, SparseVectors):
            vectors = source
            scale = float(scale if scale is not None else 100.0)
            # streamed, bounded memory at any size; refuses impacts that overflow, naming document and token
            _, _, lengths = impact_counts(vectors, scale)
            _check_tokens(vectors.vocab, np.flatnonzero(lengths), vectors.path or "vectors")
            collection = tmp / "collection"
            counts = write_json_vector_collection(vectors, collection, scale=scale, overwrite=False)
            fault_point("lucene:collection")
            input_dir = collection / "docs"
            vocab = list(vectors.vocab)
            source_desc = {"source": str(vectors.path) if vectors.path else None, "source_kind": VECTORS_KIND,
                           "model": vectors.manifest.get("model")}
        else:
            manifest, vocab, token_lengths, docs = _read_collection(source_path)
            recorded = float(manifest["params"]["scale"])
            if scale is not None and float(scale) != recorded:
                raise LilsrError(f"{source_path} was quantized at scale {recorded:g}; --scale {scale:g} cannot "
                                 "change it (re-export from the vector store instead)")
            scale = recorded
            collection, input_dir = None, source_path / "docs"
            lengths = np.asarray(list(token_lengths.values()), dtype=np.int64)
            counts = {**manifest.get("counts", {}), "docs": docs}
            source_desc = {"source": str(source_path), "source_kind": JSON_VECTORS_KIND,
                           "model": None}
        args = ["-collection", "JsonVectorCollection", "-input", str(input_dir), "-index", str(tmp / LUCENE_DIR),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads), "-impact", "-pretokenized"]
        if optimize:
            args.append("-optimize")
        counters = run_index_collection(args, heap=heap, echo=echo)
        if collection is not None:
            import shutil

            shutil.rmtree(collection)  # the quantized JSON is an intermediate; the index holds the same integers
        fault_point("lucene:write")
        (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        postings = posting_stats(np.asarray(lengths))
        lucene_stats = lucene_posting_stats(tmp / LUCENE_DIR, heap)
        if lucene_stats is not None and (lucene_stats["postings"] != postings.get("postings", 0)
                                         or lucene_stats["terms"] != postings.get("terms", 0)):
            raise LilsrError(f"Lucene indexed {lucene_stats['postings']} postings over {lucene_stats['terms']} terms, "
                             f"but the quantized vectors hold {postings.get('postings', 0)} over "
                             f"{postings.get('terms', 0)}; the index is wrong, not written")
        write_manifest(
            tmp, LUCENE_KIND,
            params={"scale": scale, "threads": threads, "optimize": optimize, "quantization": "round(w * scale)",
                    **source_desc},
            counts={**counts, "indexed_docs": counters["indexed"], "empty_docs_skipped": counters.get("empty", 0)},
            postings=postings, lucene_postings=lucene_stats, index_bytes=folder_bytes(tmp / LUCENE_DIR),
            vocab_digest=vocab_digest(vocab), build_seconds=round(time.perf_counter() - started, 1),
            hash_files=["vocab.json"])
    return out


# --- BM25 (flat) indexes ----------------------------------------------------------------------------------


@locks_output()
def build_bm25_index(collection, out: str | Path, *, threads: int = 1, overwrite: bool = False,
                     heap: str | None = None, echo=None) -> Path:
    """Index a BEIR corpus for BM25 as Anserini's ``beir-v1.0.0-*.flat`` regressions do: BeirFlatCollection
    (title and text in ``contents``), DefaultLuceneDocumentGenerator, default English analyzer (Porter
    stemming, stopwords removed), ``-storePositions -storeDocvectors -storeRaw``, one thread by default."""
    from ...data.collection import read_corpus, resolve_collection

    out = check_can_write(out, overwrite)
    jvm.java_command("io.anserini.index.IndexCollection")  # Java and the fatjar are there, before any work
    started = time.perf_counter()
    path = Path(collection)
    corpus = path if path.is_file() else resolve_collection(collection).corpus_path
    if corpus.suffix != ".jsonl":
        raise LilsrError(f"{corpus}: BM25 flat indexing reads BEIR corpus.jsonl ({{'_id', 'title', 'text'}} lines)")
    # Anserini would index a duplicate id twice and replace bytes that are not UTF-8: read it once first
    # (UTF-8, JSON, unique ids without whitespace; errors name the line)
    n_docs = sum(1 for _ in read_corpus(corpus))
    if not n_docs:
        raise LilsrError(f"{corpus}: no documents")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        # BeirFlatCollection reads every JSONL file of its input folder (queries.jsonl too), so it gets a folder
        # holding only a link to the corpus (Anserini follows links); the data stays where it is.
        inbox = tmp / "input"
        inbox.mkdir()
        (inbox / "corpus.jsonl").symlink_to(corpus.resolve())
        args = ["-collection", "BeirFlatCollection", "-input", str(inbox), "-index", str(tmp / LUCENE_DIR),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
                "-storePositions", "-storeDocvectors", "-storeRaw"]
        counters = run_index_collection(args, heap=heap, echo=echo)
        (inbox / "corpus.jsonl").unlink()
        inbox.rmdir()
        write_manifest(
            tmp, BM25_KIND,
            params={"collection": str(collection), "corpus": str(corpus.resolve()), "threads": threads,
                    "collection_class": "BeirFlatCollection", "analyzer": "DefaultEnglishAnalyzer (porter)",
                    "index_options": "-storePositions -storeDocvectors -storeRaw"},
            counts={"indexed_docs": counters["indexed"], "empty_docs_skipped": counters.get("empty", 0)},
            postings=lucene_posting_stats(tmp / LUCENE_DIR, heap), index_bytes=folder_bytes(tmp / LUCENE_DIR),
            build_seconds=round(time.perf_counter() - started, 1))
    return out


def index_dir(path: str | Path, kind: str, heap: str | None = None) -> tuple[Path, dict]:
    """The Lucene folder and the manifest of an index folder of ``kind``, checked before any search: the
    manifest, a commit point, and Lucene's checksum of every file (``check_checksums``; starts the JVM)."""
    path = Path(path)
    manifest = read_manifest(path, kind)
    lucene = path / LUCENE_DIR
    if not lucene.is_dir() or not any(lucene.glob("segments_*")):
        raise LilsrError(f"{path}: no Lucene index under {LUCENE_DIR}/ ({MANIFEST} is there); rebuild the index")
    check_checksums(lucene, heap)
    return lucene, manifest


_PATH = re.compile(r'path="([^"]+)"')
_RESOURCE = re.compile(r"resource=([^\s()]+)")
_NO_FILE = re.compile(r"(?:NoSuchFileException|FileNotFoundException): (\S+)")
_DETAIL = re.compile(r"(?:Exception|Error): (.*?)(?: \(resource=| at [a-z]+\.|$)")


def _corrupt(lucene: Path, exc: Exception, what: str) -> LilsrError:
    """One line from a Java exception about a damaged index: the file it names, and Lucene's reason."""
    message = " ".join(str(exc).split()).removeprefix("JVM exception occurred: ")
    found = _PATH.search(message) or _RESOURCE.search(message) or _NO_FILE.search(message)
    detail = _DETAIL.search(message)
    reason = (detail.group(1) if detail else message)[:200].rstrip(" :")
    return LilsrError(f"{found.group(1) if found else lucene}: {what} ({reason}); the index is damaged, rebuild it "
                      "('lilsr index ... --overwrite')")


def check_checksums(lucene: str | Path, heap: str | None = None) -> None:
    """Lucene's own integrity check of every file, in the in-process JVM: opening the index reads the commit
    (``segments_N``) and each segment's small files through their checksums, and ``checkIntegrity`` verifies
    the CRC32 footer of every other file (postings, terms, stored fields, doc values). A flipped byte
    anywhere becomes one error naming the file, before any query runs."""
    lucene = Path(lucene)
    jvm.start_jvm(heap)
    file_cls = jvm.autoclass("java.io.File")
    fs_directory = jvm.autoclass("org.apache.lucene.store.FSDirectory")
    directory_reader = jvm.autoclass("org.apache.lucene.index.DirectoryReader")
    directory = reader = None
    try:
        directory = fs_directory.open(file_cls(str(lucene.resolve())).toPath())  # the JVM keeps the cwd it started in
        reader = directory_reader.open(directory)
        leaves = reader.leaves()
        for i in range(leaves.size()):
            leaves.get(i).reader().checkIntegrity()
    except Exception as exc:  # jnius.JavaException: CorruptIndexException, EOFException, NoSuchFileException...
        raise _corrupt(lucene, exc, "Lucene's checksums or structure do not hold") from None
    finally:
        for handle in (reader, directory):
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - closing a reader of a corrupt index may fail too
                    pass


def check_index(lucene: str | Path, heap: str | None = None) -> None:
    """Lucene's CheckIndex (``--verify``): every checksum plus a walk of every segment's postings, in a child
    JVM. A problem becomes one error with CheckIndex's verdict."""
    lucene = Path(lucene)
    command = jvm.java_command("org.apache.lucene.index.CheckIndex", str(lucene), heap=heap)
    result = jvm.run_child(command)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
        verdict = [line for line in lines if ("ERROR" in line or "broken segments" in line)
                   and "-exorcise" not in line]
        raise LilsrError(f"{lucene}: Lucene's CheckIndex found problems ({' | '.join((verdict or lines)[-3:])[:400]}); "
                         "rebuild the index")
