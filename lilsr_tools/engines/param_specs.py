"""Every built-in engine's parameters, declared once (see ``params``). Kept apart from the engines' modules
so that the CLI, the docs' tables and the studies read them without importing an engine (numba, the JVM,
a compiled package). An engine class points at its declaration (``params = param_specs.NATIVE``)."""

from __future__ import annotations

from .params import EngineParams, Param

# native: per-k defaults of query_cut and heap_factor: (largest k, defaults). Chosen on SciFact's train queries
# (table encoder; never the test split) as the fastest setting whose accuracy@k against exact search is at
# least 0.95 (benchmarks/native_k_defaults.py; docs/native.md, "Defaults per k").
NATIVE_K_DEFAULTS = ((10, {"query_cut": 10, "heap_factor": 0.7}),
                     (100, {"query_cut": 20, "heap_factor": 1.0}),
                     (None, {"query_cut": 20, "heap_factor": 0.9}))

# the Seismic-style engines (native, seismic-rs) tune query_cut x heap_factor over these values
SEISMIC_QUERY_CUTS = (5, 10, 20, 40)
SEISMIC_HEAP_FACTORS = (0.6, 0.7, 0.8, 0.9, 1.0)
# Rust Seismic adds the query cuts of its published recall-95 points (4 and 7: github.com/TusKANNy/seismic
# experiments/best_configs, heap factors 0.8-1.0)
SEISMIC_RS_QUERY_CUTS = (4, 5, 7, 10, 20, 40)
# query_cut: at least one list; heap_factor: 1.0 keeps every block a full heap would (no pruning beyond it)
QUERY_CUT_BOUNDS, HEAP_FACTOR_BOUNDS = (1, None), (0.05, 1.0)
QUERY_CUT_WHY = "the query's heaviest terms whose lists are scanned"
HEAP_FACTOR_WHY = "a block is skipped when its bound is below heap_factor x the k-th score; 0 skips none"


def _per_k(name: str) -> tuple:
    return tuple((largest, values[name]) for largest, values in NATIVE_K_DEFAULTS)


NATIVE = EngineParams("native", search=(
    Param("query_cut", int, 10, "posting lists of the `query_cut` heaviest query terms are scanned: more is "
          "more accurate and slower", low=1, why=QUERY_CUT_WHY, per_k=_per_k("query_cut"), grid=SEISMIC_QUERY_CUTS, tuning_bounds=QUERY_CUT_BOUNDS),
    Param("heap_factor", float, 0.7, "a block is skipped when the heap holds k results and its summary score < "
          "`heap_factor x` k-th score (0 skips none): higher is more accurate and slower", low=0, high=1,
          why=HEAP_FACTOR_WHY, per_k=_per_k("heap_factor"), grid=SEISMIC_HEAP_FACTORS,
          tuning_bounds=HEAP_FACTOR_BOUNDS),
    Param("sorted", bool, True, "the first list's blocks are visited in decreasing summary score (Seismic's "
          "`sorted`)"),
    Param("block_order", str, "global", "`global`: the blocks of all `query_cut` lists in one order by decreasing "
          "summary score (the k-th score rises sooner; the scan stops at the first block below the threshold). "
          "`lists`: Seismic's order, list by list in decreasing query weight, the first list's blocks by "
          "decreasing summary score when `sorted`, the others as stored (`sorted` applies to this order only)",
          choices=("global", "lists")),
    Param("prefetch", bool, True, "prefetch the next document's forward-index row while scoring one"),
), build=(
    Param("n_postings", int, 3500, "Global pruning budget: n_postings x vocabulary size postings are kept (average "
          "list length).", low=1, why="the average list keeps at least one posting"),
    Param("max_fraction", float, 1.5, "Per-list cap: at most max_fraction x n_postings postings per list.", low=0,
          low_open=True, why="a list keeps some postings"),
    Param("blocks", str, "clustering", "Blocking: 'clustering' (Seismic's one-shot random k-means) or 'fixed:N' (N "
          "consecutive postings of the weight-sorted list)."),
    Param("centroid_fraction", float, 0.1, "Clustering: centroids per list as a fraction of its postings.", low=0,
          high=1, low_open=True, why="a share of the postings"),
    Param("min_cluster_size", int, 2, "Clustering: clusters of at most this many docs are dissolved and their docs "
          "re-assigned.", low=0, why="a number of documents"),
    Param("doc_cut", int, 15, "Clustering: docs join a centroid by the dot product on their top doc_cut components.",
          low=1, why="a document joins by at least one component"),
    Param("summary_energy", float, 0.4, "Block summaries keep their largest components up to this share of the L1 "
          "mass.", low=0, high=1, low_open=True, why="a share of the L1 mass"),
    Param("seed", int, 42, "Seed of the centroid sampling.", low=0, why="numpy seeds are non-negative"),
    Param("doc_top_k", int, None, "Keep each document's K largest weights (in the postings, summaries and forward "
          "index); default: all. See docs/compression.md for the trade-off.", low=1,
          why="a document keeps at least one weight"),
    Param("doc_mass", float, None, "Keep each document's fewest largest weights holding this share of its L1 mass "
          "(after --doc-top-k); default: all. 0.9 is the one setting measured to pay for a Big model at 1M: see "
          "docs/compression.md.", low=0, high=1, low_open=True, why="a share of the L1 mass"),
    Param("value_bits", int, 16, "Forward-index weights: 16 (float16) or 8 (8-bit codes on a per-document scale: 3 "
          "bytes an entry instead of 4).", choices=(16, 8)),
))

