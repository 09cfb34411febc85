"""``lilsr index lucene`` and ``lilsr index bm25`` (picked up by ``lilsr_tools.cli.index``)."""

from __future__ import annotations

import click

from ...engines.param_specs import LUCENE
from .. import options
from .spec_options import spec_option

heap_option = click.option("--heap", default=None,
                           help="Java heap for Anserini, e.g. 8g (default: $LILSR_JAVA_HEAP or 4g).")


@click.command("lucene")
@click.argument("vectors", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@spec_option(LUCENE, "scale")
@spec_option(LUCENE, "threads", type=options.THREADS)  # the shared thread-count type and its message
@spec_option(LUCENE, "optimize")
@heap_option
@options.overwrite
def lucene_command(vectors, out, scale, threads, optimize, heap, overwrite):
    """Build a Lucene impact index at OUT from VECTORS.

    VECTORS is a vector store ('lilsr encode corpus') or a JsonVectorCollection ('lilsr vectors export
    --format anserini', whose integer weights are checked line by line before Anserini reads them)."""
    from ...engines.lucene.indexing import build_impact_index
    from ...manifest import read_manifest

    build_impact_index(vectors, out, scale=scale, threads=threads, optimize=optimize, overwrite=overwrite,
                       heap=heap, echo=lambda line: click.echo(line, err=True))
    manifest = read_manifest(out)
    counts, postings = manifest["counts"], manifest["postings"]
    click.echo(f"{out}: {counts['indexed_docs']} docs indexed at scale {manifest['params']['scale']:g} "
               f"({counts.get('dropped_zero_after_rounding', 0)} weights rounded to zero), "
               f"{postings.get('terms', 0)} terms, {postings.get('postings', 0)} postings "
               f"(p50 {postings.get('p50_length', 0):g}, p99 {postings.get('p99_length', 0):g}, "
               f"max {postings.get('max_length', 0)}), {manifest['index_bytes'] / 2**20:.1f} MiB, "
               f"{manifest['build_seconds']:.1f} s")


@click.command("bm25")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--threads", type=options.THREADS, default=1, show_default=True,
              help="Anserini indexing threads (1, as Anserini's regressions, keeps doc order stable).")
@heap_option
@options.overwrite
def bm25_command(collection, out, threads, heap, overwrite):
    """Build a BM25 index at OUT from COLLECTION's raw text, as Anserini's BEIR "flat" indexes.

    COLLECTION is a name (scifact, ...), a BEIR folder or a corpus.jsonl file; title and text go into one
    field, analyzed by Anserini's default English analyzer."""
    from ...engines.lucene.indexing import build_bm25_index
    from ...manifest import read_manifest

    build_bm25_index(collection, out, threads=threads, overwrite=overwrite, heap=heap,
                     echo=lambda line: click.echo(line, err=True))
    manifest = read_manifest(out)
    postings = manifest.get("postings") or {}
    click.echo(f"{out}: {manifest['counts']['indexed_docs']} docs indexed, {postings.get('terms', '?')} terms, "
               f"{postings.get('postings', '?')} postings, {manifest['index_bytes'] / 2**20:.1f} MiB, "
               f"{manifest['build_seconds']:.1f} s")


commands = [lucene_command, bm25_command]
