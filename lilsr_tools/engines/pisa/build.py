"""``lilsr index pisa``: a PISA index folder from a vector store.

Layout of ``OUT/``::

    manifest.json   kind "lilsr.pisa-index": scale, encoding, block size, counts, posting statistics, bytes
    vocab.json      the store's vocabulary (query tokens outside it are counted as unknown)
    pisa/           PISA's files: fwd.terms/termlex (sorted lexicon), fwd.documents/doclex (external ids),
                    quantized.q0.bmw.<block_size> (block-max data), quantized.q0.bmw.<block_size>.<encoding>
                    (the compressed index), pt_meta.json (so that PyTerrier's PisaIndex opens it too)

How the integers get there. Impacts are ``round(w * scale)`` (``vectors.convert.quantize``: half to even,
32-bit overflow refused, zeros dropped and counted). We write them as PISA's *binary collection*
(``inv.docs``, ``inv.freqs``, ``inv.sizes``: little-endian uint32 sequences, each prefixed by its length;
the first sequence of ``inv.docs`` is ``[number of documents]``), one posting list per term, doc ids in
store order. A term is named by its vocabulary id (``pisa_term``: PISA lower-cases query terms, so a token
like ``[CLS]`` would never match), and the lists come in string order of those names (PISA finds query
terms by binary search in its lexicon). PISA itself then compresses the lists and computes the block-max
scores of its ``quantized`` scorer (score = query weight x stored integer) in ``prepare_index``; the
uncompressed collection is deleted afterwards.

We do not go through PyTerrier's ``PisaToksIndexer``: it loops over every posting in Python and stores
``int(w * scale)`` with its own ``scale`` (default 100, truncating), on top of any quantization done before.
Given our integers, ids as terms and ``scale=1``, it writes the same posting lists (a test checks this).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ...locks import locks_output
from ...atomic import atomic_dir, check_can_write, fault_point
from ...errors import LilsrError
from ...manifest import read_manifest, write_manifest
from ...vectors.convert import impact_matrix
from ...vectors.store import KIND as VECTORS_KIND
from ...vectors.store import SparseVectors, load_vectors, posting_stats, vocab_digest
from ..base import folder_bytes
from ..param_specs import PISA, PISA_ENCODINGS
from ..file_checks import file_records
from .pisathon import load_pisathon, pisa_version, stdout_to_stderr

KIND = "lilsr.pisa-index"
PISA_DIR = "pisa"
SCORER = "quantized"  # PISA's dot-product scorer: query weight x the stored integer
# PISA's posting-list codecs, as compiled into pyterrier-pisa 0.4.9 (PisaIndexEncoding)
ENCODINGS = PISA_ENCODINGS
BUILD_DEFAULTS = PISA.defaults("build")
_UINT32 = np.dtype("<u4")


def pisa_files(encoding: str, block_size: int) -> tuple[str, str]:
    """Names of the block-max data and the compressed index that ``prepare_index`` writes and maps."""
    wand = f"{SCORER}.q0.bmw.{block_size}"
    return wand, f"{wand}.{encoding}"


def build_params(params: dict) -> dict:
    """Validated build parameters with defaults filled in (None: the default)."""
    return PISA.parse("build", {k: v for k, v in params.items() if v is not None})


def pisa_term(token_id: int) -> str:
    """PISA's name for vocabulary entry ``token_id``: its decimal id. PISA lower-cases query terms (so a
    token like ``[CLS]`` could never be found) and its lexicons are one string per line; ids avoid both."""
    return str(token_id)


def _check_lines(strings, what: str, where) -> None:
    """PISA's lexicons are one string per line: a string that is empty or holds a line break cannot go in."""
    for text in strings:
        if not text or "\n" in text or "\r" in text:
            raise LilsrError(f"{where}: {what} {text!r} is empty or holds a line break, which PISA's one-per-line "
                             "lexicon cannot store")


def _write_sequences(path: Path, heads: list[np.ndarray], lengths: np.ndarray, values: np.ndarray,
                     ptr: np.ndarray, order: np.ndarray) -> None:
    """Write ``heads`` then, for each list ``order[i]``, ``[length] + values[ptr[t]:ptr[t+1]]`` as uint32."""
    with open(path, "wb") as handle:
        for head in heads:
            handle.write(np.asarray(head, dtype=_UINT32).tobytes())
        for t in order.tolist():  # one write per term, never per posting
            lo, hi = int(ptr[t]), int(ptr[t + 1])
            handle.write(np.asarray([lengths[t]], dtype=_UINT32).tobytes())
            handle.write(np.asarray(values[lo:hi], dtype=_UINT32).tobytes())