SEISMIC_RS = EngineParams("seismic-rs", search=(
    Param("query_cut", int, 10, "posting lists of the `query_cut` heaviest query terms are scanned: more is "
          "more accurate and slower", low=1, why=QUERY_CUT_WHY, grid=SEISMIC_RS_QUERY_CUTS, tuning_bounds=QUERY_CUT_BOUNDS),
    Param("heap_factor", float, 0.7, "a block is skipped when its summary score < `heap_factor x` k-th score "
          "(0 skips none): higher is more accurate and slower", low=0, high=1, why=HEAP_FACTOR_WHY,
          grid=SEISMIC_HEAP_FACTORS, tuning_bounds=HEAP_FACTOR_BOUNDS),
    Param("sorted", bool, True, "the first list's blocks are visited in decreasing summary score"),
    Param("n_knn", int, 0, "Seismic's kNN-graph refinement: neighbours re-scored per result (0: none)", low=0),
), build=(
    Param("n_postings", int, 3500, "Average posting-list length kept by static pruning.", low=1),
    Param("centroid_fraction", float, 0.1, "Centroids per list, as a share of its postings.", low=0, high=1,
          low_open=True),
    Param("min_cluster_size", int, 2, "Smaller clusters are dissolved.", low=1),
    Param("summary_energy", float, 0.4, "Share of the L1 mass block summaries keep.", low=0, high=1, low_open=True),
    Param("max_fraction", float, 1.5, "Per-list cap: at most max_fraction x n_postings postings.", low=0,
          low_open=True),
    Param("doc_cut", int, 15, "Docs join a centroid by their doc_cut largest components.", low=1),
    Param("nknn", int, 0, "kNN graph: each document's nknn approximate nearest neighbours, found at build by "
          "searching the index itself (Seismic's refinement; a search with n_knn > 0 re-scores the neighbours of "
          "its results). 0: no graph", low=0, why="a number of neighbours"),
))

BMP = EngineParams("bmp", search=(
    Param("alpha", float, 1.0, "stop when the k-th score exceeds `alpha` x the next block's upper bound; 1 is safe, lower "
          "prunes more",
          low=0, high=1, low_open=True, why="1 is exact for BMP's integers", grid=(0.6, 0.8, 0.9, 1.0),
          tuning_bounds=(0.05, 1.0)),
    Param("beta", float, 1.0, "keep only the `ceil(beta x terms)` heaviest query terms; 1 keeps all", low=0, high=1, low_open=True, why="1 is exact for BMP's integers", grid=(0.7, 0.9, 1.0),
          tuning_bounds=(0.05, 1.0)),
), build=(
    Param("scale", float, None, "Impacts are round(w * scale), at most 255 [default: 127 / the largest weight].",
          low=0, low_open=True, none_words=("auto",)),
    Param("bsize", int, 32, "Documents per block (consecutive in store order).", low=1, high=256, why="BMP numbers documents within a block with one byte"),
    Param("compress_range", bool, False, "Store the per-block maxima of each term compressed (smaller index on big collections)."),
))

KANNOLO = EngineParams("kannolo", search=(
    Param("ef_search", int, 100, "candidate list size; kANNolo uses at least k: larger is more accurate and "
          "slower", low=1, grid=(20, 40, 80, 160, 320, 640), tuning_bounds=(1, None)),
    Param("early_exit_threshold", float, None, "kANNolo's early termination (off)", low=0, low_open=True,
          none_words=("none",)),
), build=(
    Param("m", int, 32, "HNSW neighbours per node.", low=2, high=512),
    Param("ef_construction", int, 200, "Candidate list size while building.",
          low=1, high=100_000),
    Param("variant", str, "plain", "How document weights are stored (u8/packing8 clip above 3.98, u16 above 8: "
          "refused then).", choices=("plain", "u16", "u8", "packing8")),
    Param("graph_type", str, "standard", "Graph layout (same results; permuted is faster, compressed smaller).",
          choices=("standard", "permuted", "compressed")),
))

