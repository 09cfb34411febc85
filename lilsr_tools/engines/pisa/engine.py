"""``PisaEngine``: safe (exact top-k) query processing over a PISA index folder.

Scoring. Documents hold integer impacts ``round(w * scale)``; queries are quantized the same way,
``round(q * query_scale)`` (``query_scale`` defaults to the index scale), and PISA's ``quantized`` scorer
sums ``query integer x document integer``: an exact integer dot product (PISA accumulates in float32, exact
below 2^24). We report ``score / (scale * query_scale)`` (``info["score_divisor"]``). Ties go to the lower
doc id, i.e. store order (pyterrier-pisa sorts by score, then doc id).

How query weights reach PISA. pyterrier-pisa's binding takes ``{term: float}`` and repeats each term
``floor(weight)`` times; PISA then counts the repeats back into the term's query weight (``query_weighted``).
So integer weights must be handed over as Python floats (the binding reads them with the unchecked
``PyFloat_AS_DOUBLE``: an ``int`` would be garbage), and the cost of building a query grows with the sum of
its integer weights (~30 x 100 repeats for a typical query at scale 100; it is inside the timed call).

Timing (``info["timing"]``). With one thread, each query is its own ``_pisathon.retrieve`` call, and
``retrieval_ns`` is the wall time around converting the query (rounding, the ``{term: float}`` dict), that
call (PISA's traversal plus its query parsing and result-string creation) and reading the results back: the
"call" clock. PISA exposes no internal time (``engine_ns`` is None). PyTerrier's ``PisaRetrieve`` is not on
this path: its DataFrame building and validation cost more than MaxScore on a small index (see docs/pisa.md).
With threads > 1, one ``retrieve`` call searches the whole batch on PISA's thread pool and every query
gets the batch wall time x threads / queries.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import LilsrError
from ...manifest import read_manifest
from ..base import SearchResults, check_known_params, folder_bytes
from ..file_checks import check_files, index_manifest
from ..param_specs import PISA, PISA_ALGORITHMS
from .build import KIND, PISA_DIR, SCORER, build_pisa_index, pisa_files
from .pisathon import load_pisathon, stdout_to_stderr
from ..call_clock import time_calls
from ..checks import checked_search

# Safe algorithms: each returns the exact top-k for the quantized weights (the conjunctive ones would not).
ALGORITHMS = PISA_ALGORITHMS
SEARCH_DEFAULTS = PISA.defaults("search")
# pyterrier-pisa's binding pushes a term `weight` times: bound the work (a typical SciFact query: ~7,000)
MAX_REPEATS = 1_000_000


class PisaEngine:
    name = "pisa"
    query_input = "vector"
    param_spec = PISA
    tuning_grid = PISA.tuning_grid()

    def __init__(self, path: Path, manifest: dict, vocab: list[str], lexicon: dict[str, str], context):
        self.path = path
        self.manifest = manifest
        self.vocab = vocab
        self.scale = float(manifest["params"]["scale"])
        self._vocab = set(vocab)
        self._lexicon = lexicon  # token -> PISA's term, for the tokens with postings (the only ones PISA is asked)
        self._context = context
        self._pisathon = load_pisathon()

    @property
    def lexicon(self) -> dict[str, str]:
        """Token -> PISA's term (a vocabulary id), for the tokens with postings: the terms PISA is asked."""
        return self._lexicon

    def binding(self):
        """(the ``_pisathon`` module, this index's retrieval context): PISA's own call without our query
        handling around it, for measuring what that handling costs (benchmarks/pisa_wrapper.py)."""
        return self._pisathon, self._context

    @classmethod
    def build(cls, source, out, *, overwrite: bool = False, **params) -> Path:
        """``params``: scale (100), encoding (block_simdbp), block_size (64, documents per block-max block)."""
        return build_pisa_index(source, out, overwrite=overwrite, **params)

    @classmethod
    def load(cls, path, **options) -> "PisaEngine":
        check_known_params(options, (), "pisa load")
        path = Path(path)
        manifest = index_manifest(path, KIND, "build one with 'lilsr index pisa VECTORS OUT' or search it with its "
                                              "own engine")
        params = manifest["params"]
        folder = path / PISA_DIR
        needed = ["fwd.termlex", "fwd.doclex", "fwd.terms", *pisa_files(params["encoding"], params["block_size"])]
        missing = [name for name in needed if not (folder / name).is_file()]
        if missing:  # prepare_index would otherwise try to rebuild them from files that are gone
            raise LilsrError(f"{folder}: missing {', '.join(missing)}; the index is damaged, rebuild it")
        # PISA aborts or reads garbage on a damaged file: sizes and checksums first
        check_files(path, manifest, ["vocab.json", *(f"{PISA_DIR}/{name}" for name in needed)])
        pisathon = load_pisathon()
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        terms = (folder / "fwd.terms").read_text(encoding="utf-8").splitlines()
        lexicon = {vocab[int(term)]: term for term in terms}  # PISA's terms are vocabulary ids (build.pisa_term)
        context = pisathon.RetrievalContext()
        with stdout_to_stderr():
            pisathon.prepare_index(context, str(folder), params["encoding"], SCORER, "",
                                   block_size=int(params["block_size"]), quantize=0, stop_fname="")
        return cls(path, manifest, vocab, lexicon, context)

    def _params(self, params: dict) -> tuple[str, float]:
        p = PISA.parse("search", params)
        return p["query_algorithm"], p["query_scale"] if p["query_scale"] is not None else self.scale

    def _check_vocabulary(self, queries: Sequence[dict]) -> int:
        """Count query tokens outside the index vocabulary; refuse a batch none of whose tokens it knows
        (queries from another model's vocabulary would otherwise give empty runs that look like results)."""
        tokens = [token for query in queries for token in query]
        unknown = sum(token not in self._vocab for token in tokens)
        if tokens and unknown == len(tokens):
            raise LilsrError(f"{self.path}: none of the {len(tokens)} query tokens is in the index vocabulary "
                             f"(e.g. {tokens[0]!r}); encode the queries with the model that made the index "
                             f"({self.manifest['params'].get('model')})")
        return unknown

    @checked_search
    def batch_search(self, qids: Sequence[str], queries: Sequence[dict], k: int = 1000, threads: int = 1,
                     **params) -> SearchResults:
        """``params``: query_algorithm (maxscore), query_scale (the index scale)."""
        if len(qids) != len(queries):
            raise LilsrError(f"{len(qids)} query ids for {len(queries)} queries")
        if k < 1 or threads < 1:
            raise LilsrError(f"k and threads must be at least 1 (got {k}, {threads})")
        algorithm, query_scale = self._params(params)
        unknown = self._check_vocabulary(queries)
        lexicon = self._lexicon

        rounded_to_zero = [0]

        def to_pisa(query: dict) -> dict:
            # integer weights, as floats (see the module docstring); tokens without postings contribute
            # nothing and are left out; weights that round to zero are left out and counted
            pisa_query = {}
            for token, weight in query.items():
                term = lexicon.get(token)
                if term is not None:
                    weight = float(np.rint(weight * query_scale))
                    if weight > 0:
                        pisa_query[term] = weight
                    else:
                        rounded_to_zero[0] += 1
            if sum(pisa_query.values()) > MAX_REPEATS:
                raise LilsrError(f"a query's integer weights sum to {sum(pisa_query.values()):.0f} at query_scale "
                                 f"{query_scale:g}; PISA repeats each term weight times (at most {MAX_REPEATS}): "
                                 "pass a smaller query_scale")
            return pisa_query

        n = len(qids)
        retrieve = self._pisathon.retrieve
        context = self._context
        doc_ids: list[list[str]] = [[] for _ in range(n)]
        raw: list[np.ndarray] = [np.zeros(0, np.float32) for _ in range(n)]
        times = np.zeros(n, dtype=np.int64)
        depth = min(k, max(int(self.manifest["counts"]["docs"]), 1))  # PISA's heap and our buffers hold k entries
        size = depth if threads == 1 else depth * max(n, 1)
        qidxs, ranks = np.empty(size, np.int32), np.empty(size, np.int32)
        scores, docnos = np.empty(size, np.float32), np.empty(size, dtype=object)
        if threads == 1:
            def prepare(query):
                return to_pisa(query), 0  # unknown tokens were counted before the clock (_check_vocabulary)

            def search(pisa_query):
                if not pisa_query:
                    return [], np.zeros(0, np.float32), None
                found = retrieve(context, algorithm, [(0, pisa_query)], k=depth, threads=1, pretokenised=True,
                                 query_weighted=1, result_qidxs=qidxs, result_docnos=docnos, result_ranks=ranks,
                                 result_scores=scores)
                hits = docnos[:found].tolist()  # PISA returns our external ids (its documents' names)
                docnos[:found] = None  # the binding stores new references without releasing old ones
                return hits, scores[:found].copy(), None

            info = {"engine": self.name, "k": k, "threads": threads, "query_algorithm": algorithm,
                    "scale": self.scale, "query_scale": query_scale,
                    "encoding": self.manifest["params"]["encoding"],
                    "block_size": self.manifest["params"]["block_size"],
                    "timing": ("call clock (call_clock.time_calls): per query, our query's conversion to integer "
                               "weights, one _pisathon.retrieve call (PISA's traversal, its query parsing and "
                               "result strings) and the results back; threads=1")}
            timed = time_calls(qids, queries, prepare, search, list, info)
            doc_ids, raw, times = timed.doc_ids, timed.scores, timed.retrieval_ns
            timing = timed.info["timing"]
        else:
            start = time.perf_counter_ns()
            batch = [(i, q) for i, q in enumerate(map(to_pisa, queries)) if q]
            found = retrieve(context, algorithm, batch, k=depth, threads=threads, pretokenised=True, query_weighted=1,
                             result_qidxs=qidxs, result_docnos=docnos, result_ranks=ranks, result_scores=scores)
            wall = time.perf_counter_ns() - start
            rows: dict[int, list[int]] = {}
            for position, qidx in enumerate(qidxs[:found].tolist()):
                rows.setdefault(qidx, []).append(position)
            for qidx, positions in rows.items():
                positions = np.asarray(positions)
                positions = positions[np.argsort(ranks[positions], kind="stable")]
                doc_ids[qidx] = docnos[positions].tolist()
                raw[qidx] = scores[positions].copy()
            times[:] = wall * threads // max(n, 1)
            timing = ("batch: one _pisathon.retrieve call on PISA's thread pool; wall time x threads / queries "
                      "given to every query")
        divisor = self.scale * query_scale
        info = {"engine": self.name, "k": k, "threads": threads, "query_algorithm": algorithm,
                "scale": self.scale, "query_scale": query_scale, "score_divisor": divisor,
                "query_weights_rounded_to_zero": rounded_to_zero[0],
                "encoding": self.manifest["params"]["encoding"], "block_size": self.manifest["params"]["block_size"],
                "timing": timing}
        return SearchResults(list(qids), doc_ids, [r.astype(np.float64) / divisor for r in raw], times, unknown,
                             info)

    def index_stats(self) -> dict:
        return {**self.manifest.get("postings", {}), "index_bytes": folder_bytes(self.path / PISA_DIR),
                "scale": self.scale, "encoding": self.manifest["params"]["encoding"],
                "block_size": self.manifest["params"]["block_size"], "build_seconds": self.manifest.get("build_seconds")}
