"""Hostile inputs: every (input, command) case must be refused with exit 2 and one line naming the file (and
line), no traceback, and no output left behind. Classes: option ranges, damaged stores, vocabulary
mismatches, impact overflow, damaged Lucene indexes, unwritable outputs, existing outputs, qrels and runs,
vector-collection imports, corpora and queries."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hostile_helpers import assert_refused, lilsr


@dataclass
class Case:
    args: list
    names: list = field(default_factory=list)      # strings the error line must contain (file, :line, option)
    absent: list = field(default_factory=list)     # outputs that must not exist afterwards
    unchanged: dict = field(default_factory=dict)  # {path: bytes} that must be left as they were


CASES: dict[str, tuple[str, Callable]] = {}


def case(klass: str):
    def register(builder):
        CASES[builder.__name__] = (klass, builder)
        return builder
    return register


class Env:
    """What a case builder gets: the tiny artefacts (indexes built on first use) and a scratch folder."""

    def __init__(self, request, tiny, tmp: Path):
        self._request, self.tiny, self.tmp = request, tiny, tmp

    @property
    def native(self) -> Path:
        return self._request.getfixturevalue("tiny_native")

    @property
    def lucene(self) -> Path:
        return self._request.getfixturevalue("tiny_lucene")

    @property
    def jvc(self) -> Path:
        return self._request.getfixturevalue("tiny_jvc")

    def copy(self, src: Path, name: str | None = None) -> Path:
        dst = self.tmp / (name or Path(src).name)
        shutil.copytree(src, dst)
        return dst

    def store_with(self, array: str, edit) -> Path:
        """A copy of the store with ``edit`` applied in place to one array (the manifest is left as it was)."""
        store = self.copy(self.tiny.store, "store")
        file = store / f"{array}.npy"
        data = np.array(np.load(file))
        edit(data)
        np.save(file, data)
        return store

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    def out(self, name: str = "out") -> Path:
        return self.tmp / name

    def file_under(self, name: str = "out") -> Path:
        """A path whose parent is a regular file."""
        blocker = self.write("blocker", "a file, not a folder\n")
        return blocker / name


def _store_vectors(tiny):
    from lilsr_tools.vectors.store import load_vectors

    return load_vectors(tiny.store)


# --- option ranges ------------------------------------------------------------------------------------------

@case("options")
def encode_max_length_zero(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--max-length", "0"], ["--max-length"], [e.out()])


@case("options")
def encode_max_length_above_model(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--max-length", "100000"],
                ["100000", "512 positions", "splade-tiny"], [e.out()])


@case("options")
def encode_batch_size_zero(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--batch-size", "0"], ["--batch-size"], [e.out()])


@case("options")
def encode_limit_negative(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--limit", "-3"], ["--limit"], [e.out()])


@case("options")
def encode_limit_zero(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--limit", "0"], ["--limit"], [e.out()])


@case("options")
def encode_shard_size_zero(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--shard-size", "0"], ["--shard-size"], [e.out()])


@case("options")
def encode_threads_zero(e):
    return Case(["encode", "corpus", e.tiny.corpus_file, e.out(), "--threads", "0"], ["--threads"], [e.out()])


@case("options")
def encode_queries_query_max_length_zero(e):
    return Case(["encode", "queries", e.tiny.corpus, e.out(), "--encoder", "contextual", "--model", "splade-tiny",
                 "--query-max-length", "0"], ["--query-max-length"], [e.out()])


@case("options")
def encode_queries_query_max_length_above_model(e):
    return Case(["encode", "queries", e.tiny.corpus, e.out(), "--encoder", "contextual", "--model", "splade-tiny",
                 "--query-max-length", "5000"], ["5000", "512 positions"], [e.out()])


@case("options")
def search_k_zero(e):
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run, "-k", "0"], ["-k"], [run])


@case("options")
def search_threads_zero(e):
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run, "--threads", "0"], ["--threads"], [run])


@case("options")
def search_native_query_cut_zero(e):
    run = e.out("run.trec")
    return Case(["search", e.native, e.tiny.queries, "--run", run, "-p", "query_cut=0"], ["query_cut"], [run])


@case("options")
def index_lucene_threads_zero(e):
    return Case(["index", "lucene", e.tiny.store, e.out(), "--threads", "0"], ["--threads"], [e.out()])


@case("options")
def index_lucene_scale_zero(e):
    return Case(["index", "lucene", e.tiny.store, e.out(), "--scale", "0"], ["--scale"], [e.out()])


@case("options")
def index_lucene_scale_nan(e):
    return Case(["index", "lucene", e.tiny.store, e.out(), "--scale", "nan"], ["--scale"], [e.out()])


@case("options")
def index_bm25_threads_zero(e):
    return Case(["index", "bm25", e.tiny.corpus, e.out(), "--threads", "0"], ["--threads"], [e.out()])


@case("options")
def index_native_n_postings_zero(e):
    return Case(["index", "native", e.tiny.store, e.out(), "--n-postings", "0"], ["--n-postings"], [e.out()])


@case("options")
def index_native_centroid_fraction_above_one(e):
    return Case(["index", "native", e.tiny.store, e.out(), "--centroid-fraction", "2"], ["--centroid-fraction"],
                [e.out()])


@case("options")
def index_native_blocks_fixed_zero(e):
    return Case(["index", "native", e.tiny.store, e.out(), "--blocks", "fixed:0"], ["--blocks"], [e.out()])


@case("options")
def export_scale_infinite(e):
    return Case(["vectors", "export", e.tiny.store, e.out(), "--format", "anserini", "--scale", "inf"], ["--scale"],
                [e.out()])


@case("options")
def table_inspect_top_zero(e):
    return Case(["table", "inspect", e.tiny.table, "--top", "0"], ["--top"])


@case("options")
def evaluate_measure_with_unknown_parameter(e):
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    # nDCG(rel=2)@10 is a graded measure lilsr supports; RR takes no 'foo'
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "RR(foo=2)@10"], ["RR(foo=2)@10", "foo"])


@case("options")
def evaluate_measure_cutoff_zero(e):
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "nDCG@0"], ["nDCG@0"])


@case("options")
def evaluate_trec_measure_cutoff_zero(e):
    # pytrec_eval aborts the whole process on recall.0: refused before it is called
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "recall.0"], ["recall.0", "cut-off"])


@case("options")
def evaluate_measure_rel_zero(e):
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "R(rel=0)@10"], ["R(rel=0)@10", "rel"])


@case("options")
def evaluate_measure_parameter_twice(e):
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "P(rel=1,rel=2)@5"], ["P(rel=1,rel=2)@5", "rel"])


@case("options")
def evaluate_trec_measure_trailing_text(e):
    run = e.write("run.trec", "q Q0 d 1 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels, "-m", "ndcg_cut.10xyz"], ["ndcg_cut.10xyz"])


# --- damaged vector stores: checked on every load ---------------------------------------------------------

def _out_of_vocab(data):
    data[3] = 40_000


@case("store")
def store_id_outside_vocab_exact_search(e):
    store = e.store_with("indices", _out_of_vocab)
    run = e.out("run.trec")
    return Case(["search", store, e.tiny.queries, "--run", run], [store / "indices.npy", "40000"], [run])


@case("store")
def store_id_outside_vocab_index_lucene(e):
    store = e.store_with("indices", _out_of_vocab)
    return Case(["index", "lucene", store, e.out()], [store / "indices.npy"], [e.out()])


@case("store")
def store_id_outside_vocab_index_native(e):
    store = e.store_with("indices", _out_of_vocab)
    return Case(["index", "native", store, e.out()], [store / "indices.npy"], [e.out()])


@case("store")
def store_id_outside_vocab_info(e):
    store = e.store_with("indices", _out_of_vocab)
    return Case(["vectors", "info", store], [store / "indices.npy"])


@case("store")
def store_nan_weight_info(e):
    store = e.store_with("values", lambda v: v.__setitem__(5, np.nan))
    return Case(["vectors", "info", store], [store / "values.npy", "nan"])


@case("store")
def store_nan_weight_index_native(e):
    store = e.store_with("values", lambda v: v.__setitem__(5, np.nan))
    return Case(["index", "native", store, e.out()], [store / "values.npy"], [e.out()])


@case("store")
def store_negative_weight_exact_search(e):
    store = e.store_with("values", lambda v: v.__setitem__(7, -1.0))
    run = e.out("run.trec")
    return Case(["search", store, e.tiny.queries, "--run", run], [store / "values.npy"], [run])


@case("store")
def store_zero_weight_export(e):
    store = e.store_with("values", lambda v: v.__setitem__(9, 0.0))
    return Case(["vectors", "export", store, e.out(), "--format", "seismic"], [store / "values.npy"], [e.out()])


@case("store")
def store_unsorted_row_info(e):
    def swap(ids):
        ids[1], ids[2] = ids[2], ids[1]
    store = e.store_with("indices", swap)
    return Case(["vectors", "info", store], [store / "indices.npy", "not sorted"])


@case("store")
def store_indptr_decreasing_info(e):
    store = e.store_with("indptr", lambda p: p.__setitem__(2, p[1] - 1))
    return Case(["vectors", "info", store], [store / "indptr.npy"])


@case("store")
def store_truncated_values_info(e):
    store = e.copy(e.tiny.store, "store")
    data = (store / "values.npy").read_bytes()
    (store / "values.npy").write_bytes(data[: len(data) // 2])
    return Case(["vectors", "info", store], [store / "values.npy"])


@case("store")
def store_flipped_weight_info_verify(e):
    # a valid float changed: only the sha256 can tell
    store = e.store_with("values", lambda v: v.__setitem__(11, v[11] * 1.5))
    return Case(["vectors", "info", store, "--verify"], [store / "values.npy", "checksum"])


@case("store")
def store_flipped_weight_search_verify(e):
    store = e.store_with("values", lambda v: v.__setitem__(11, v[11] * 1.5))
    run = e.out("run.trec")
    return Case(["search", store, e.tiny.queries, "--run", run, "--verify"], [store / "values.npy", "checksum"], [run])


@case("store")
def store_duplicate_id_info(e):
    store = e.copy(e.tiny.store, "store")
    ids = (store / "ids.txt").read_text().splitlines()
    ids[4] = ids[1]
    (store / "ids.txt").write_text("\n".join(ids) + "\n")
    return Case(["vectors", "info", store], [f"{store / 'ids.txt'}:5", "duplicate", "line 2"])


@case("store")
def store_id_with_space_info(e):
    store = e.copy(e.tiny.store, "store")
    ids = (store / "ids.txt").read_text().splitlines()
    ids[2] = "two words"
    (store / "ids.txt").write_text("\n".join(ids) + "\n")
    return Case(["vectors", "info", store], [f"{store / 'ids.txt'}:3", "whitespace"])


@case("store")
def store_missing_id_line_info(e):
    store = e.copy(e.tiny.store, "store")
    ids = (store / "ids.txt").read_text().splitlines()
    (store / "ids.txt").write_text("\n".join(ids[:-1]) + "\n")
    return Case(["vectors", "info", store], [store, "ids.txt"])


@case("store")
def store_corrupt_manifest_info(e):
    store = e.copy(e.tiny.store, "store")
    text = (store / "manifest.json").read_text()
    (store / "manifest.json").write_text(text[: len(text) // 2])
    return Case(["vectors", "info", store], [store / "manifest.json", "corrupt manifest"])


@case("store")
def store_missing_vocab_exact_search(e):
    store = e.copy(e.tiny.store, "store")
    (store / "vocab.json").unlink()
    run = e.out("run.trec")
    return Case(["search", store, e.tiny.queries, "--run", run], [store / "vocab.json"], [run])


@case("store")
def store_other_vocab_same_size_info(e):
    store = e.copy(e.tiny.store, "store")
    vocab = json.loads((store / "vocab.json").read_text())
    vocab[100], vocab[101] = vocab[101], vocab[100]
    (store / "vocab.json").write_text(json.dumps(vocab))
    return Case(["vectors", "info", store], [store / "vocab.json"])


@case("store")
def store_wrong_dtype_info(e):
    store = e.copy(e.tiny.store, "store")
    np.save(store / "indices.npy", np.load(store / "indices.npy").astype(np.int64))
    return Case(["vectors", "info", store], [store / "indices.npy", "dtype"])


@case("store")
def store_without_manifest_index_native(e):
    store = e.copy(e.tiny.store, "store")
    (store / "manifest.json").unlink()
    return Case(["index", "native", store, e.out()], [store, "manifest.json"], [e.out()])


@case("store")
def search_a_table_folder(e):
    run = e.out("run.trec")
    return Case(["search", e.tiny.table, e.tiny.queries, "--run", run], [e.tiny.table, "lilsr.table"], [run])


# --- queries encoded over another vocabulary: refused above the engines, for every engine ----------------

def _other_vocab_queries(e) -> Path:
    """Encoded queries whose manifest records another vocabulary (two tokens swapped: same size)."""
    from lilsr_tools.vectors.store import vocab_digest

    queries = e.copy(e.tiny.queries, "queries")
    vocab = json.loads((e.tiny.store / "vocab.json").read_text())
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    manifest = json.loads((queries / "manifest.json").read_text())
    manifest["vocab_digest"] = vocab_digest(vocab)
    (queries / "manifest.json").write_text(json.dumps(manifest))
    return queries


def _other_vocab_tokenizer(e) -> Path:
    """A tokenizer folder whose vocabulary has splade-tiny's size but two tokens swapped."""
    from lilsr_tools.models.presets import load_tokenizer

    folder = e.tmp / "other-tokenizer"
    load_tokenizer("splade-tiny").save_pretrained(str(folder))
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    vocab[by_id[2000]], vocab[by_id[2001]] = 2001, 2000
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


