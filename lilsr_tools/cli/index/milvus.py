"""``lilsr index milvus`` (picked up by ``lilsr_tools.cli.index``)."""

from __future__ import annotations

import click

from ...engines.param_specs import MILVUS
from .. import options
from .spec_options import spec_option


@click.command("milvus")
@click.argument("vectors", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--uri", default=None,
              help="Milvus server, e.g. http://localhost:19530 (default: a Milvus Lite database inside OUT).")
@click.option("--token", default=None, envvar="MILVUS_TOKEN", show_envvar=True,
              help="Server token (user:password or API key); never written to the manifest.")
@click.option("--db", default=None, help="Server database (default: the server's default).")
@click.option("--collection", default=None, help="Collection name (default: lilsr_ + OUT's folder name).")
@spec_option(MILVUS, "inverted_index_algo", flag="--algo")
@spec_option(MILVUS, "drop_ratio_build")
@click.option("--insert-batch", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Documents per insert request (the unit a killed build resumes from).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Seconds to wait for the server before giving up.")
@options.overwrite
def command(vectors, out, uri, token, db, collection, inverted_index_algo, drop_ratio_build, insert_batch, timeout,
            overwrite):
    """Load the vector store VECTORS into a Milvus collection (SPARSE_INVERTED_INDEX, metric IP); write
    the index folder OUT.

    Search it with 'lilsr search OUT QUERIES' (-p batch_size=N sends N queries per request;
    -p drop_ratio_search=R on a server)."""
    from ...manifest import read_manifest
    from ...engines.milvus.engine import build_milvus_index

    build_milvus_index(vectors, out, overwrite=overwrite, uri=uri, token=token, db=db, collection=collection,
                       insert_batch=insert_batch, timeout=timeout, inverted_index_algo=inverted_index_algo,
                       drop_ratio_build=drop_ratio_build)
    manifest = read_manifest(out)
    c, t = manifest["counts"], manifest["timings"]
    where = f"Milvus Lite {out}/{manifest['uri']}" if manifest["lite"] else manifest["uri"]
    size = f"{manifest['index_bytes'] / 2**20:.1f} MiB, " if manifest.get("index_bytes") else ""
    click.echo(f"{out}: {c['inserted']} docs in collection {manifest['collection']} at {where} "
               f"({c['empty_docs_skipped']} empty skipped), {manifest['params']['inverted_index_algo']}; {size}"
               f"built in {manifest['build_seconds']:.1f} s (insert {t['insert_s']:.1f}, flush {t['flush_s']:.1f}, "
               f"index {t['index_s']:.1f})")
