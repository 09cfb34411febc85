"""Common Index File Format (CIFF) v1: the inverted-index interchange of Anserini, PISA, JASS, Terrier, BMP.

A CIFF file is a sequence of length-delimited protobuf messages (each preceded by its size as a varint, as
Java's ``writeDelimitedTo`` writes them): one ``Header``, then ``num_postings_lists`` ``PostingsList``
messages, then ``num_doc_records`` ``DocRecord`` messages. The message types (package ``io.osirrc.ciff``,
field numbers and types as in the format's ``CommonIndexFileFormat.proto``) are built at run time from a
descriptor, with the ``protobuf`` package doing all encoding and decoding; no generated module to keep in
step with the protobuf runtime.

What we write for a vector store quantized at ``scale``:

- one postings list per token with at least one positive impact, in code point (= UTF-8 byte) order of the
  tokens, as Lucene's exporter does; ``tf`` is the integer impact ``round(w * scale)``; doc ids are gaps
  (the first absolute), ``df`` the list length, ``cf`` the sum of its impacts;
- one doc record per document in store order (``docid`` = position, ``collection_docid`` = our id,
  ``doclength`` = the sum of its impacts); documents without postings keep their record;
- the header's ``description`` records the scale (``scale=100``), so that ``read_ciff`` divides it back out.

Reading checks what a half-written or foreign file would get wrong (truncation, a header that is not CIFF v1,
doc ids out of order or out of range, duplicate terms, counts that disagree) and says where.
"""

from __future__ import annotations

import math
import mmap
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from .. import __version__
from ..atomic import atomic_file
from ..errors import LilsrError
from ..progress import enabled as progress_enabled
from .convert import DEFAULT_SCALE, impact_matrix
from .store import SparseVectors

PACKAGE = "io.osirrc.ciff"
VERSION = 1
MAX_INT32 = 2**31 - 1
_SCALE = re.compile(r"\bscale=([0-9.eE+-]+)")

# (message, [(field, number, type, repeated)]) as in CommonIndexFileFormat.proto (proto3)
_SCHEMA = {
    "Header": [("version", 1, "int32"), ("num_postings_lists", 2, "int32"), ("num_doc_records", 3, "int32"),
               ("total_postings_lists", 4, "int32"), ("total_docs", 5, "int32"),
               ("total_terms_in_collection", 6, "int64"), ("average_doclength", 7, "double"),
               ("description", 8, "string")],
    "Posting": [("docid", 1, "int32"), ("tf", 2, "int32")],
    "PostingsList": [("term", 1, "string"), ("df", 2, "int64"), ("cf", 3, "int64"),
                     ("postings", 4, "Posting[]")],
    "DocRecord": [("docid", 1, "int32"), ("collection_docid", 2, "string"), ("doclength", 3, "int32")],
}


