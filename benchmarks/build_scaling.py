"""Build time against collection size, to plan a large run: each engine is built on synthetic collections
of growing size (drawn from a real store's term and weight distributions, see
``native_vs_seismic.synthesize``), each build in a child process (seconds, peak RSS), and a power law
``seconds = a * docs ** b`` fitted through the points is extrapolated to ``--extrapolate`` documents.

    flock .cpu.lock nice -n 10 python benchmarks/build_scaling.py --vectors STORE \\
        --docs 10000 30000 100000 --engines bmp kannolo

A fit over three sizes is a plan, not a measurement: graph builds (kANNolo's HNSW) grow faster than
linearly, and memory pressure at the large size can bend the curve further. Writes
benchmarks/work/results/build_scaling.{csv,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_update_results, results_dir  # noqa: E402  (the results folder: work, or reference)

from engines import build_in_child, portable  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", required=True, help="the real store synthetic documents are drawn from")
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["bmp", "kannolo"])
    parser.add_argument("--params", default="{}", help='JSON build parameters per engine, e.g. {"kannolo": {"m": 16}}')
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--extrapolate", type=int, default=1_000_000)
    parser.add_argument("--work", default="benchmarks/work/build-scaling", help="relative to the checkout")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/work/results)")
    add_update_results(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from native_vs_seismic import synthesize

    from lilsr_tools.vectors.store import load_vectors

    params = json.loads(args.params)
    work = (REPO / args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    real = load_vectors(args.vectors)
    rows = []
    for n in sorted(args.docs):
        store = work / f"synthetic-{n}"
        if not (store / "manifest.json").is_file():
            synthesize(real, n, store)
        nnz = int(load_vectors(store).nnz)
        for engine in args.engines:
            out = work / f"{engine}-{n}"
            facts = build_in_child(engine, store, out, params.get(engine, {}), args.threads)
            row = {"engine": engine, "docs": n, "nnz": nnz, "threads": args.threads,
                   "seconds": round(facts["seconds"], 2), "cpu_seconds": round(facts["cpu_seconds"], 2),
                   "ms_per_doc": round(1e3 * facts["seconds"] / n, 3),
                   "peak_rss_mib": round(facts["peak_rss_bytes"] / 2**20, 1),
                   "index_mib": round(facts["index_bytes"] / 2**20, 1), "load_1m": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(row, flush=True)
            import shutil

            shutil.rmtree(out, ignore_errors=True)
    summary = {"source": portable(args.vectors), "threads": args.threads, "params": params, "fits": {}}
    for engine in args.engines:
        points = [(r["docs"], r["seconds"], r["cpu_seconds"]) for r in rows if r["engine"] == engine]
        if len(points) >= 2:
            x = np.log([p[0] for p in points])
            b, log_a = np.polyfit(x, np.log([p[1] for p in points]), 1)
            at = float(np.exp(log_a) * args.extrapolate ** b)
            cpu_b, cpu_log_a = np.polyfit(x, np.log([p[2] for p in points]), 1)
            cpu_at = float(np.exp(cpu_log_a) * args.extrapolate ** cpu_b)
            rss = [(r["docs"], r["peak_rss_mib"]) for r in rows if r["engine"] == engine]
            rss_b, rss_a = np.polyfit([p[0] for p in rss], [p[1] for p in rss], 1)
            summary["fits"][engine] = {"exponent": round(float(b), 3), f"seconds_at_{args.extrapolate}": round(at),
                                       "cpu_exponent": round(float(cpu_b), 3),
                                       f"cpu_seconds_at_{args.extrapolate}": round(cpu_at),
                                       f"peak_rss_mib_at_{args.extrapolate}": round(float(rss_a + rss_b *
                                                                                          args.extrapolate))}
            print(f"{engine}: seconds ~ docs^{b:.2f}; at {args.extrapolate:,} docs ~ {at:,.0f} s ({at / 3600:.2f} h; "
                  f"CPU ~ docs^{cpu_b:.2f}, {cpu_at:,.0f} CPU s), "
                  f"peak RSS ~ {summary['fits'][engine][f'peak_rss_mib_at_{args.extrapolate}']:,} MiB (linear)",
                  flush=True)
    out = (REPO / args.out).resolve() if args.out else results_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "build_scaling.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary["rows"] = rows
    (out / "build_scaling.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
