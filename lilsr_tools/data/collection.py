"""Test collections: the BEIR layout and MS MARCO-style TSV, read in place and streamed.

A collection name such as ``scifact`` resolves under ``$LILSR_DATA_DIR``, then the local cache
(``~/.cache/lilsr/datasets``); when the machine is online the official BEIR archive is downloaded into
the cache. A path to a folder is used as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..atomic import atomic_dir
from ..errors import LilsrError
from .jsonl import read_jsonl, read_lines, require_field

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text joined as Anserini's flat BEIR indexes join them."""
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()


@dataclass(frozen=True)
class Query:
    id: str
    text: str


def check_id(value, path, number: int, what: str) -> str:
    """Ids end up in TREC run files, whose columns are whitespace-separated."""
    value = str(value)
    if not value or _WHITESPACE.search(value):
        raise LilsrError(f"{path}:{number}: {what} id {value!r} is empty or contains whitespace")
    return value


def read_corpus(path: str | Path, start: int = 0) -> Iterator[Document]:
    """Stream documents from a BEIR ``corpus.jsonl`` or an ``id<TAB>text`` TSV file, from the ``start``-th
    (0-based; the ones before are skipped unparsed). A duplicate id is an error naming both lines (a store
    needs unique ids; a run could not tell the two documents apart)."""
    path = Path(path)
    first: dict[str, int] = {}

    def unique(doc_id: str, number: int) -> str:
        if doc_id in first:
            raise LilsrError(f"{path}:{number}: duplicate document id {doc_id!r} (first on line {first[doc_id]}); "
                             "ids must be unique")
        first[doc_id] = number
        return doc_id

    if path.suffix == ".tsv":
        for number, (doc_id, text) in _read_tsv_pairs(path, start):
            yield Document(unique(check_id(doc_id, path, number, "document"), number), "", text)
        return
    for number, obj in read_jsonl(path, start):
        doc_id = unique(check_id(require_field(obj, "_id", path, number), path, number, "document"), number)
        title = obj.get("title") or ""
        text = obj.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise LilsrError(f"{path}:{number}: 'title' and 'text' must be strings")
        yield Document(doc_id, title, text)


def read_queries(path: str | Path, only: set[str] | None = None, topic_field: str = "title") -> list[Query]:
    """Read queries from BEIR ``queries.jsonl``, ``id<TAB>text`` TSV (MS MARCO ``queries.tsv``) or TREC
    topics (``<top>`` or XML; ``topic_field`` picks title, desc or narr); the format is sniffed from the
    content. ``only`` keeps those ids, in file order."""
    from .topics import read_trec_topics, read_trec_xml_topics, sniff_format

    path = Path(path)
    queries: list[Query] = []
    seen: dict[str, int] = {}
    kind = sniff_format(path)
    if kind == "tsv":
        rows = _read_tsv_queries(path)
    elif kind == "trec":
        rows = read_trec_topics(path, topic_field)
    elif kind == "trec-xml":
        rows = read_trec_xml_topics(path, topic_field)
    else:
        rows = ((n, require_field(obj, "_id", path, n), require_field(obj, "text", path, n, (str,)))
                for n, obj in read_jsonl(path))
    for number, qid, text in rows:
        qid = check_id(qid, path, number, "query")
        if qid in seen:
            raise LilsrError(f"{path}:{number}: duplicate query id {qid!r} (first on line {seen[qid]})")
        seen[qid] = number
        if only is None or qid in only:
            queries.append(Query(qid, text))
    return queries


def count_documents(path: str | Path) -> int:
    """Documents in a corpus file without parsing them: its lines that ``read_corpus`` reads."""
    path = Path(path)
    if path.suffix == ".tsv":
        return sum(1 for _, line in read_lines(path) if line)
    return sum(1 for _, line in read_lines(path) if line.strip())


def _read_tsv_pairs(path: Path, start: int = 0) -> Iterator[tuple[int, tuple[str, str]]]:
    for number, line in read_lines(path):
        if not line:
            continue
        if start:
            start -= 1
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise LilsrError(f"{path}:{number}: expected 'id<TAB>text'")
        yield number, (parts[0], " ".join(parts[1:]))


