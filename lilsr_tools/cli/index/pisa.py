"""``lilsr index pisa`` (options from ``param_specs.PISA``)."""

from __future__ import annotations

import click

from .. import options
from ...engines.param_specs import PISA
from .spec_options import spec_option


@click.command("pisa")
@click.argument("vectors", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@spec_option(PISA, "scale")
@spec_option(PISA, "encoding")
@spec_option(PISA, "block_size")
@click.option("--verbose", is_flag=True, help="Show PISA's own log lines ([info] ...); hidden unless it fails.")
@options.overwrite
def command(vectors, out, scale, encoding, block_size, verbose, overwrite):
    """Build a PISA index at OUT from the vector store VECTORS.

    Search it with 'lilsr search OUT QUERIES' (-p query_algorithm=maxscore, or block_max_wand,
    block_max_maxscore, wand, ranked_or: all exact top-k on the quantized weights; -p query_scale=S)."""
    from ...manifest import read_manifest
    from ...engines.pisa.build import build_pisa_index

    import os

    from ...engines.pisa.pisathon import VERBOSE_ENV

    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    build_pisa_index(vectors, out, overwrite=overwrite, scale=scale, encoding=encoding, block_size=block_size)
    manifest = read_manifest(out)
    counts, postings = manifest["counts"], manifest["postings"]
    click.echo(f"{out}: {counts['docs']} docs at scale {scale:g} ({counts['dropped_zero_after_rounding']} weights "
               f"rounded to zero), {postings.get('terms', 0)} terms, {postings.get('postings', 0)} postings, "
               f"{encoding}, {manifest['index_bytes'] / 2**20:.1f} MiB, {manifest['build_seconds']:.1f} s")
