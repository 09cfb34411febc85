"""``lilsr index seismic-rs|bmp|kannolo`` (options from ``engines/param_specs.py``): the engines that wrap a
compiled package, each building an index folder with a manifest that ``lilsr search`` recognises."""

from __future__ import annotations

import click

from ...engines.param_specs import BMP, KANNOLO, SEISMIC_RS
from .. import options
from .spec_options import spec_option

vectors_argument = click.argument("vectors", type=click.Path(exists=True, file_okay=False))
out_argument = click.argument("out", type=click.Path(file_okay=False))


def _summary(out) -> str:
    from ...manifest import read_manifest
    from ...engines.base import folder_bytes

    manifest = read_manifest(out)
    counts = manifest.get("counts", {})
    return (f"{out}: {manifest['kind']}, {counts.get('docs', '?')} docs, {folder_bytes(out) / 2**20:.1f} MiB, "
            f"built in {manifest.get('build_seconds') or 0:.1f} s")


@click.command("seismic-rs")
@vectors_argument
@out_argument
@spec_option(SEISMIC_RS, "n_postings")
@spec_option(SEISMIC_RS, "centroid_fraction")
@spec_option(SEISMIC_RS, "min_cluster_size")
@spec_option(SEISMIC_RS, "summary_energy")
@spec_option(SEISMIC_RS, "max_fraction")
@spec_option(SEISMIC_RS, "doc_cut")
@spec_option(SEISMIC_RS, "nknn")
@options.threads
@options.overwrite
def seismic_rs_command(vectors, out, n_postings, centroid_fraction, min_cluster_size, summary_energy, max_fraction,
                       doc_cut, nknn, threads, overwrite):
    """Build a Rust Seismic (pyseismic-lsr) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_cut=10 -p heap_factor=0.7; -p n_knn=N with an index
    built with --nknn N or more)."""
    from ...engines.seismic_rs import SeismicRsEngine

    SeismicRsEngine.build(vectors, out, overwrite=overwrite, threads=threads, n_postings=n_postings,
                          centroid_fraction=centroid_fraction, min_cluster_size=min_cluster_size,
                          summary_energy=summary_energy, max_fraction=max_fraction, doc_cut=doc_cut, nknn=nknn)
    click.echo(_summary(out))


@click.command("bmp")
@vectors_argument
@out_argument
@spec_option(BMP, "scale")
@spec_option(BMP, "bsize")
@spec_option(BMP, "compress_range")
@options.overwrite
def bmp_command(vectors, out, scale, bsize, compress_range, overwrite):
    """Build a BMP (Block-Max Pruning) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p alpha=1 -p beta=1: exact for BMP's integers)."""
    from ...manifest import read_manifest
    from ...engines.bmp import BmpEngine

    BmpEngine.build(vectors, out, overwrite=overwrite, progress=True, scale=scale, bsize=bsize,
                    compress_range=compress_range)
    counts = read_manifest(out)["counts"]
    click.echo(f"{_summary(out)}; scale {read_manifest(out)['params']['scale']:.4g}, {counts['postings']} postings "
               f"({counts['dropped_zero_after_rounding']} weights rounded to zero, {counts.get('clipped_to_max_impact', 0)} "
               f"outliers clipped to 255), {counts['terms']} terms")


@click.command("kannolo")
@vectors_argument
@out_argument
@spec_option(KANNOLO, "m")
@spec_option(KANNOLO, "ef_construction")
@spec_option(KANNOLO, "variant")
@spec_option(KANNOLO, "graph_type")
@options.threads
@options.overwrite
def kannolo_command(vectors, out, m, ef_construction, variant, graph_type, threads, overwrite):
    """Build a kANNolo sparse HNSW index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p ef_search=100)."""
    from ...engines.kannolo import KannoloEngine

    KannoloEngine.build(vectors, out, overwrite=overwrite, threads=threads, m=m, ef_construction=ef_construction,
                        variant=variant, graph_type=graph_type)
    click.echo(_summary(out))


commands = [seismic_rs_command, bmp_command, kannolo_command]