@lru_cache(maxsize=1)
def messages() -> dict:
    """The four CIFF message classes, built from a descriptor in a private pool."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError as exc:
        raise LilsrError(f"CIFF needs the protobuf package ({exc}); run 'make venv'") from None
    field_proto = descriptor_pb2.FieldDescriptorProto
    types = {"int32": field_proto.TYPE_INT32, "int64": field_proto.TYPE_INT64, "double": field_proto.TYPE_DOUBLE,
             "string": field_proto.TYPE_STRING}
    file = descriptor_pb2.FileDescriptorProto(name="CommonIndexFileFormat.proto", package=PACKAGE, syntax="proto3")
    for name, fields in _SCHEMA.items():
        message = file.message_type.add(name=name)
        for field, number, kind in fields:
            if kind.endswith("[]"):
                message.field.add(name=field, number=number, label=field_proto.LABEL_REPEATED,
                                  type=field_proto.TYPE_MESSAGE, type_name=f".{PACKAGE}.{kind[:-2]}")
            else:
                message.field.add(name=field, number=number, label=field_proto.LABEL_OPTIONAL, type=types[kind])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in _SCHEMA}


def _delimited(message) -> bytes:
    from google.protobuf.internal.encoder import _VarintBytes  # protobuf's own varint writer

    payload = message.SerializeToString()
    return _VarintBytes(len(payload)) + payload


def write_ciff(vectors: SparseVectors, out: str | Path, scale: float = DEFAULT_SCALE, overwrite: bool = False,
               progress: bool = True) -> dict:
    """Write ``vectors`` quantized at ``scale`` as a CIFF v1 file at ``out`` (atomically); return the counts."""
    classes = messages()
    matrix = impact_matrix(vectors, scale)
    n_docs = len(vectors)
    if n_docs > MAX_INT32:
        raise LilsrError(f"{n_docs} documents do not fit CIFF's 32-bit doc ids")
    doc_lengths = np.asarray(matrix.sum(axis=1), dtype=np.int64).ravel()
    if doc_lengths.size and doc_lengths.max() > MAX_INT32:
        raise LilsrError(f"a document's impacts sum past CIFF's 32-bit doclength at scale {scale:g}; "
                         "choose a smaller scale")
    by_term = matrix.tocsc()
    by_term.sort_indices()
    df = np.diff(by_term.indptr)
    live = np.flatnonzero(df).tolist()
    order = sorted(live, key=vectors.vocab.__getitem__)
    total = int(doc_lengths.sum())
    source = f" from {vectors.path}" if vectors.path else ""
    model = vectors.manifest.get("model") if vectors.manifest else None
    description = (f"lilsr-tools {__version__}: learned sparse vectors{source}"
                   f"{f' (model {model})' if model else ''}; tf = impact round(w * scale), scale={scale:g}; "
                   f"vocabulary of {len(vectors.vocab)} tokens")
    header = classes["Header"](version=VERSION, num_postings_lists=len(order), num_doc_records=n_docs,
                               total_postings_lists=len(order), total_docs=n_docs,
                               total_terms_in_collection=total, average_doclength=total / n_docs if n_docs else 0.0,
                               description=description)
    postings_list, doc_record = classes["PostingsList"], classes["DocRecord"]
    with atomic_file(out, mode="wb", overwrite=overwrite) as handle:
        handle.write(_delimited(header))
        for t in tqdm(order, desc="CIFF postings lists", unit="list", disable=not progress_enabled(progress), leave=False):
            lo, hi = int(by_term.indptr[t]), int(by_term.indptr[t + 1])
            docs = by_term.indices[lo:hi].astype(np.int64)
            tfs = by_term.data[lo:hi]
            gaps = np.diff(docs, prepend=0)  # the first is the doc id itself
            message = postings_list(term=vectors.vocab[t], df=hi - lo, cf=int(tfs.sum(dtype=np.int64)))
            add = message.postings.add
            for gap, tf in zip(gaps.tolist(), tfs.tolist()):  # protobuf has no bulk setter for message lists
                add(docid=gap, tf=tf)
            handle.write(_delimited(message))
        for i, (doc_id, length) in enumerate(zip(vectors.ids, doc_lengths.tolist())):
            handle.write(_delimited(doc_record(docid=i, collection_docid=doc_id, doclength=length)))
    return {"docs": n_docs, "postings_lists": len(order), "postings": int(by_term.nnz),
            "dropped_zero_after_rounding": int(vectors.nnz - by_term.nnz), "total_terms": total,
            "empty_docs": int((doc_lengths == 0).sum())}


class _Reader:
    """Length-delimited messages from a memory-mapped file, with errors that say where."""

    def __init__(self, path: Path, data):
        from google.protobuf.internal.decoder import _DecodeVarint32  # protobuf's own varint reader
        from google.protobuf.message import DecodeError

        self.path, self.data, self.pos = path, data, 0
        self._varint, self._decode_error = _DecodeVarint32, DecodeError

    def read(self, cls, what: str):
        start = self.pos
        if start >= len(self.data):
            raise LilsrError(f"{self.path}: truncated CIFF file: it ends before {what} (offset {start}); "
                             "re-export it")
        try:
            size, begin = self._varint(self.data, start)
        except (IndexError, self._decode_error):
            raise LilsrError(f"{self.path}: truncated CIFF file: {what} has no complete length prefix "
                             f"(offset {start}); re-export it") from None
        end = begin + size
        if end > len(self.data):
            raise LilsrError(f"{self.path}: truncated CIFF file: {what} needs {size} bytes at offset {begin}, "
                             f"the file ends at {len(self.data)}; re-export it")
        message = cls()
        try:
            message.ParseFromString(self.data[begin:end])
        except self._decode_error as exc:
            raise LilsrError(f"{self.path}: {what} (offset {start}) is not a valid protobuf message ({exc})") from None
        self.pos = end
        return message


def read_header(path: str | Path):
    """The header of a CIFF file (checked to be CIFF v1)."""
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read(1 << 20)
    return _read_header(_Reader(path, data))


def _read_header(reader: _Reader):
    path = reader.path
    try:
        header = reader.read(messages()["Header"], "the header")
    except LilsrError as exc:
        raise LilsrError(f"{path}: not a CIFF v{VERSION} file (no Header message at its start: "
                         f"{str(exc).removeprefix(f'{path}: ')})") from None
    if header.version != VERSION or header.num_postings_lists < 0 or header.num_doc_records < 0:
        raise LilsrError(f"{path}: not a CIFF v{VERSION} file (header version {header.version}, "
                         f"{header.num_postings_lists} postings lists, {header.num_doc_records} doc records)")
    return header


def scale_of(header) -> float | None:
    """The quantization scale recorded in a header's description by ``write_ciff`` (None if absent)."""
    found = _SCALE.search(header.description)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def check_weights(path, tfs: np.ndarray, scale: float) -> np.ndarray:
    """The float32 weights ``tf / scale``; refuses a scale that makes one infinite (a tiny scale) or rounds a
    positive tf to zero (a huge one), naming the tf and the scale range that works."""
    with np.errstate(over="ignore", under="ignore"):  # checked below, with the file and the fix
        weights = (tfs / scale).astype(np.float32)
    positive = tfs > 0
    if not positive.any():
        return weights
    top, low = float(tfs[positive].max()), float(tfs[positive].min())
    if not np.isfinite(weights).all():
        raise LilsrError(f"{path}: scale {scale:g} makes tf {top:g} a weight above float32's range "
                         f"({top / scale:.3g}); pass --scale above {top / float(np.finfo(np.float32).max):.3g}")
    if (weights[positive] <= 0).any() or low / scale < float(np.finfo(np.float32).tiny):
        raise LilsrError(f"{path}: scale {scale:g} makes tf {low:g} a weight below float32's normal range "
                         f"({low / scale:.3g}); pass --scale below {low / float(np.finfo(np.float32).tiny):.3g}")
    return weights


