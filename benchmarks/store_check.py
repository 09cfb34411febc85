"""What the structure check of a vector store costs on every load, against a search run's start-up.

    flock .cpu.lock nice -n 10 python benchmarks/store_check.py \
        --from ../artifacts/scifact-splade-tiny --docs 1000000 --store ../scratch/store-1m

makes (once; re-runs reuse it) a synthetic store of ``--docs`` documents with SciFact's term and weight
distributions (``lilsr_tools.vectors.synth``, method ``templates``: 1M documents of splade-tiny SciFact give ~250 non-zeros
each), then measures, warm page cache, median of ``--repeats`` (5):

- ``load_unchecked``: ``load_vectors`` without its checks (manifest, memory maps, vocab, ids);
- ``check``: what the checks add to ``load_vectors`` (checked minus unchecked load, each on a fresh memory
  map, so with the first-touch page faults): the structure check (indptr, ids inside the vocabulary and
  sorted per row, weights finite > 0) and the sha256 of ids.txt (``check_mapped``: the arrays' check alone
  on a mapping already touched);
- ``exact_startup``: what ``lilsr search STORE`` does before its first query: load (checked) and the
  term-major transpose of the exact engine; ``exact_startup_unchecked``: the same without the checks (their
  difference is what the checks cost a search run: the check's page faults are then the transpose's);
- ``process_startup``: a fresh ``python`` importing the CLI and the exact engine (what every run pays first);
- ``sha256``: ``--verify`` (every file hashed), once.

It prints the check's share of the search run's start-up (process + exact start-up) and writes
``benchmarks/work/results/store_check.json``. With ``--lucene INDEX`` (a ``lilsr index lucene`` folder) it also
times Lucene's checksum check (``indexing.check_checksums``, run on every load) against the load of the
engine without it, each in a fresh process. The check only runs where a store is loaded (exact and seismic-rs
search of a store, index builds, exports); searching a built native or Lucene index does not load the store.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import REPO, portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser
from result_files import ResultWriter
from timing import alternating_seconds, median_seconds, wall_seconds

from lilsr_tools.manifest import read_manifest, verify_hashes  # noqa: E402
from lilsr_tools.vectors.store import load_vectors, validate  # noqa: E402


def load_unchecked(path: Path):
    """``load_vectors`` without its checks (the structure check and the sha256 of ids.txt)."""
    return load_vectors(path, check=False)


_LUCENE_PROBE = """
import sys, time
from pathlib import Path
from lilsr_tools.engines.lucene import LuceneEngine, indexing, jvm
index, mode = Path(sys.argv[1]), sys.argv[2]
jvm.start_jvm()
check = indexing.check_checksums
indexing.check_checksums = lambda *a, **k: None
start = time.perf_counter()
engine = LuceneEngine.load(index)  # opens the index: Lucene's classes loaded, ids read
opened = time.perf_counter() - start
start = time.perf_counter()
if mode == "check":
    check(index / indexing.LUCENE_DIR)
print(opened, time.perf_counter() - start)
"""


def lucene_costs(index: Path, repeats: int, env: dict) -> dict:
    """Fresh processes: the engine's load without the checksum check, then the check (first call, cold)."""
    from lilsr_tools.engines.base import folder_bytes

    loads, checks = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _LUCENE_PROBE, str(index), "check"], check=True, env=env,
                             capture_output=True, text=True).stdout.split()
        loads.append(float(out[-2]))
        checks.append(float(out[-1]))
    size = folder_bytes(index / "lucene")
    return {"index": portable(index), "lucene_bytes": size, "load_without_check_s": statistics.median(loads),
            "checksums_s": statistics.median(checks), "checksums_gb_per_s": size / statistics.median(checks) / 1e9,
            "check_share_of_load": statistics.median(checks) / (statistics.median(loads) + statistics.median(checks))}