@case("vocabulary")
def other_vocab_queries_exact(e):
    queries = _other_vocab_queries(e)
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, queries, "--run", run], [queries, "vocabulary"], [run])


@case("vocabulary")
def other_vocab_queries_native(e):
    queries = _other_vocab_queries(e)
    run = e.out("run.trec")
    return Case(["search", e.native, queries, "--run", run], [queries, "vocabulary"], [run])


@case("vocabulary")
def other_vocab_queries_lucene(e):
    queries = _other_vocab_queries(e)
    run = e.out("run.trec")
    return Case(["search", e.lucene, queries, "--run", run], [queries, "vocabulary"], [run])


@case("vocabulary")
def other_vocab_raw_queries_binary_encoder(e):
    tokenizer = _other_vocab_tokenizer(e)
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, e.tiny.corpus, "--run", run, "--encoder", "binary", "--model", tokenizer],
                [e.tiny.corpus, "vocabulary"], [run])


# --- integer impacts that overflow ----------------------------------------------------------------------

@case("impacts")
def impact_overflow_index_lucene(e):
    store = e.store_with("values", lambda v: v.__setitem__(20, 1e30))
    ids = (store / "ids.txt").read_text().splitlines()
    return Case(["index", "lucene", store, e.out()], [store, repr(ids[0]), "overflows"], [e.out()])