# first-line field names that make a queries TSV line a header, not a query (compared lower-case, - and _
# removed): both fields must match, so that a query whose id is "id" is still a query
_TSV_HEADER_IDS = {"qid", "queryid", "id", "topic", "topicid", "number", "num"}
_TSV_HEADER_TEXTS = {"query", "text", "question", "querytext", "title", "topic"}


def _read_tsv_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, qid, text)`` of a ``qid<TAB>text`` file. A header line and a third field are refused: the
    header would become a query, and a third field (a tab in the text, or another column) would be glued to
    the text."""
    for number, line in read_lines(path):
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise LilsrError(f"{path}:{number}: expected 'qid<TAB>text'")
        if len(parts) > 2:
            raise LilsrError(f"{path}:{number}: {len(parts)} tab-separated fields; a queries TSV line is "
                             "'qid<TAB>text' (replace a tab inside the text with a space, or drop the extra column)")
        qid, text = parts
        if number == 1 and _header_word(qid) in _TSV_HEADER_IDS and _header_word(text) in _TSV_HEADER_TEXTS:
            raise LilsrError(f"{path}:1: a header line ({qid!r}, {text!r}), not a query; a queries TSV has no "
                             "header: remove that line")
        yield number, qid, text


def _header_word(field: str) -> str:
    return field.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


@dataclass(frozen=True)
class Collection:
    """A collection folder in BEIR layout."""

    name: str
    root: Path

    @property
    def corpus_path(self) -> Path:
        return self.root / "corpus.jsonl"

    @property
    def queries_path(self) -> Path:
        return self.root / "queries.jsonl"

    def qrels_path(self, split: str) -> Path:
        path = self.root / "qrels" / f"{split}.tsv"
        if not path.is_file():
            splits = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise LilsrError(f"{self.name}: no qrels for split '{split}' ({path}); available: {', '.join(splits)}")
        return path

    def corpus(self) -> Iterator[Document]:
        return read_corpus(self.corpus_path)

    def queries(self, split: str | None = None) -> list[Query]:
        """Queries of the collection; with ``split``, only those judged in that split's qrels."""
        if split is None:
            return read_queries(self.queries_path)
        from .qrels import read_qrels

        judged = set(read_qrels(self.qrels_path(split)))
        return read_queries(self.queries_path, only=judged)

    def qrels(self, split: str):
        from .qrels import read_qrels

        return read_qrels(self.qrels_path(split))


def data_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("LILSR_DATA_DIR"):
        dirs.append(Path(os.environ["LILSR_DATA_DIR"]).expanduser())
    dirs.append(cache_dir())
    return dirs


