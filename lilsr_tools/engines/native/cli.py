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
@options.threads
@options.overwrite
def command(vectors, out, n_postings, max_fraction, blocks, centroid_fraction, min_cluster_size, doc_cut,
            summary_energy, seed, threads, overwrite):
    """Build a native (Seismic-like) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_cut=10 -p heap_factor=0.7 -p sorted=true
    -p prefetch=true)."""
    from ...manifest import read_manifest
    from .build import build_native_index

    build_native_index(vectors, out, overwrite=overwrite, threads=threads, n_postings=n_postings,
                       max_fraction=max_fraction, blocks=blocks, centroid_fraction=centroid_fraction,
                       min_cluster_size=min_cluster_size, doc_cut=doc_cut, summary_energy=summary_energy, seed=seed)
    manifest = read_manifest(out)
    c = manifest["counts"]
    click.echo(f"{out}: {c['docs']} docs, {c['postings']} postings in {c['lists']} lists, {c['blocks']} blocks, "
               f"{c['summary_entries']} summary entries; {manifest['index_bytes'] / 2**20:.1f} MiB, "
               f"built in {manifest['build_seconds']:.1f} s (+{manifest['timings']['write_s']:.1f} s writing)")
