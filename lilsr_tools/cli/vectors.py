"""``lilsr vectors info | export | import | synth | merge | reorder``."""

from __future__ import annotations

import click

from . import options


@click.group("vectors")
def command():
    """Inspect vector stores and convert them to and from Anserini, Seismic and CIFF formats."""


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
@click.option("--format", "fmt", type=click.Choice(["anserini", "seismic", "ciff"]), required=True,
              help="anserini: JsonVectorCollection with integer weights round(w * scale); seismic: JSONL floats; "
                   "ciff: Common Index File Format v1 (protobuf), tf = round(w * scale).")
@click.option("--scale", type=options.FloatRange(min=0, min_open=True, why="impacts are round(weight x scale)"),
              default=100.0, show_default=True, help="Quantization scale (anserini, ciff).")
@options.overwrite
def export_command(store, out, fmt, scale, overwrite):
    """Write STORE as an Anserini JsonVectorCollection folder, a Seismic JSONL file or a CIFF file at OUT."""
    from ..atomic import check_can_write
    from ..vectors.convert import write_json_vector_collection, write_seismic_jsonl
    from ..vectors.store import load_vectors

    check_can_write(out, overwrite)
    vectors = load_vectors(store)
    if fmt == "ciff":
        from ..vectors.ciff import write_ciff

        counts = write_ciff(vectors, out, scale=scale, overwrite=overwrite)
        click.echo(f"{out}: {counts['docs']} docs, {counts['postings_lists']} postings lists, {counts['postings']} "
                   f"postings at scale {scale:g} ({counts['dropped_zero_after_rounding']} weights rounded to zero "
                   "and dropped)")
    elif fmt == "anserini":
        counts = write_json_vector_collection(vectors, out, scale=scale, overwrite=overwrite)
        click.echo(f"{out}: {counts['docs']} docs, {counts['postings']} integer postings at scale {scale:g} "
                   f"({counts['dropped_zero_after_rounding']} weights rounded to zero and dropped)")
    else:
        write_seismic_jsonl(vectors, out, overwrite=overwrite)
        click.echo(f"{out}: {len(vectors)} docs")


@command.command("import")
@click.argument("source", type=click.Path(exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["anserini", "seismic", "ciff"]), required=True,
              help="SOURCE's format: an Anserini JsonVectorCollection folder, a Seismic JSONL file or a CIFF file.")
@options.model
@click.option("--scale", type=float, default=None,
              help="CIFF: weights are tf / scale [default: the scale recorded by 'vectors export'].")
@options.overwrite
def import_command(source, out, fmt, model, scale, overwrite):
    """Read an Anserini JsonVectorCollection folder (from 'vectors export'), a Seismic JSONL file or a CIFF
    file into a store.

    Seismic JSONL needs --model for the vocabulary. For CIFF, --model fixes the vocabulary (every term must
    be in it; without it the vocabulary is the file's terms)."""
    from ..atomic import check_can_write
    from ..errors import LilsrError
    from ..vectors.convert import read_json_vector_collection, read_seismic_jsonl
    from ..vectors.store import save_vectors

    check_can_write(out, overwrite)
    if scale is not None and fmt != "ciff":
        raise LilsrError(f"--scale applies to CIFF imports only (a {fmt} import keeps its own weights)")
    if fmt == "ciff":
        from pathlib import Path

        from ..vectors.ciff import read_ciff

        if not Path(source).is_file():
            raise LilsrError(f"{source}: a CIFF import reads one .ciff file, not a folder")
        vocab = None
        if model:
            from ..models.presets import load_tokenizer, vocabulary

            vocab = vocabulary(load_tokenizer(model))
        vectors, scale, info = read_ciff(source, scale=scale, vocab=vocab)
        params = {"source": source, "format": fmt, "scale": scale, "description": info["description"]}
    elif fmt == "anserini":
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


@command.command("synth")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--docs", type=click.IntRange(min=1), default=None,
              help="Documents to grow to (at least the source's count). Not with --validate.")
@click.option("--method", type=click.Choice(["mix", "templates"]), default="mix", show_default=True,
              help="mix: recombine real documents of one neighbourhood; templates: noisy copies of one real "
                   "document filled from the whole store (see docs/scale.md).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--mix", "mix", type=click.IntRange(min=1, max=64), default=4, show_default=True,
              help="mix: real documents recombined per synthetic document.")
@click.option("--pool", type=click.IntRange(min=1, max=4096), default=16, show_default=True,
              help="mix: the seed's nearest neighbours the other documents come from.")
@click.option("--keep", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="templates: share of the template's entries kept.")
@click.option("--noise", type=click.FloatRange(0, 2), default=0.2, show_default=True,
              help="templates: sigma of the log-normal factor on kept weights.")
@click.option("--validate", is_flag=True,
              help="Instead of growing to --docs: grow synthetic stores at the source's own size (from all its "
                   "documents and from a 1/G subset, --growth) and write a report at OUT comparing them with the "
                   "real store: posting lengths, nearest-neighbour similarity, exact/native/Lucene latency and "
                   "accuracy@10 on the real --queries.")
