"""``lilsr index native`` (picked up by ``lilsr_tools.cli.index``)."""

from __future__ import annotations

import click

from ...cli import options


@click.command("native")
@click.argument("vectors", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n-postings", type=options.positive_int("the average list keeps at least one posting"), default=3500, show_default=True,
              help="Global pruning budget: n_postings x vocabulary size postings are kept (average list length).")
@click.option("--max-fraction", type=options.FloatRange(min=0, min_open=True, why="a list keeps some postings"), default=1.5, show_default=True,
              help="Per-list cap: at most max_fraction x n_postings postings per list.")
@click.option("--blocks", default="clustering", show_default=True,
              help="Blocking: 'clustering' (Seismic's one-shot random k-means) or 'fixed:N' (N consecutive "
                   "postings of the weight-sorted list).")
@click.option("--centroid-fraction", type=options.FloatRange(min=0, max=1, min_open=True, why="a share of the postings"),
              default=0.1, show_default=True,
              help="Clustering: centroids per list as a fraction of its postings.")
@click.option("--min-cluster-size", type=options.IntRange(min=0, why="a number of documents"), default=2, show_default=True,
              help="Clustering: clusters of at most this many docs are dissolved and their docs re-assigned.")
@click.option("--doc-cut", type=options.positive_int("a document joins by at least one component"), default=15, show_default=True,
              help="Clustering: docs join a centroid by the dot product on their top doc_cut components.")
@click.option("--summary-energy", type=options.FloatRange(min=0, max=1, min_open=True, why="a share of the L1 mass"),
              default=0.4, show_default=True,
              help="Block summaries keep their largest components up to this share of the L1 mass.")
@click.option("--seed", type=options.IntRange(min=0, why="numpy seeds are non-negative"), default=42, show_default=True, help="Seed of the centroid sampling.")
@click.option("--doc-top-k", type=options.positive_int("a document keeps at least one weight"), default=None,
              help="Keep each document's K largest weights (in the postings, summaries and forward index); "
                   "default: all. See docs/compression.md for the trade-off.")
@click.option("--doc-mass", type=options.FloatRange(min=0, max=1, min_open=True, why="a share of the L1 mass"),
              default=None,
              help="Keep each document's fewest largest weights holding this share of its L1 mass (after "
                   "--doc-top-k); default: all. 0.9 is the one setting measured to pay for a Big model at 1M: "
                   "see docs/compression.md.")
@click.option("--value-bits", type=click.Choice(["16", "8"]), default="16", show_default=True,
              help="Forward-index weights: 16 (float16) or 8 (8-bit codes on a per-document scale: 3 bytes an "
                   "entry instead of 4).")
@options.threads
@options.overwrite
def command(vectors, out, n_postings, max_fraction, blocks, centroid_fraction, min_cluster_size, doc_cut,
            summary_energy, seed, doc_top_k, doc_mass, value_bits, threads, overwrite):
    """Build a native (Seismic-like) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_cut=10 -p heap_factor=0.7 -p sorted=true
    -p prefetch=true)."""
    from ...manifest import read_manifest
    from .build import build_native_index

    build_native_index(vectors, out, overwrite=overwrite, threads=threads, n_postings=n_postings,
                       max_fraction=max_fraction, blocks=blocks, centroid_fraction=centroid_fraction,
                       min_cluster_size=min_cluster_size, doc_cut=doc_cut, summary_energy=summary_energy, seed=seed,
                       doc_top_k=doc_top_k, doc_mass=doc_mass, value_bits=int(value_bits))
    manifest = read_manifest(out)
    c = manifest["counts"]
    source_nnz = c["nnz"] + c.get("dropped_by_doc_top_k", 0) + c.get("dropped_by_doc_mass", 0)
    for option, value, key in (("--doc-top-k", doc_top_k, "dropped_by_doc_top_k"),
                               ("--doc-mass", doc_mass, "dropped_by_doc_mass")):
        if c.get(key):
            click.echo(f"{option} {value}: {c[key]} of {source_nnz} document entries dropped")
    click.echo(f"{out}: {c['docs']} docs, {c['postings']} postings in {c['lists']} lists, {c['blocks']} blocks, "
               f"{c['summary_entries']} summary entries; {manifest['index_bytes'] / 2**20:.1f} MiB, "
               f"built in {manifest['build_seconds']:.1f} s (+{manifest['timings']['write_s']:.1f} s writing)")