@case("impacts")
def impact_overflow_export_anserini(e):
    store = e.store_with("values", lambda v: v.__setitem__(20, 1e30))
    return Case(["vectors", "export", store, e.out(), "--format", "anserini"], [store, "overflows"], [e.out()])


@case("impacts")
def impact_document_too_long_index_lucene(e):
    store = e.store_with("values", lambda v: v.__setitem__(slice(0, 200), 20000.0))
    return Case(["index", "lucene", store, e.out()], [store, "lower --scale"], [e.out()])


@case("impacts")
def impact_scale_overflow_index_lucene(e):
    return Case(["index", "lucene", e.tiny.store, e.out(), "--scale", "1e12"], [e.tiny.store, "overflows"], [e.out()])


@case("impacts")
def impact_too_large_in_collection_index_lucene(e):
    jvc = e.copy(e.jvc, "jvc")
    file = jvc / "docs" / "docs00000.jsonl"
    lines = file.read_text().splitlines()
    row = json.loads(lines[2])
    row["vector"][next(iter(row["vector"]))] = 2 ** 40
    lines[2] = json.dumps(row)
    file.write_text("\n".join(lines) + "\n")
    return Case(["index", "lucene", jvc, e.out()], [f"{file}:3"], [e.out()])


# --- damaged Lucene indexes: Lucene's checksums on every load, CheckIndex under --verify ---------------

