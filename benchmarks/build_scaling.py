"""Build time against collection size, to plan a large run: each engine is built on synthetic collections
of growing size (drawn from a real store's term and weight distributions: ``lilsr_tools.vectors.synth``,
method ``templates``), each build in a child process (seconds, peak RSS), and a power law
``seconds = a * docs ** b`` fitted through the points is extrapolated to ``--extrapolate`` documents.

    flock .cpu.lock nice -n 10 python benchmarks/build_scaling.py --vectors STORE \\
        --docs 10000 30000 100000 --engines bmp kannolo

A fit over three sizes is a plan, not a measurement: graph builds (kANNolo's HNSW) grow faster than
linearly, and memory pressure at the large size can bend the curve further. Writes
benchmarks/work/results/build_scaling.{csv,json}.
"""

from __future__ import annotations

import json
import os
import shutil

from common import portable, run  # sets sys.path and the offline environment
from harness import at_least, benchmark_parser, work_folder
from result_files import ResultWriter

import numpy as np

from child_build import build_in_child


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, work="build-scaling", out="build_scaling.csv and .json")
    parser.add_argument("--vectors", required=True, help="the real store synthetic documents are drawn from")
    parser.add_argument("--docs", type=at_least(1), nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["bmp", "kannolo"])
    parser.add_argument("--params", default="{}", help='JSON build parameters per engine, e.g. {"kannolo": {"m": 16}}')
    parser.add_argument("--threads", type=at_least(1), default=os.cpu_count() or 1)
    parser.add_argument("--extrapolate", type=at_least(1), default=1_000_000)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from lilsr_tools.errors import LilsrError
    from lilsr_tools.vectors.store import load_vectors
    from lilsr_tools.vectors.synth import synthesize

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise LilsrError(f"--params: not JSON ({exc}); e.g. '{{\"kannolo\": {{\"m\": 16}}}}'") from None
    writer = ResultWriter(args)
    work = work_folder(args)
    real = load_vectors(args.vectors)
    rows = []
    for n in sorted(args.docs):
        store = work / f"synthetic-{n}"
        if not (store / "manifest.json").is_file():
            synthesize(real, store, n, method="templates", overwrite=True)
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
    writer.csv("build_scaling.csv", rows)
    writer.json("build_scaling.json", {**summary, "rows": rows})


if __name__ == "__main__":
    run(main)
