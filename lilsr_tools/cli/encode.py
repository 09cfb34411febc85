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
@click.option("--max-length", type=options.positive_int("a document keeps at least one token"), default=256,
              show_default=True, help="Token limit per document (at most the model's position limit).")
@click.option("--batch-size", type=options.positive_int("a batch holds at least one document"), default=32,
              show_default=True)
@options.threads
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (fast on GPUs and AMX/AVX512-BF16 CPUs only).")
@click.option("--shard-size", type=options.positive_int("a shard holds at least one document"), default=10_000,
              show_default=True, help="Documents per resumable shard.")
@click.option("--limit", type=options.positive_int("leave --limit out to encode every document"), default=None,
              help="Encode only the first N documents.")
@click.option("--device", default="cpu", show_default=True,
              help="Torch device for the encoder: cpu, cuda, cuda:1 (one shard per GPU: see docs/scale-out.md).")
@click.option("--shard", default=None, metavar="I/N",
              help="Encode only the I-th (1-based) of N contiguous slices of the corpus; join the parts with "
                   "'lilsr vectors merge' (see docs/scale-out.md).")
@options.overwrite
def encode_corpus_command(collection, out, model, max_length, batch_size, threads, bf16, shard_size, limit, device,
                          shard, overwrite):
    """Encode COLLECTION's corpus into a vector store at OUT.

    COLLECTION is a name (scifact, nfcorpus, ...), a BEIR folder, or a corpus file (.jsonl or id<TAB>text .tsv).
    """
    from pathlib import Path

    from ..atomic import check_can_write
    from ..data.collection import resolve_collection
    from ..models.corpus import encode_corpus
    from ..models.splade import SpladeEncoder
    from ..vectors.shards import parse_shard

    shard = parse_shard(shard) if shard is not None else None
    check_device(device)
    check_can_write(out, overwrite)
    path = Path(collection)
    corpus = path if path.is_file() else resolve_collection(collection).corpus_path
    encoder = SpladeEncoder(model or "splade-tiny", max_length=max_length, batch_size=batch_size, threads=threads,
                            bf16=bf16, device=device)
    vectors = encode_corpus(corpus, out, encoder, shard_size=shard_size, overwrite=overwrite, limit=limit,
                            shard=shard)
    counts = vectors.manifest["counts"]
    part = vectors.manifest["params"].get("shard")
    where = f" (shard {part['index']}/{part['count']}: docs {part['start']}-{part['stop'] - 1} of {part['total_docs']})" \
        if part else ""
    click.echo(f"{out}{where}: {counts['docs']} vectors, mean non-zeros {counts['mean_nnz']:.1f}, "
               f"{counts['empty_docs']} empty ({counts['empty_input_docs']} empty inputs), "
               f"{counts['docs_per_second'] or 0:.1f} docs/s")
    from ..models.truncation import describe

    click.echo(f"truncation: {describe(counts.get('truncation'), 'documents')}")


def check_device(device: str) -> None:
    """Refuse a device this machine does not have before loading anything."""
    import torch

    from ..errors import LilsrError

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise LilsrError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and (not torch.cuda.is_available() or (parsed.index or 0) >= torch.cuda.device_count()):
        raise LilsrError(f"--device {device}: no such CUDA device here ({torch.cuda.device_count()} visible); "
                         "use --device cpu")
    if parsed.type not in ("cpu", "cuda"):
        raise LilsrError(f"--device {device!r}: expected cpu, cuda or cuda:N")


@command.command("queries")
@click.argument("collection")
@click.argument("out", type=click.Path(file_okay=False))
@options.split
@click.option("--all-queries", is_flag=True, help="Encode every query, not only those judged in --split.")
@options.model
@options.query_encoder_options
@options.query_batch_size
@options.threads
@options.overwrite
def encode_queries_command(collection, out, split, all_queries, model, encoder, table, vectors, dup,
                           query_max_length, topic_field, query_top_k, query_batch_size, threads, overwrite):
    """Encode COLLECTION's queries into OUT (queries.jsonl: {"qid", "vector"} per line, plus timings).

    COLLECTION is a name or BEIR folder (the queries judged in --split), or a queries file: BEIR
    queries.jsonl, MS MARCO queries.tsv (qid<TAB>text) or TREC topics (<top><num>...; --topic-field).
    """
    import time
    from pathlib import Path

    import numpy as np

    from ..atomic import check_can_write
    from ..models.query_encoders import encode_queries
    from ..vectors.queries import save_encoded_queries
    from ..vectors.store import vocab_digest
    from .common import build_query_encoder, read_query_texts

    check_can_write(out, overwrite)
    qids, texts = read_query_texts(collection, None if all_queries else split, topic_field)
    corpus = None if Path(collection).is_file() else collection  # idf counts the text of this collection
    query_encoder = build_query_encoder(encoder or "table", model, table, vectors, dup, query_max_length, threads,
                                        query_batch_size, corpus, query_top_k)
    started = time.perf_counter()
    encoded = encode_queries(query_encoder, qids, texts, batch_size=query_batch_size)
    seconds = time.perf_counter() - started
    truncation = None
    if query_encoder.name == "contextual":  # static encoders look every token up: nothing is cut
        from ..models.truncation import Truncation

        truncation = Truncation(query_max_length).add(query_encoder._encoder.tokenizer, texts)
    save_encoded_queries(out, encoded, overwrite=overwrite, vocab_digest=vocab_digest(query_encoder.vocab),
                         params={"collection": str(collection), "split": None if all_queries else split,
                                 "encoder": query_encoder.name, "model": model, "table": table,
                                 "dup": getattr(query_encoder, "dup", None), "topic_field": topic_field,
                                 "query_batch_size": query_batch_size, **getattr(query_encoder, "info", {}),
                                 "truncation": truncation.as_dict() if truncation else None})
    times = encoded.encode_ns / 1e3
    empty = encoded.empty
    click.echo(f"{out}: {len(encoded)} queries with '{query_encoder.name}' in {seconds:.1f} s "
               f"({len(encoded) / max(seconds, 1e-9):.0f} queries/s), {empty} empty "
               f"({empty / max(len(encoded), 1):.1%}: no token with a weight, they retrieve nothing); encoding "
               f"mean {times.mean():.1f} us, p50 {np.median(times):.1f} us, p99 {np.percentile(times, 99):.1f} us "
               f"per query" + (f" (batches of {encoded.batch_size})" if encoded.batch_size > 1 else ""))
    if truncation is not None:
        click.echo(f"truncation: {truncation.describe('queries')}")