def _damaged_lucene(e, how: str) -> tuple[Path, Path]:
    index = e.copy(e.lucene, "lucene-index")
    files = sorted((p for p in (index / "lucene").iterdir() if p.is_file() and not p.name.startswith(("segments",
                                                                                                      "write.lock"))),
                   key=lambda p: p.stat().st_size)
    target = files[-1]
    data = bytearray(target.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) - 100]
    target.write_bytes(bytes(data))
    return index, target


@case("lucene")
def lucene_flipped_byte_search(e):
    index, target = _damaged_lucene(e, "flip")
    run = e.out("run.trec")
    return Case(["search", index, e.tiny.queries, "--run", run], [target.name, "rebuild"], [run])


@case("lucene")
def lucene_truncated_file_search(e):
    index, target = _damaged_lucene(e, "truncate")
    run = e.out("run.trec")
    return Case(["search", index, e.tiny.queries, "--run", run], [target.name], [run])


@case("lucene")
def lucene_flipped_byte_search_verify(e):
    index, _ = _damaged_lucene(e, "flip")
    run = e.out("run.trec")
    return Case(["search", index, e.tiny.queries, "--run", run, "--verify"], [index / "lucene", "CheckIndex"], [run])


@case("lucene")
def lucene_commit_missing_search(e):
    index = e.copy(e.lucene, "lucene-index")
    for file in (index / "lucene").glob("segments_*"):
        file.unlink()
    run = e.out("run.trec")
    return Case(["search", index, e.tiny.queries, "--run", run], [index, "no Lucene index"], [run])