def cache_dir() -> Path:
    base = os.environ.get("LILSR_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "lilsr")
    return Path(base) / "datasets"


IRDS_PREFIX = "irds:"


def resolve_collection(name_or_path: str | Path, download: bool = True) -> Collection:
    """Find a collection by folder path or by name (``$LILSR_DATA_DIR``, cache, then BEIR download);
    ``irds:<ir_datasets id>`` exports an ir_datasets dataset into the cache once (see ``from_ir_datasets``)."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir():
        return _checked(Collection(candidate.name, candidate))
    name = str(name_or_path)
    if name.startswith(IRDS_PREFIX):
        return _checked(from_ir_datasets(name[len(IRDS_PREFIX):]))
    if "/" in name or name.startswith("."):
        raise LilsrError(f"{name}: no such file or folder")
    for folder in data_dirs():
        if (folder / name / "corpus.jsonl").is_file():
            return _checked(Collection(name, folder / name))
    if download:
        return _checked(Collection(name, _download_beir(name)))
    raise LilsrError(f"collection '{name}' not found in {', '.join(map(str, data_dirs()))}")


def _checked(collection: Collection) -> Collection:
    if not collection.corpus_path.is_file():
        raise LilsrError(f"{collection.root}: no corpus.jsonl; a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/")
    return collection


def _download_beir(name: str) -> Path:
    target = cache_dir() / name
    url = BEIR_URL.format(name=name)
    searched = ", ".join(map(str, data_dirs()))
    try:
        with atomic_dir(target, overwrite=True) as tmp:
            archive = tmp / f"{name}.zip"
            with urllib.request.urlopen(url, timeout=20) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(tmp)
            archive.unlink()
            inner = tmp / name
            if inner.is_dir():  # BEIR archives hold one top folder named after the dataset
                for item in inner.iterdir():
                    item.rename(tmp / item.name)
                inner.rmdir()
    except (urllib.error.URLError, OSError, zipfile.BadZipFile) as exc:
        raise LilsrError(
            f"collection '{name}' is not in {searched} and could not be downloaded from {url} ({exc}); "
            f"offline, put the BEIR folder (corpus.jsonl, queries.jsonl, qrels/) at {cache_dir() / name} "
            "or set LILSR_DATA_DIR to the folder holding it") from None
    return target


def from_ir_datasets(dataset_id: str, split: str = "test", progress: bool | None = None) -> Collection:
    """An ir_datasets dataset (``msmarco-passage/trec-dl-2019/judged``, ``beir/scifact/test``, ...) as a BEIR
    folder in the cache (``<cache>/irds/<id with / as __>``), exported once: documents (title, text),
    queries (their default text: a TREC topic's title) and qrels as split ``split``. ir_datasets downloads
    what it lacks, so the first use needs the network (and the ``ir_datasets`` package); later uses,
    offline included, read the exported folder."""
    target = cache_dir() / "irds" / dataset_id.replace("/", "__")
    if (target / "corpus.jsonl").is_file():
        return Collection(dataset_id, target)
    try:
        import ir_datasets
    except ImportError:
        raise LilsrError(f"irds:{dataset_id} needs the ir_datasets package (pip install ir_datasets, or the "
                         "irds extra)") from None
    import json

    from ..progress import bar

    try:
        dataset = ir_datasets.load(dataset_id)
    except KeyError:
        raise LilsrError(f"irds:{dataset_id}: ir_datasets has no dataset with this id; ids are listed at "
                         "https://ir-datasets.com") from None
    missing = [part for part, has in (("documents", dataset.has_docs()), ("queries", dataset.has_queries()))
               if not has]
    if missing:
        raise LilsrError(f"irds:{dataset_id} has no {' or '.join(missing)}; pick an id with documents, queries "
                         "and qrels (e.g. msmarco-passage/trec-dl-2019/judged)")

    def text_of(item) -> str:
        text = getattr(item, "text", None)
        return text if isinstance(text, str) else item.default_text()

    try:
        with atomic_dir(target, overwrite=True) as tmp:
            with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as out:
                for doc in bar(dataset.docs_iter(), total=dataset.docs_count(), desc=f"export {dataset_id}",
                               unit="doc", progress=progress):
                    title = getattr(doc, "title", "") or ""
                    out.write(json.dumps({"_id": doc.doc_id, "title": title if isinstance(title, str) else "",
                                          "text": text_of(doc)}, ensure_ascii=False) + "\n")
            with open(tmp / "queries.jsonl", "w", encoding="utf-8") as out:
                for query in dataset.queries_iter():
                    out.write(json.dumps({"_id": query.query_id, "text": text_of(query)}, ensure_ascii=False) + "\n")
            if dataset.has_qrels():
                (tmp / "qrels").mkdir()
                with open(tmp / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as out:
                    out.write("query-id\tcorpus-id\tscore\n")
                    for qrel in dataset.qrels_iter():
                        out.write(f"{qrel.query_id}\t{qrel.doc_id}\t{int(qrel.relevance)}\n")
    except (OSError, ConnectionError) as exc:  # offline, or a download that failed
        raise LilsrError(f"irds:{dataset_id}: ir_datasets could not provide the data ({exc}); the first use "
                         f"needs the network, or put a BEIR folder at {target}") from None
    return Collection(dataset_id, target)