@click.option("--queries", type=click.Path(exists=True, file_okay=False), default=None,
              help="--validate: encoded queries of the source's collection ('lilsr encode queries').")
@click.option("--growth", "growth", type=click.IntRange(min=1, max=1000), multiple=True,
              help="--validate: growth factors to check (repeatable; default 1 and 5).")
@click.option("--engines", default="exact,native,lucene", show_default=True,
              help="--validate: engines to time (comma-separated).")
@options.overwrite
def synth_command(source, out, docs, method, seed, mix, pool, keep, noise, validate, queries, growth, engines,
                  overwrite):
    """Grow the vector store SOURCE into a synthetic store of --docs documents at OUT.

    The synthetic store keeps the source's vocabulary (its queries search it), per-document lengths,
    term document-frequency rates, weight distributions and topical co-occurrence; see docs/scale.md for
    what it can and cannot tell. Resumable: a re-run after an interruption continues where it stopped."""
    from ..errors import LilsrError

    options_ = {"mix": mix, "pool": pool} if method == "mix" else {"keep": keep, "noise": noise}
    if validate:
        if docs is not None:
            raise LilsrError("--validate grows stores at the source's own size; drop --docs")
        if not queries:
            raise LilsrError("--validate needs --queries: encoded queries of the source's collection")
        from ..reports.synth_validation import validate_synth

        table = validate_synth(source, queries, out, method=method, seed=seed, growths=growth or (1, 5),
                               engines=tuple(e for e in engines.split(",") if e), overwrite=overwrite, **options_)
        click.echo(table.to_string(index=False))
        click.echo(f"report: {out}/report.md")
        return
    if docs is None:
        raise LilsrError("--docs is required (the number of synthetic documents), or pass --validate")
    from ..vectors.synth import synthesize

    vectors = synthesize(source, out, docs, method=method, seed=seed, overwrite=overwrite, **options_)
    stats = vectors.stats()
    click.echo(f"{out}: {stats['docs']:,} synthetic docs, {stats['nnz']:,} non-zeros (mean {stats['mean_nnz']:.1f}"
               f"/doc), method {method}, seed {seed}; {vectors.manifest['counts'].get('short_docs', 0)} documents "
               f"shorter than their seed")


@command.command("merge")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("parts", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@options.overwrite
def merge_command(out, parts, overwrite):
    """Join vector stores PARTS (the shards of 'lilsr encode corpus --shard I/N') into one store at OUT.

    Shards are put in corpus order and must tile the corpus: overlaps, gaps, other models, vocabularies or
    encoding parameters are refused."""
    from ..vectors.shards import merge_vectors
    from ..vectors.store import load_vectors

    merge_vectors(out, parts, overwrite=overwrite)
    stats = load_vectors(out).stats()
    click.echo(f"{out}: {stats['docs']} docs, {stats['nnz']} non-zeros from {len(parts)} parts")


@command.command("reorder")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--method", type=click.Choice(["bp"]), default="bp", show_default=True,
              help="bp: recursive graph bisection (Dhulipala et al. 2016, Mackenzie et al.'s faster variant).")
@click.option("--seed", type=options.IntRange(min=0, why="it seeds the random initial order"), default=0,
              show_default=True)
@click.option("--depth", type=options.IntRange(min=1, max=40, why="levels of bisection"), default=None,
              help="Bisection levels [default: until parts hold about 16 documents].")
@click.option("--iterations", type=options.IntRange(min=1, max=1000, why="swap rounds per level"), default=20,
              show_default=True, help="Swap rounds per level (fewer when a round swaps nothing).")
@click.option("--threads", type=options.IntRange(min=1, why="worker threads"), default=1, show_default=True,
              help="Threads bisecting a level's parts side by side (the permutation is the same for any count).")
@options.overwrite
def reorder_command(store, out, method, seed, depth, iterations, threads, overwrite):
    """Write STORE with its documents reordered at OUT, so that documents sharing terms get nearby ids.

    Ids travel with their documents (every engine builds on OUT unchanged and finds the same documents);
    posting lists get smaller gaps, which compressed and block-max indexes (BMP, PISA) rely on. The
    log-gap cost (mean log2 of the posting gaps) before and after is printed and recorded in OUT's manifest,
    the permutation in OUT/order.npy. Deterministic for a seed; written atomically."""
    from ..vectors.reorder import reorder_store

    summary = reorder_store(store, out, method=method, seed=seed, depth=depth, iterations=iterations,
                            threads=threads, overwrite=overwrite, progress=True)
    click.echo(f"{out}: log-gap cost {summary['log_gap_bits_before']:.3f} -> {summary['log_gap_bits_after']:.3f} "
               f"bits per posting gap ({method}, seed {seed}, {summary['reorder_seconds']:.1f} s)")
