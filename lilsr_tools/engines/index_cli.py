"""``lilsr index seismic-rs|bmp|kannolo`` (picked up by ``lilsr_tools.cli.index``): the engines that wrap a
compiled package, each building an index folder with a manifest that ``lilsr search`` recognises."""

from __future__ import annotations

import click

from ..cli import options

vectors_argument = click.argument("vectors", type=click.Path(exists=True, file_okay=False))
out_argument = click.argument("out", type=click.Path(file_okay=False))


def _positive(name: str, low, high=None):
    """A click callback refusing values outside [low, high] (one ``lilsr: error:`` line, exit 2)."""
    def check(ctx, param, value):
        if value is not None and (value < low or (high is not None and value > high)):
            from ..errors import LilsrError

            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise LilsrError(f"--{name} must be {bound}, got {value:g}")
        return value
    return check


def _summary(out) -> str:
    from ..manifest import read_manifest
    from .base import folder_bytes

    manifest = read_manifest(out)
    counts = manifest.get("counts", {})
    return (f"{out}: {manifest['kind']}, {counts.get('docs', '?')} docs, {folder_bytes(out) / 2**20:.1f} MiB, "
            f"built in {manifest.get('build_seconds') or 0:.1f} s")


@click.command("seismic-rs")
@vectors_argument
@out_argument
@click.option("--n-postings", type=int, default=3500, show_default=True, callback=_positive("n-postings", 1),
              help="Average posting-list length kept by static pruning.")
@click.option("--centroid-fraction", type=float, default=0.1, show_default=True,
              callback=_positive("centroid-fraction", 1e-6, 1.0), help="Centroids per list, as a share of its postings.")
@click.option("--min-cluster-size", type=int, default=2, show_default=True, callback=_positive("min-cluster-size", 1),
              help="Smaller clusters are dissolved.")
@click.option("--summary-energy", type=float, default=0.4, show_default=True,
              callback=_positive("summary-energy", 1e-6, 1.0), help="Share of the L1 mass block summaries keep.")
@click.option("--max-fraction", type=float, default=1.5, show_default=True, callback=_positive("max-fraction", 1e-6),
              help="Per-list cap: at most max_fraction x n_postings postings.")
@click.option("--doc-cut", type=int, default=15, show_default=True, callback=_positive("doc-cut", 1),
              help="Docs join a centroid by their doc_cut largest components.")
@options.threads
@options.overwrite
def seismic_rs_command(vectors, out, n_postings, centroid_fraction, min_cluster_size, summary_energy, max_fraction,
                       doc_cut, threads, overwrite):
    """Build a Rust Seismic (pyseismic-lsr) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_cut=10 -p heap_factor=0.7)."""
    from .seismic_rs import SeismicRsEngine

    SeismicRsEngine.build(vectors, out, overwrite=overwrite, threads=threads, n_postings=n_postings,
                          centroid_fraction=centroid_fraction, min_cluster_size=min_cluster_size,
                          summary_energy=summary_energy, max_fraction=max_fraction, doc_cut=doc_cut)
    click.echo(_summary(out))


@click.command("bmp")
@vectors_argument
@out_argument
@click.option("--scale", type=float, default=None, callback=_positive("scale", 1e-9),
              help="Impacts are round(w * scale), at most 255 [default: 127 / the largest weight].")
@click.option("--bsize", type=int, default=32, show_default=True, callback=_positive("bsize", 1, 256),
              help="Documents per block (consecutive in store order).")
@click.option("--compress-range/--no-compress-range", default=False, show_default=True,
              help="Store the per-block maxima of each term compressed (smaller index on big collections).")
@options.overwrite
def bmp_command(vectors, out, scale, bsize, compress_range, overwrite):
    """Build a BMP (Block-Max Pruning) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p alpha=1 -p beta=1: exact for BMP's integers)."""
    from ..manifest import read_manifest
    from .bmp import BmpEngine

    BmpEngine.build(vectors, out, overwrite=overwrite, progress=True, scale=scale, bsize=bsize,
                    compress_range=compress_range)
    counts = read_manifest(out)["counts"]
    click.echo(f"{_summary(out)}; scale {read_manifest(out)['params']['scale']:.4g}, {counts['postings']} postings "
               f"({counts['dropped_zero_after_rounding']} weights rounded to zero, {counts.get('clipped_to_max_impact', 0)} "
               f"outliers clipped to 255), {counts['terms']} terms")


@click.command("kannolo")
@vectors_argument
@out_argument
@click.option("--m", "m", type=int, default=32, show_default=True, callback=_positive("m", 2, 512),
              help="HNSW neighbours per node.")
@click.option("--ef-construction", type=int, default=200, show_default=True,
              callback=_positive("ef-construction", 1, 100_000), help="Candidate list size while building.")
@click.option("--variant", type=click.Choice(["plain", "u16", "u8", "packing8"]), default="plain", show_default=True,
              help="How document weights are stored (u8/packing8 clip above 3.98, u16 above 8: refused then).")
@click.option("--graph-type", type=click.Choice(["standard", "permuted", "compressed"]), default="standard",
              show_default=True, help="Graph layout (same results; permuted is faster, compressed smaller).")
@options.threads
@options.overwrite
def kannolo_command(vectors, out, m, ef_construction, variant, graph_type, threads, overwrite):
    """Build a kANNolo sparse HNSW index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p ef_search=100)."""
    from .kannolo import KannoloEngine

    KannoloEngine.build(vectors, out, overwrite=overwrite, threads=threads, m=m, ef_construction=ef_construction,
                        variant=variant, graph_type=graph_type)
    click.echo(_summary(out))


commands = [seismic_rs_command, bmp_command, kannolo_command]
