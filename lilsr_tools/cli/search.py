"""``lilsr search``: one engine, one query set, a TREC run and a latency JSON."""

from __future__ import annotations

import click

from ..engines import ENGINES
from . import options


def parse_params(values: tuple[str, ...]) -> dict:
    """``key=value`` pairs; values become int, float or bool when they look like one."""
    from ..errors import LilsrError

    params = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise LilsrError(f"--param expects key=value, got {item!r}")
        value: object = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    pass
        params[key.replace("-", "_")] = value
    return params


def removed_query_warning(info: dict, queries: str, split: str) -> str | None:
    """BM25's ``remove_query`` drops the hit whose document id is the query id (Anserini's ``-removeQuery``,
    for collections where a query is also a document). Where queries and documents share one number space
    by accident (Cranfield, CISI) that removes relevant documents: say how many, judged against the qrels of
    ``split`` when QUERIES is a collection, and record it in ``info`` (the latency JSON)."""
    from pathlib import Path

    from ..data.collection import resolve_collection
    from ..errors import LilsrError

    count = info["removed_query_docs"]
    if not count:
        return None
    qids = info.get("removed_query_doc_qids", [])
    judged = ""
    if not Path(queries).is_file():
        try:
            qrels = resolve_collection(queries, download=False).qrels(split)
        except LilsrError:
            qrels = None
        if qrels is not None:
            relevant = sum(1 for qid in qids if qrels.get(qid, {}).get(qid, 0) > 0)
            info["removed_query_docs_relevant"] = relevant
            judged = f", {relevant} of them judged relevant in the {split} qrels"
    return (f"remove_query dropped {count} hit(s) whose document id is the query id (e.g. query "
            f"{', '.join(qids[:3])}){judged}; drop -p remove_query=true unless queries are also documents")


@click.command("search")
@click.argument("index", type=click.Path(exists=True, file_okay=False))
@click.argument("queries")
@click.option("--engine", type=click.Choice(list(ENGINES)), default=None,
              help="Engine (default: from INDEX's manifest; a vector store means exact).")
@click.option("--run", "run_path", type=click.Path(dir_okay=False), required=True, help="TREC run file to write.")
@click.option("--latency", "latency_path", type=click.Path(dir_okay=False), default=None,
              help="Latency JSON to write (default: RUN with .latency.json).")
@click.option("-k", "--k", "k", type=options.positive_int("a run holds at least one result per query"), default=1000,
              show_default=True, help="Results per query.")
@click.option("--threads", type=options.THREADS, default=1, show_default=True, help="Search threads (latency: 1).")
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True,
              help="Untimed passes over all queries before timing (0: measure cold).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Timed passes; each query's latency is the median of its repeats (spread in the latency JSON).")
@options.split
@options.model
@options.query_encoder_options
@options.query_batch_size
@click.option("-p", "--param", "params", multiple=True, help="Engine search parameter key=value (repeatable).")
@click.option("--tag", default=None,
              help="Run tag (default: engine, query encoder and -p parameters, e.g. native.table.query_cut=10; "
                   "past 60 characters cut and ended with a hash of the whole).")
@options.verify
@options.overwrite
def command(index, queries, engine, run_path, latency_path, k, threads, warmup, repeat, split, model, encoder, table,
            vectors, dup, query_max_length, topic_field, query_top_k, query_batch_size, params, tag, verify, overwrite):
    """Search INDEX with QUERIES and write a TREC run plus per-query latency.

    QUERIES is an encoded-queries folder ('lilsr encode queries'), a collection (name or folder; judged
    queries of --split) or a queries file: BEIR queries.jsonl, MS MARCO queries.tsv (qid<TAB>text) or
    TREC topics (<top><num>...; --topic-field). Raw queries are encoded with --encoder for vector engines;
    BM25 searches the text.
    """
    import time

    from ..atomic import check_outputs
    from ..data.trec import check_tag, run_tag
    from ..engines import engine_for_index, get_engine
    from ..engines.checks import verify_index
    from ..engines.search import run_search, write_outputs
    from ..progress import SearchProgress
    from .common import load_query_batch

    latency_path = latency_path or (run_path.removesuffix(".trec").removesuffix(".run") + ".latency.json")
    check_outputs([run_path, latency_path], overwrite)  # before any work: both outputs or neither
    if verify:
        verify_index(index)
    name = engine or engine_for_index(index)
    engine_cls = get_engine(name)
    search_params = parse_params(params)
    batch = load_query_batch(queries, split, encoder=encoder, model=model, table=table, vectors=vectors, dup=dup,
                             max_length=query_max_length, need_vectors=engine_cls.query_input == "vector",
                             topic_field=topic_field, batch_size=query_batch_size, top_k=query_top_k)
    tag = check_tag(tag) if tag else run_tag("/".join(
        [name, *([batch.encoder] if batch.encoder else []), *(f"{key}={value}" for key, value in
                                                            sorted(search_params.items()))]))
    searcher = SearchProgress(engine_cls.load(index))
    started = time.perf_counter()
    results = run_search(searcher, batch, k=k, threads=threads, warmup=warmup, repeat=repeat, **search_params)
    seconds = time.perf_counter() - started
    if "removed_query_docs" in results.info:
        warning = removed_query_warning(results.info, queries, split)
        if warning:
            click.echo(f"lilsr: warning: {warning}", err=True)
    report = write_outputs(results, batch, run_path, latency_path, tag=tag)
    enc, ret, own = report["encode"], report["retrieval"], report["retrieval_engine_clock"]
    spread = report["protocol"]["repeat_p50_ms"]
    click.echo(f"{run_path}: {len(results)} queries in {seconds:.1f} s, k={k}, engine {name}, tag {tag}; "
               f"retrieval (call clock, warm-up {warmup}, "
               f"median of {repeat}) mean {ret['mean_ms']:.3f} ms p50 {ret['p50_ms']:.3f} p99 {ret['p99_ms']:.3f}"
               + (f" [repeats' p50 {min(spread):.3f}-{max(spread):.3f}]" if repeat > 1 else "")
               + (f"; engine clock p50 {own['p50_ms']:.3f}" if own else "")
               + f"; encoding mean {enc.get('mean_ms', 0):.3f} ms; {results.unknown_tokens} query tokens unknown "
               f"to the index; load average {report['protocol']['load_average']['before']}")