def read_ciff(path: str | Path, scale: float | None = None, vocab: list[str] | None = None,
              progress: bool = True) -> tuple[SparseVectors, float, dict]:
    """Read a CIFF v1 file into vectors ``tf / scale``; return them, the scale and the header's fields.

    ``scale`` defaults to the one recorded by ``write_ciff``; a CIFF from elsewhere needs it given.
    ``vocab`` (e.g. a model's) fixes the vocabulary and its order: a term outside it is an error. Without it,
    the vocabulary is the file's terms in file order."""
    path = Path(path)
    classes = messages()
    with open(path, "rb") as handle:
        try:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            data = b""
    try:
        reader = _Reader(path, data)
        header = _read_header(reader)
        recorded = scale_of(header)
        scale = float(scale) if scale is not None else recorded
        if scale is None:
            raise LilsrError(f"{path}: the header does not record a quantization scale (not written by lilsr); "
                             "pass --scale (tf / scale becomes the weight)")
        if not (math.isfinite(scale) and scale > 0):  # inf made every weight 0: empty documents
            raise LilsrError(f"{path}: the scale must be a finite number above 0, got {scale}; weights are tf / scale")
        n_docs, n_lists = header.num_doc_records, header.num_postings_lists
        token_ids = {token: i for i, token in enumerate(vocab)} if vocab is not None else {}
        terms: list[str] = []
        columns, rows, values = [], [], []
        for number in tqdm(range(n_lists), desc="CIFF postings lists", unit="list", disable=not progress_enabled(progress),
                           leave=False):
            what = f"postings list {number + 1} of {n_lists}"
            message = reader.read(classes["PostingsList"], what)
            term = message.term
            gaps = np.fromiter((p.docid for p in message.postings), dtype=np.int64, count=len(message.postings))
            tfs = np.fromiter((p.tf for p in message.postings), dtype=np.int64, count=len(message.postings))
            docs = np.cumsum(gaps)
            where = f"{path}: {what} (term {term!r})"
            if not term:
                raise LilsrError(f"{where} has an empty term")
            if gaps.size and (gaps[0] < 0 or np.any(gaps[1:] <= 0)):
                raise LilsrError(f"{where}: postings out of order (doc ids must increase; gaps {gaps[:5].tolist()}...)")
            if gaps.size and docs[-1] >= n_docs:
                raise LilsrError(f"{where}: doc id {int(docs[-1])} is beyond the header's {n_docs} documents")
            if np.any(tfs <= 0):
                raise LilsrError(f"{where}: tf {int(tfs[tfs <= 0][0])} is not positive")
            if message.df != gaps.size or (message.cf and message.cf != int(tfs.sum())):
                raise LilsrError(f"{where}: df {message.df} / cf {message.cf} disagree with its {gaps.size} postings "
                                 f"summing to {int(tfs.sum())}")
            if vocab is not None:
                column = token_ids.get(term)
                if column is None:
                    raise LilsrError(f"{where}: term not in the given vocabulary ({len(vocab)} tokens); the file "
                                     "comes from another vocabulary or tokenizer")
            else:
                column = len(terms)
            terms.append(term)
            columns.append(np.full(gaps.size, column, dtype=np.int64))
            rows.append(docs)
            values.append(tfs)
        if len(set(terms)) != len(terms):
            dup = next(t for i, t in enumerate(terms) if t in terms[:i])
            raise LilsrError(f"{path}: term {dup!r} has more than one postings list")
        ids = []
        for number in range(n_docs):
            record = reader.read(classes["DocRecord"], f"doc record {number + 1} of {n_docs}")
            if record.docid != number:
                raise LilsrError(f"{path}: doc record {number + 1} has docid {record.docid}; records must come in "
                                 "doc id order")
            if not record.collection_docid:
                raise LilsrError(f"{path}: doc record {number + 1} has an empty collection_docid")
            ids.append(record.collection_docid)
        if reader.pos != len(data):
            raise LilsrError(f"{path}: {len(data) - reader.pos} bytes follow the last doc record; the header's counts "
                             "do not describe this file")
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    all_values = np.concatenate(values).astype(np.float64) if values else np.zeros(0)
    weights = check_weights(path, all_values, scale)
    matrix = sp.csr_matrix((weights,
                            (np.concatenate(rows) if rows else np.zeros(0, np.int64),
                             np.concatenate(columns) if columns else np.zeros(0, np.int64))),
                           shape=(n_docs, len(vocab) if vocab is not None else len(terms)))
    vectors = SparseVectors.from_scipy(matrix, vocab if vocab is not None else terms, ids)
    info = {"description": header.description, "scale": scale, "recorded_scale": recorded,
            "postings_lists": n_lists, "docs": n_docs, "postings": int(all_values.size),
            "total_terms_in_collection": header.total_terms_in_collection}
    return vectors, scale, info