# PISA: the safe algorithms, each the exact top-k for the quantized weights (the conjunctive ones would not)
PISA_ALGORITHMS = ("maxscore", "block_max_wand", "block_max_maxscore", "wand", "ranked_or")
# PISA's posting-list codecs, as compiled into pyterrier-pisa 0.4.9 (PisaIndexEncoding)
PISA_ENCODINGS = ("block_simdbp", "block_optpfor", "block_varintg8iu", "block_streamvbyte", "block_maskedvbyte",
                  "block_interpolative", "block_qmx", "block_varintgb", "block_simple8b", "block_simple16", "ef",
                  "single", "pefuniform", "pefopt")
PISA_DEFAULT_SCALE = 100.0  # vectors.convert.DEFAULT_SCALE (a test keeps them equal)

PISA = EngineParams("pisa", search=(
    # both tuned values are safe (exact top k on the quantized weights): a study picks the faster on dev queries
    Param("query_algorithm", str, "maxscore", "all safe (the exact top-k for the integer weights); the conjunctive "
          "ones are refused",
          choices=PISA_ALGORITHMS, why="the safe ones", grid=("maxscore", "block_max_wand")),
    Param("query_scale", float, None, "query weights become `round(q * query_scale)`", low=0, low_open=True,
          default_text="the index scale"),
), build=(
    Param("scale", float, PISA_DEFAULT_SCALE, "Quantization scale: impacts are round(w * scale).", low=0,
          low_open=True),
    Param("encoding", str, "block_simdbp", "PISA's posting-list codec.", choices=PISA_ENCODINGS),
    Param("block_size", int, 64, "Documents per block of the block-max scores (BlockMax-WAND, BlockMax-MaxScore).", low=1),
))

MILVUS_ALGORITHMS = ("DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE")

MILVUS = EngineParams("milvus", search=(
    Param("drop_ratio_search", float, 0.0, "share of the query's smallest weights ignored (servers only; sent only "
          "when > 0)", low=0, high=1, high_open=True),
    Param("batch_size", int, 1, "queries per search request", low=1,
          default_text="1 (256 with `--threads` > 1)"),
), build=(
    Param("inverted_index_algo", str, "auto", "inverted_index_algo; auto: TAAT_NAIVE on Milvus Lite (its only "
          "one), DAAT_MAXSCORE on a server.", choices=("auto", *MILVUS_ALGORITHMS), fold_case=True),
    Param("drop_ratio_build", float, 0.0, "Share of each document's smallest weights dropped at build (servers "
          "only).", low=0, high=1, high_open=True),
))

LUCENE = EngineParams("lucene", search=(
    Param("query_weights", str, "float", "float: Lucene scores sum(q * impact) (bridge only); int: query weights "
          "rounded at query_scale (Anserini's way)", choices=("float", "int")),
    Param("query_scale", float, None, "int query weights: round(q * query_scale) (default: the index scale)",
          low=0, low_open=True),
    Param("ties", str, "lucene", "lucene: Lucene's own top-k order (fastest); docid: by external id (Anserini's)",
          choices=("lucene", "docid")),
    Param("searcher", str, None, "bridge, anserini or auto: switches the searcher for this and later calls",
          choices=("auto", "bridge", "anserini")),
), build=(
    Param("scale", float, None, "Quantization scale: impacts are round(w * scale) [default: 100 for a vector "
          "store; a JsonVectorCollection keeps its recorded scale].", low=0, low_open=True,
          why="impacts are round(weight x scale)"),
    Param("threads", int, 2, "Anserini indexing threads.", low=1),
    Param("optimize", bool, True, "Merge the index into one segment (Anserini -optimize)."),
    Param("heap", str, None, "the JVM's heap (e.g. 8g)"),
))

BM25 = EngineParams("bm25", search=(
    Param("k1", float, None, "BM25's k1 (default: the one the index was opened with, 0.9)", low=0),
    Param("b", float, None, "BM25's b (default: the one the index was opened with, 0.4)", low=0, high=1),
    Param("remove_query", bool, False, "drop the hit whose document id is the query id"),
    Param("searcher", str, None, "bridge, anserini or auto", choices=("auto", "bridge", "anserini")),
), build=(
    Param("threads", int, 1, "indexing threads", low=1),
    Param("heap", str, None, "the JVM's heap (e.g. 8g)"),
))

EXACT = EngineParams("exact", search=(
    Param("ties", bool, False, "break score ties by document id (as the other engines may not)"),
))

SPECS = {spec.engine: spec for spec in (NATIVE, SEISMIC_RS, BMP, KANNOLO, PISA, MILVUS, LUCENE, BM25, EXACT)}
