"""``lilsr encode corpus`` and ``lilsr encode queries``."""

from __future__ import annotations

import click

from . import options


@click.group("encode")
def command():
    """Encode documents (SPLADE) or queries (table, contextual, idf, binary)."""


@command.command("corpus")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@options.model
@click.option("--max-length", type=int, default=256, show_default=True, help="Token limit per document.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@options.threads
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (fast on GPUs and AMX/AVX512-BF16 CPUs only).")
@click.option("--shard-size", type=int, default=10_000, show_default=True, help="Documents per resumable shard.")
@click.option("--limit", type=int, default=None, help="Encode only the first N documents.")
@options.overwrite
def encode_corpus_command(collection, out, model, max_length, batch_size, threads, bf16, shard_size, limit, overwrite):
    """Encode COLLECTION's corpus into a vector store at OUT.

    COLLECTION is a name (scifact, nfcorpus, ...), a BEIR folder, or a corpus file (.jsonl or id<TAB>text .tsv).
    """
    from pathlib import Path

    from ..atomic import check_can_write
    from ..data.collection import resolve_collection
    from ..models.corpus import encode_corpus
    from ..models.splade import SpladeEncoder

    check_can_write(out, overwrite)
    path = Path(collection)
    corpus = path if path.is_file() else resolve_collection(collection).corpus_path
    encoder = SpladeEncoder(model or "splade-tiny", max_length=max_length, batch_size=batch_size, threads=threads,
                            bf16=bf16)
    vectors = encode_corpus(corpus, out, encoder, shard_size=shard_size, overwrite=overwrite, limit=limit)
    counts = vectors.manifest["counts"]
    click.echo(f"{out}: {counts['docs']} vectors, mean non-zeros {counts['mean_nnz']:.1f}, "
               f"{counts['empty_docs']} empty ({counts['empty_input_docs']} empty inputs), "
               f"{counts['docs_per_second'] or 0:.1f} docs/s")
    from ..models.truncation import describe

    click.echo(f"truncation: {describe(counts.get('truncation'), 'documents')}")


@command.command("queries")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@options.split
@click.option("--all-queries", is_flag=True, help="Encode every query, not only those judged in --split.")
@options.model
@options.query_encoder_options
@options.threads
@options.overwrite
def encode_queries_command(collection, out, split, all_queries, model, encoder, table, vectors, dup,
                           query_max_length, threads, overwrite):
    """Encode COLLECTION's queries into OUT (queries.jsonl: {"qid", "vector"} per line, plus timings)."""
    from pathlib import Path

    import numpy as np

    from ..atomic import check_can_write
    from .common import build_query_encoder, read_query_texts
    from ..models.query_encoders import encode_queries
    from ..vectors.queries import save_encoded_queries

    check_can_write(out, overwrite)
    qids, texts = read_query_texts(collection, None if all_queries else split)
    corpus = None if Path(collection).is_file() else collection  # idf counts the text of this collection
    query_encoder = build_query_encoder(encoder or "table", model, table, vectors, dup, query_max_length, threads,
                                        corpus)
    encoded = encode_queries(query_encoder, qids, texts)
    from ..vectors.store import vocab_digest

    truncation = None
    if query_encoder.name == "contextual":  # static encoders look every token up: nothing is cut
        from ..models.truncation import Truncation

        truncation = Truncation(query_max_length).add(query_encoder._encoder.tokenizer, texts)

    save_encoded_queries(out, encoded, overwrite=overwrite, vocab_digest=vocab_digest(query_encoder.vocab),
                         params={"collection": str(collection), "split": None if all_queries else split,
                                 "encoder": query_encoder.name, "model": model, "table": table,
                                 "dup": getattr(query_encoder, "dup", None),
                                 **getattr(query_encoder, "info", {}),
                                 "truncation": truncation.as_dict() if truncation else None})
    times = encoded.encode_ns / 1e3
    click.echo(f"{out}: {len(encoded)} queries with '{query_encoder.name}', encoding "
               f"mean {times.mean():.1f} us, p50 {np.median(times):.1f} us, p99 {np.percentile(times, 99):.1f} us "
               f"per query")
    if truncation is not None:
        click.echo(f"truncation: {truncation.describe('queries')}")
