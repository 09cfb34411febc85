"""``lilsr index native`` (options from ``param_specs.NATIVE``)."""

from __future__ import annotations

import click

from ...engines.param_specs import NATIVE
from .. import options
from .spec_options import spec_option


@click.command("native")
@click.argument("vectors", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@spec_option(NATIVE, "n_postings")
@spec_option(NATIVE, "max_fraction")
@spec_option(NATIVE, "blocks")
@spec_option(NATIVE, "centroid_fraction")
@spec_option(NATIVE, "min_cluster_size")
@spec_option(NATIVE, "doc_cut")
@spec_option(NATIVE, "summary_energy")
@spec_option(NATIVE, "seed")
@spec_option(NATIVE, "doc_top_k")
@spec_option(NATIVE, "doc_mass")
@spec_option(NATIVE, "value_bits")
@options.threads
@options.overwrite
def command(vectors, out, n_postings, max_fraction, blocks, centroid_fraction, min_cluster_size, doc_cut,
            summary_energy, seed, doc_top_k, doc_mass, value_bits, threads, overwrite):
    """Build a native (Seismic-like) index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_cut=10 -p heap_factor=0.7 -p sorted=true
    -p prefetch=true)."""
    from ...manifest import read_manifest
    from ...engines.native.build import build_native_index

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