@case("lucene")
def lucene_segment_file_missing_search(e):
    index, target = _damaged_lucene(e, "flip")
    target.unlink()
    run = e.out("run.trec")
    return Case(["search", index, e.tiny.queries, "--run", run], [target.name], [run])


# --- outputs that cannot be written --------------------------------------------------------------------

@case("unwritable")
def encode_queries_out_under_a_file(e):
    out = e.file_under()
    return Case(["encode", "queries", e.tiny.corpus, out, "--encoder", "table", "--table", e.tiny.table],
                [out, "not a folder"], [out])


@case("unwritable")
def search_run_under_a_file(e):
    run = e.file_under("run.trec")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run], [run, "not a folder"])


@case("unwritable")
def index_native_out_in_proc(e):
    return Case(["index", "native", e.tiny.store, "/proc/lilsr-index"], ["/proc/lilsr-index", "cannot write"])


@case("unwritable")
def export_seismic_to_proc(e):
    return Case(["vectors", "export", e.tiny.store, "/proc/lilsr.jsonl", "--format", "seismic"],
                ["/proc/lilsr.jsonl", "cannot write"])


@case("unwritable")
def table_export_under_a_file(e):
    out = e.file_under()
    return Case(["table", "export", "splade-tiny", out, "--init", "idf", "--vectors", e.tiny.store], [out], [out])


@case("unwritable")
def encode_corpus_out_under_a_file(e):
    out = e.file_under()
    return Case(["encode", "corpus", e.tiny.corpus_file, out], [out, "not a folder"], [out])


@case("unwritable")
def import_out_in_sys(e):
    return Case(["vectors", "import", e.jvc, "/sys/lilsr-store", "--format", "anserini"], ["/sys/lilsr-store"])


@case("unwritable")
def index_lucene_out_in_read_only_folder(e):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /proc and /sys cases cover refusals for root")
    folder = e.tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return Case(["index", "lucene", e.tiny.store, folder / "out"], [folder / "out", "cannot write"], [folder / "out"])


# --- existing outputs without --overwrite -------------------------------------------------------------------

@case("existing")
def search_run_exists(e):
    run = e.write("run.trec", "precious\n")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run], [run, "--overwrite"],
                [e.out("run.latency.json")], {run: b"precious\n"})


@case("existing")
def search_latency_exists(e):
    latency = e.write("lat.json", "{}\n")
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run, "--latency", latency], [latency, "--overwrite"],
                [run], {latency: b"{}\n"})


@case("existing")
def search_run_and_latency_same_path(e):
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, e.tiny.queries, "--run", run, "--latency", run], [run, "two"], [run])


@case("existing")
def encode_queries_out_exists(e):
    out = e.copy(e.tiny.queries, "queries-out")
    before = (out / "queries.jsonl").read_bytes()
    return Case(["encode", "queries", e.tiny.corpus, out, "--encoder", "table", "--table", e.tiny.table],
                [out, "--overwrite"], [], {out / "queries.jsonl": before})


@case("existing")
def index_native_out_exists(e):
    out = e.write("native-out", "not an index\n")
    return Case(["index", "native", e.tiny.store, out], [out, "is a file"], [], {out: b"not an index\n"})


@case("existing")
def index_native_index_exists(e):
    out = e.copy(e.native, "native-out")
    before = (out / "manifest.json").read_bytes()
    return Case(["index", "native", e.tiny.store, out], [out, "--overwrite"], [], {out / "manifest.json": before})


@case("existing")
def export_seismic_file_exists(e):
    out = e.write("docs.jsonl", "keep\n")
    return Case(["vectors", "export", e.tiny.store, out, "--format", "seismic"], [out, "--overwrite"], [],
                {out: b"keep\n"})


@case("existing")
def table_export_out_exists(e):
    out = e.copy(e.tiny.table, "table-out")
    before = (out / "table.npy").read_bytes()
    return Case(["table", "export", "splade-tiny", out, "--init", "idf", "--vectors", e.tiny.store], [out, "--overwrite"],
                [], {out / "table.npy": before})


@case("existing")
def import_out_exists(e):
    out = e.copy(e.tiny.store, "store-out")
    before = (out / "values.npy").read_bytes()
    return Case(["vectors", "import", e.jvc, out, "--format", "anserini"], [out, "--overwrite"], [],
                {out / "values.npy": before})


# --- qrels and runs -------------------------------------------------------------------------------------

def _run(e) -> Path:
    return e.write("run.trec", "".join(f"{q} Q0 {d} 1 1.0 t\n" for q, d in
                                       (line.split("\t")[:2] for line in e.tiny.qrels.read_text().splitlines()[1:])))


