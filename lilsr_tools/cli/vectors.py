"""``lilsr vectors info | export | import``."""

from __future__ import annotations

import click

from . import options


@click.group("vectors")
def command():
    """Inspect vector stores and convert them to and from Anserini and Seismic formats."""


@command.command("info")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--verify", is_flag=True, help="Re-check the sha256 of every file.")
def info_command(store, verify):
    """Counts, model and posting-list statistics of STORE."""
    from ..vectors.store import load_vectors, posting_lengths, posting_stats

    vectors = load_vectors(store, verify=verify)
    stats = vectors.stats()
    click.echo(f"{store}: {stats['docs']} docs, {stats['nnz']} non-zeros (mean {stats['mean_nnz']:.1f}/doc), "
               f"{stats['empty_docs']} empty, vocabulary {stats['vocab_size']} ({stats['vocab_used']} used), "
               f"model {vectors.manifest.get('model')}")
    postings = posting_stats(posting_lengths(vectors))
    click.echo("posting lists: " + ", ".join(f"{k} {v:.6g}" for k, v in postings.items()))
    if verify:
        click.echo("checksums: ok")


@command.command("export")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["anserini", "seismic"]), required=True,
              help="anserini: JsonVectorCollection with integer weights round(w * scale); seismic: JSONL floats.")
@click.option("--scale", type=options.FloatRange(min=0, min_open=True, why="impacts are round(weight x scale)"),
              default=100.0, show_default=True, help="Quantization scale (anserini).")
@options.overwrite
def export_command(store, out, fmt, scale, overwrite):
    """Write STORE as an Anserini JsonVectorCollection folder or a Seismic JSONL file at OUT."""
    from ..atomic import check_can_write
    from ..vectors.convert import write_json_vector_collection, write_seismic_jsonl
    from ..vectors.store import load_vectors

    check_can_write(out, overwrite)
    vectors = load_vectors(store)
    if fmt == "anserini":
        counts = write_json_vector_collection(vectors, out, scale=scale, overwrite=overwrite)
        click.echo(f"{out}: {counts['docs']} docs, {counts['postings']} integer postings at scale {scale:g} "
                   f"({counts['dropped_zero_after_rounding']} weights rounded to zero and dropped)")
    else:
        write_seismic_jsonl(vectors, out, overwrite=overwrite)
        click.echo(f"{out}: {len(vectors)} docs")


@command.command("import")
@click.argument("source", type=click.Path(exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["anserini", "seismic"]), required=True)
@options.model
@options.overwrite
def import_command(source, out, fmt, model, overwrite):
    """Read an Anserini JsonVectorCollection folder (from 'vectors export') or a Seismic JSONL file into a store.

    Seismic JSONL needs --model for the vocabulary."""
    from ..atomic import check_can_write
    from ..errors import LilsrError
    from ..vectors.convert import read_json_vector_collection, read_seismic_jsonl
    from ..vectors.store import save_vectors

    check_can_write(out, overwrite)
    if fmt == "anserini":
        vectors, scale = read_json_vector_collection(source)
        params = {"source": source, "format": fmt, "scale": scale}
    else:
        if not model:
            raise LilsrError("importing Seismic JSONL needs --model for the vocabulary")
        from ..models.presets import load_tokenizer, vocabulary

        vectors = read_seismic_jsonl(source, vocabulary(load_tokenizer(model)))
        params = {"source": source, "format": fmt}
    save_vectors(out, vectors, model=model, params=params, overwrite=overwrite)
    click.echo(f"{out}: {len(vectors)} docs, {vectors.nnz} non-zeros")