def write_binary_collection(vectors: SparseVectors, folder: Path, scale: float) -> dict:
    """PISA's binary collection and lexicons of ``vectors`` quantized at ``scale``, in ``folder``; the counts."""
    matrix = impact_matrix(vectors, scale)
    doc_lengths = np.asarray(matrix.sum(axis=1), dtype=np.int64).ravel()
    if doc_lengths.size and doc_lengths.max() > np.iinfo(np.uint32).max:
        raise LilsrError(f"a document's impacts sum past PISA's 32-bit document length at scale {scale:g}; "
                         "choose a smaller scale")
    by_term = matrix.tocsc()
    by_term.sort_indices()
    df = np.diff(by_term.indptr)
    _check_lines(vectors.ids, "document id", vectors.path or "vectors")
    # PISA's terms are the vocabulary ids as decimal strings, in string order (see pisa_term)
    live = np.flatnonzero(df)
    sorted_terms = sorted(map(pisa_term, live.tolist()))
    order = np.asarray([int(term) for term in sorted_terms], dtype=np.int64)
    n_docs = len(vectors)
    _write_sequences(folder / "inv.docs", [[1, n_docs]], df, by_term.indices, by_term.indptr, order)
    _write_sequences(folder / "inv.freqs", [], df, by_term.data, by_term.indptr, order)
    with open(folder / "inv.sizes", "wb") as handle:
        handle.write(np.asarray([n_docs], dtype=_UINT32).tobytes())
        handle.write(doc_lengths.astype(_UINT32).tobytes())
    (folder / "fwd.terms").write_text("".join(f"{t}\n" for t in sorted_terms), encoding="utf-8")
    (folder / "fwd.documents").write_text("".join(f"{d}\n" for d in vectors.ids), encoding="utf-8")
    return {"docs": n_docs, "terms": len(sorted_terms), "postings": int(by_term.nnz),
            "dropped_zero_after_rounding": int(vectors.nnz - by_term.nnz),
            "empty_docs": int((doc_lengths == 0).sum()), "vocab_size": len(vectors.vocab),
            "sum_impacts": int(doc_lengths.sum()), "max_impact": int(by_term.data.max()) if by_term.nnz else 0}, df


@locks_output()
def build_pisa_index(source, out, *, overwrite: bool = False, **params) -> Path:
    """Build a ``lilsr.pisa-index`` folder at ``out`` from a vector store (a folder or one in memory)."""
    params = build_params(params)
    out = check_can_write(out, overwrite)
    pisathon = load_pisathon()  # a missing package fails before any work
    if isinstance(source, SparseVectors):
        vectors = source
    else:
        kind = read_manifest(source).get("kind")
        if kind != VECTORS_KIND:
            raise LilsrError(f"{source} holds a '{kind}'; index a vector store ('lilsr encode corpus' or "
                             "'lilsr vectors import')")
        vectors = load_vectors(source)
    started = time.perf_counter()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        folder = tmp / PISA_DIR
        folder.mkdir()
        counts, df = write_binary_collection(vectors, folder, params["scale"])
        fault_point("pisa:built")
        pisathon.build_binlex(str(folder / "fwd.terms"), str(folder / "fwd.termlex"))
        pisathon.build_binlex(str(folder / "fwd.documents"), str(folder / "fwd.doclex"))
        write_seconds = time.perf_counter() - started
        # PISA compresses the lists and writes the block-max data (what a search would otherwise do first)
        wand, index = pisa_files(params["encoding"], params["block_size"])
        context = pisathon.RetrievalContext()
        with stdout_to_stderr():
            pisathon.prepare_index(context, str(folder), params["encoding"], SCORER, "",
                                   block_size=params["block_size"], quantize=0, stop_fname="")
        del context
        for name in (wand, index):
            if not (folder / name).is_file():
                raise LilsrError(f"PISA did not write {name}; this pyterrier-pisa names its files differently")
        for name in ("inv.docs", "inv.freqs", "inv.sizes"):
            (folder / name).unlink()  # the uncompressed copy; the compressed index holds the same integers
        (folder / "pt_meta.json").write_text(json.dumps({"type": "sparse_index", "format": "pisa",
                                                         "package_hint": "pyterrier-pisa", "stemmer": "none"}))
        (tmp / "vocab.json").write_text(json.dumps(list(vectors.vocab), ensure_ascii=False), encoding="utf-8")
        # every file PISA (or our loader) reads, size and CRC-32 checked on every load (engines.file_checks)
        files = ["vocab.json", *(f"{PISA_DIR}/{name}" for name in
                                 ("fwd.terms", "fwd.termlex", "fwd.documents", "fwd.doclex", wand, index))]
        write_manifest(
            tmp, KIND,
            params={**params, "quantization": "round(w * scale)", "scorer": SCORER,
                    "source": str(vectors.path) if vectors.path else None, "source_kind": VECTORS_KIND,
                    "model": vectors.manifest.get("model")},
            counts=counts, postings=posting_stats(df), files={"wand": wand, "index": index},
            index_bytes=folder_bytes(folder), vocab_digest=vocab_digest(vectors.vocab),
            build_seconds=round(time.perf_counter() - started, 3),
            timings={"write_collection_s": round(write_seconds, 3),
                     "pisa_compress_s": round(time.perf_counter() - started - write_seconds, 3)},
            engine_version={"pyterrier-pisa": pisa_version()}, checked_files=file_records(tmp, files),
            hash_files=[*files, f"{PISA_DIR}/pt_meta.json"])
    return Path(out)