@case("qrels")
def qrels_fractional_relevance(e):
    qrels = e.write("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0.6\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:3", "0.6", "not an integer"])


@case("qrels")
def qrels_conflicting_duplicate(e):
    qrels = e.write("qrels.tsv", "q1 0 d1 1\nq1 0 d2 0\nq1 0 d1 2\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:3", "line 1"])


@case("qrels")
def qrels_relevance_not_a_number(e):
    qrels = e.write("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\thigh\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:3", "'high'"])


@case("qrels")
def qrels_wrong_columns(e):
    qrels = e.write("qrels.tsv", "q1 d1\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:1", "columns"])


@case("qrels")
def qrels_trec_line_missing_a_field(e):
    # once read as document "0" judged 31715818, exit 0
    qrels = e.write("qrels.txt", "q1 0 d1 1\n1 0 31715818\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:2", "3 fields", "TREC"])


@case("qrels")
def qrels_three_fields_without_header(e):
    qrels = e.write("qrels.txt", "1 0 31715818\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:1", "BEIR header"])


@case("qrels")
def qrels_not_utf8(e):
    qrels = e.write("qrels.tsv", b"q1 0 d1 1\nq\xe9 0 d2 1\n")
    return Case(["evaluate", _run(e), "--qrels", qrels], [f"{qrels}:2", "UTF-8"])


@case("qrels")
def run_score_not_a_number(e):
    run = e.write("bad.trec", "q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2 abc t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels], [f"{run}:2", "'abc'"])


@case("qrels")
def run_document_twice(e):
    run = e.write("bad.trec", "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.5 t\nq1 Q0 d1 3 1.0 t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels], [f"{run}:3", "line 1"])


@case("qrels")
def run_infinite_score(e):
    run = e.write("bad.trec", "q1 Q0 d1 1 inf t\n")
    return Case(["evaluate", run, "--qrels", e.tiny.qrels], [f"{run}:1"])


# --- vector collections imported (Anserini JsonVectorCollection, Seismic JSONL) -------------------------

def _jvc_with(e, edit) -> tuple[Path, Path]:
    jvc = e.copy(e.jvc, "jvc")
    file = jvc / "docs" / "docs00000.jsonl"
    lines = file.read_text().splitlines()
    edit(lines)
    file.write_text("\n".join(lines) + "\n")
    return jvc, file


def _set_weight(value):
    def edit(lines):
        row = json.loads(lines[3])
        row["vector"][next(iter(row["vector"]))] = value
        lines[3] = json.dumps(row)
    return edit


@case("import")
def jvc_duplicate_id(e):
    def edit(lines):
        row = json.loads(lines[5])
        row["id"] = json.loads(lines[1])["id"]
        lines[5] = json.dumps(row)
    jvc, file = _jvc_with(e, edit)
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [f"{file}:6", f"{file}:2"], [e.out()])


@case("import")
def jvc_token_outside_vocab(e):
    def edit(lines):
        row = json.loads(lines[3])
        row["vector"]["no-such-token-xyz"] = 5
        lines[3] = json.dumps(row)
    jvc, file = _jvc_with(e, edit)
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [f"{file}:4", "no-such-token-xyz"],
                [e.out()])


@case("import")
def jvc_string_weight(e):
    jvc, file = _jvc_with(e, _set_weight("1.0"))
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [f"{file}:4", "'1.0'"], [e.out()])


@case("import")
def jvc_float_weight_index_lucene(e):
    jvc, file = _jvc_with(e, _set_weight(1.5))
    return Case(["index", "lucene", jvc, e.out()], [f"{file}:4", "not an integer"], [e.out()])


@case("import")
def jvc_negative_weight(e):
    jvc, file = _jvc_with(e, _set_weight(-3))
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [f"{file}:4", "-3"], [e.out()])


@case("import")
def jvc_token_outside_vocab_index_lucene(e):
    def edit(lines):
        row = json.loads(lines[3])
        row["vector"]["no-such-token-xyz"] = 5
        lines[3] = json.dumps(row)
    jvc, file = _jvc_with(e, edit)
    return Case(["index", "lucene", jvc, e.out()], [f"{file}:4", "no-such-token-xyz"], [e.out()])


@case("import")
def jvc_empty_docs_folder(e):
    jvc = e.copy(e.jvc, "jvc")
    for file in (jvc / "docs").iterdir():
        file.unlink()
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [jvc / "docs"], [e.out()])