def main() -> None:
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--store", type=Path, required=True, help="The store to measure (made with --from if absent).")
    parser.add_argument("--from", dest="source", type=Path, default=None, help="Real store to synthesize from.")
    parser.add_argument("--docs", type=at_least(1), default=1_000_000)
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default store_check.json in benchmarks/work/results)")
    parser.add_argument("--lucene", type=Path, default=None, help="Also time Lucene's checksums on this index.")
    args = parser.parse_args()
    writer = ResultWriter(args, folder=args.out.parent if args.out else None)
    name = args.out.name if args.out else "store_check.json"
    if not (args.store / "manifest.json").is_file():
        if args.source is None:
            parser.error(f"{args.store} is not a store; pass --from REAL_STORE to synthesize one")
        from lilsr_tools.vectors.synth import synthesize

        synthesize(args.source, args.store, args.docs, method="templates")
    load_unchecked(args.store)  # warm the page cache: every number below is warm
    vectors = load_unchecked(args.store)
    result = {"store": portable(args.store), "docs": len(vectors), "nnz": vectors.nnz,
              "mean_nnz": vectors.nnz / max(len(vectors), 1), "repeats": args.repeats,
              "load_average": os.getloadavg()}
    # each load maps the files afresh, as a search run does (page cache warm, mapping new); checked and
    # unchecked runs alternate, so that drift in the machine's load hits both alike
    unchecked, checked = alternating_seconds(lambda: load_unchecked(args.store), lambda: load_vectors(args.store),
                                     args.repeats)
    result["load_unchecked_s"], result["load_checked_s"] = statistics.median(unchecked), statistics.median(checked)
    result["load_checked_runs_s"] = checked
    result["check_s"] = max(result["load_checked_s"] - result["load_unchecked_s"], 0.0)
    # the arrays' check on a mapping already touched: its own work, without the first-touch page faults that
    # the exact engine's transpose pays anyway when the check does not
    result["check_mapped_s"] = median_seconds(lambda: validate(vectors, args.store, check_ids=False), args.repeats,
                                              warmup=0)

    def exact_startup():
        from lilsr_tools.engines.exact import ExactEngine

        ExactEngine.load(args.store)

    def exact_startup_unchecked():
        from lilsr_tools.engines.exact import ExactEngine

        ExactEngine(load_unchecked(args.store))

    unchecked, checked = alternating_seconds(exact_startup_unchecked, exact_startup, args.repeats)
    result["exact_startup_s"], result["exact_startup_unchecked_s"] = statistics.median(checked), statistics.median(unchecked)
    result["exact_startup_runs_s"], result["exact_startup_unchecked_runs_s"] = checked, unchecked
    # what the checks add to a search run: the first-touch page faults the check pays, the transpose no longer does
    result["check_cost_in_search_s"] = max(result["exact_startup_s"] - result["exact_startup_unchecked_s"], 0.0)
    command = [sys.executable, "-c", "import lilsr_tools.cli, lilsr_tools.engines.exact"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result["process_startup_s"] = median_seconds(lambda: subprocess.run(command, check=True, env=env), args.repeats,
                                                 warmup=0)
    [result["sha256_s"]], _ = wall_seconds(lambda: verify_hashes(args.store, read_manifest(args.store)), 1,
                                           warmup=0)
    startup = result["process_startup_s"] + result["exact_startup_s"]
    result["check_share_of_search_startup"] = result["check_s"] / startup
    result["check_cost_share_of_search_startup"] = result["check_cost_in_search_s"] / startup
    result["check_share_of_load"] = result["check_s"] / (result["load_unchecked_s"] + result["check_s"])
    if args.lucene:
        result["lucene"] = lucene_costs(args.lucene, args.repeats, env)
    writer.json(name, result)
    print(f"{result['docs']:,} docs, {result['nnz']:,} non-zeros: check {result['check_s']:.3f} s "
          f"(checked load {result['load_checked_s']:.3f} s, runs "
          f"{', '.join(f'{t:.3f}' for t in result['load_checked_runs_s'])}; arrays {result['check_mapped_s']:.3f} s "
          f"on a mapping already touched), unchecked load "
          f"{result['load_unchecked_s']:.3f} s, search start-up {startup:.2f} s (process "
          f"{result['process_startup_s']:.2f} + exact engine {result['exact_startup_s']:.2f}) -> check = "
          f"{100 * result['check_share_of_search_startup']:.1f}% of it; in the search run itself the checks add "
          f"{result['check_cost_in_search_s']:.3f} s (exact start-up without them "
          f"{result['exact_startup_unchecked_s']:.2f} s) = {100 * result['check_cost_share_of_search_startup']:.1f}%; "
          f"sha256 (--verify) {result['sha256_s']:.1f} s")
    if args.lucene:
        lucene = result["lucene"]
        print(f"lucene {lucene['lucene_bytes'] / 1e6:.1f} MB: checksums {lucene['checksums_s']:.3f} s "
              f"({lucene['checksums_gb_per_s']:.2f} GB/s), engine load without them {lucene['load_without_check_s']:.2f} s "
              f"-> {100 * lucene['check_share_of_load']:.1f}% of the load")


if __name__ == "__main__":
    run(main)