@case("import")
def jvc_only_blank_file(e):
    jvc = e.copy(e.jvc, "jvc")
    for file in (jvc / "docs").iterdir():
        file.write_text("\n")
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [jvc / "docs", "no documents"], [e.out()])


@case("import")
def jvc_malformed_line(e):
    def edit(lines):
        lines[6] = lines[6][:-5]
    jvc, file = _jvc_with(e, edit)
    return Case(["vectors", "import", jvc, e.out(), "--format", "anserini"], [f"{file}:7", "malformed JSON"], [e.out()])


def _seismic(e, rows) -> Path:
    return e.write("docs.jsonl", "".join(json.dumps(row) + "\n" for row in rows))


@case("import")
def seismic_string_weight(e):
    file = _seismic(e, [{"id": "a", "vector": {"cell": 1.0}}, {"id": "b", "vector": {"gene": "1.0"}}])
    return Case(["vectors", "import", file, e.out(), "--format", "seismic", "--model", "splade-tiny"],
                [f"{file}:2", "'1.0'"], [e.out()])


@case("import")
def seismic_duplicate_id(e):
    file = _seismic(e, [{"id": "a", "vector": {"cell": 1.0}}, {"id": "b", "vector": {"gene": 1.0}},
                        {"id": "a", "vector": {"gene": 2.0}}])
    return Case(["vectors", "import", file, e.out(), "--format", "seismic", "--model", "splade-tiny"],
                [f"{file}:3", "line 1"], [e.out()])


@case("import")
def seismic_token_outside_vocab(e):
    file = _seismic(e, [{"id": "a", "vector": {"no-such-token-xyz": 1.0}}])
    return Case(["vectors", "import", file, e.out(), "--format", "seismic", "--model", "splade-tiny"],
                [f"{file}:1", "no-such-token-xyz"], [e.out()])


@case("import")
def seismic_nan_weight(e):
    file = e.write("docs.jsonl", '{"id": "a", "vector": {"cell": NaN}}\n')
    return Case(["vectors", "import", file, e.out(), "--format", "seismic", "--model", "splade-tiny"],
                [f"{file}:1"], [e.out()])


@case("import")
def seismic_empty_file(e):
    file = e.write("docs.jsonl", "")
    return Case(["vectors", "import", file, e.out(), "--format", "seismic", "--model", "splade-tiny"],
                [file, "no documents"], [e.out()])


# --- corpora and queries -----------------------------------------------------------------------------

def _corpus_with(e, edit, name="corpus.jsonl") -> Path:
    lines = e.tiny.corpus_file.read_text(encoding="utf-8").splitlines()[:12]
    lines = edit(lines) or lines
    data = b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)
    return e.write(name, data)


@case("corpus")
def corpus_not_utf8(e):
    def edit(lines):
        lines[4] = lines[4].encode("utf-8").replace(b"\"text\": \"", b"\"text\": \"\xff\xfe", 1)
    corpus = _corpus_with(e, edit)
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:5", "UTF-8"], [e.out()])


@case("corpus")
def corpus_duplicate_id(e):
    def edit(lines):
        row = json.loads(lines[7])
        row["_id"] = json.loads(lines[2])["_id"]
        lines[7] = json.dumps(row)
    corpus = _corpus_with(e, edit)
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:8", "line 3"], [e.out()])


@case("corpus")
def corpus_missing_id(e):
    def edit(lines):
        row = json.loads(lines[3])
        del row["_id"]
        lines[3] = json.dumps(row)
    corpus = _corpus_with(e, edit)
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:4", "_id"], [e.out()])


@case("corpus")
def corpus_id_with_whitespace(e):
    def edit(lines):
        row = json.loads(lines[1])
        row["_id"] = "doc one"
        lines[1] = json.dumps(row)
    corpus = _corpus_with(e, edit)
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:2", "whitespace"], [e.out()])


@case("corpus")
def corpus_empty(e):
    corpus = e.write("corpus.jsonl", "")
    return Case(["encode", "corpus", corpus, e.out()], [corpus, "no documents"], [e.out()])


@case("corpus")
def corpus_tsv_without_tab(e):
    corpus = e.write("corpus.tsv", "d1\tfirst text\nd2 second text\n")
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:2", "id<TAB>text"], [e.out()])


@case("corpus")
def corpus_text_not_a_string(e):
    corpus = e.write("corpus.jsonl", '{"_id": "a", "text": "fine"}\n{"_id": "b", "text": ["a", "list"]}\n')
    return Case(["encode", "corpus", corpus, e.out()], [f"{corpus}:2"], [e.out()])


@case("corpus")
def bm25_corpus_duplicate_id(e):
    def edit(lines):
        row = json.loads(lines[9])
        row["_id"] = json.loads(lines[0])["_id"]
        lines[9] = json.dumps(row)
    corpus = _corpus_with(e, edit)
    return Case(["index", "bm25", corpus, e.out()], [f"{corpus}:10", "line 1"], [e.out()])


@case("corpus")
def bm25_corpus_missing(e):
    folder = e.tmp / "no-corpus"
    folder.mkdir()
    return Case(["index", "bm25", folder, e.out()], [folder, "corpus.jsonl"], [e.out()])


@case("queries")
def queries_file_empty(e):
    queries = e.write("queries.jsonl", "")
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, queries, "--run", run, "--encoder", "table", "--table", e.tiny.table],
                [queries, "no queries"], [run])


@case("queries")
def queries_folder_without_manifest(e):
    queries = e.copy(e.tiny.queries, "queries")
    (queries / "manifest.json").unlink()
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, queries, "--run", run], [queries, "manifest.json"], [run])


@case("queries")
def queries_negative_weight(e):
    queries = e.copy(e.tiny.queries, "queries")
    lines = (queries / "queries.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["vector"][next(iter(row["vector"]))] = -0.5
    lines[1] = json.dumps(row)
    (queries / "queries.jsonl").write_text("\n".join(lines) + "\n")
    run = e.out("run.trec")
    return Case(["search", e.tiny.store, queries, "--run", run], [f"{queries / 'queries.jsonl'}:2", "negative"], [run])


@case("queries")
def queries_string_weight(e):
    queries = e.copy(e.tiny.queries, "queries")
    lines = (queries / "queries.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    row["vector"][next(iter(row["vector"]))] = "0.5"
    lines[2] = json.dumps(row)
    (queries / "queries.jsonl").write_text("\n".join(lines) + "\n")
    run = e.out("run.trec")
    return Case(["search", e.native, queries, "--run", run], [f"{queries / 'queries.jsonl'}:3", "'0.5'"], [run])


@case("queries")
def queries_duplicate_qid_file(e):
    text = e.tiny.corpus.joinpath("queries.jsonl").read_text().splitlines()
    queries = e.write("queries.jsonl", "\n".join(text[:3] + [text[0]]) + "\n")
    return Case(["encode", "queries", queries, e.out(), "--encoder", "table", "--table", e.tiny.table],
                [f"{queries}:4", "line 1"], [e.out()])


@case("queries")
def queries_not_utf8(e):
    queries = e.write("queries.jsonl", b'{"_id": "q1", "text": "fine"}\n{"_id": "q2", "text": "caf\xe9"}\n')
    return Case(["encode", "queries", queries, e.out(), "--encoder", "table", "--table", e.tiny.table],
                [f"{queries}:2", "UTF-8"], [e.out()])


@case("queries")
def queries_tsv_header_line(e):
    queries = e.write("queries.tsv", "qid\tquery\nq1\tfine\n")
    return Case(["encode", "queries", queries, e.out(), "--encoder", "table", "--table", e.tiny.table],
                [f"{queries}:1", "header"], [e.out()])


@case("queries")
def queries_tsv_third_field(e):
    queries = e.write("queries.tsv", "q1\tfine\nq2\tprotein\tfolding\n")
    return Case(["encode", "queries", queries, e.out(), "--encoder", "table", "--table", e.tiny.table],
                [f"{queries}:2", "3 tab-separated fields"], [e.out()])


@case("queries")
def queries_trec_topics_not_utf8(e):
    topics = e.write("topics.txt", b"<top>\n<num> Number: 301\n<title> caf\xe9\n</top>\n")
    return Case(["encode", "queries", topics, e.out(), "--encoder", "table", "--table", e.tiny.table],
                [f"{topics}:3", "UTF-8"], [e.out()])


# --- the test ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused(name, request, tiny, tmp_path):
    _, builder = CASES[name]
    spec = builder(Env(request, tiny, tmp_path))
    line = assert_refused(lilsr(*spec.args), spec.names, spec.absent, spec.unchanged)
    if os.environ.get("LILSR_SHOW_ERRORS"):
        print(f"\n[{name}] {line}")


def test_every_class_has_cases():
    classes = {}
    for klass, _ in CASES.values():
        classes[klass] = classes.get(klass, 0) + 1
    assert len(CASES) >= 60, classes
    assert set(classes) == {"options", "store", "vocabulary", "impacts", "lucene", "unwritable", "existing", "qrels",
                            "import", "corpus", "queries"}, classes
