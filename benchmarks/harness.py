"""What a benchmark starts from: its command line and its inputs.

``benchmark_parser`` gives every script the same description (its docstring), ``--update-results`` and,
where asked, the options several benchmarks share (``--work``, ``--out``, ``--repeats``, ``--warmup``,
``--collection``), each range-checked so that a bad value is one line and exit 2. ``encoded_store`` and
``encoded_queries`` encode a collection's documents or queries once into the work folder and reuse them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import WORK, add_update_results, portable


def at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum`` (argparse names the option in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1] (an accuracy target)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def comma_separated(item):
    """An argparse type: comma-separated values, each read by ``item`` (``at_least(1)``, ``fraction``)."""
    def parse(text: str) -> list:
        return [item(part.strip()) for part in text.split(",") if part.strip()]
    parse.__name__ = f"comma-separated {getattr(item, '__name__', 'values')}"
    return parse


def benchmark_parser(doc: str, *, full_doc: bool = False, work: str | None = None, out: str | None = None,
                     repeats: int | None = None, warmup: int | None = None,
                     collection: str | None = None) -> argparse.ArgumentParser:
    """A benchmark's parser: ``doc``'s first paragraph as description (all of it with ``full_doc``),
    ``--update-results``, and each shared option whose argument is given:

    - ``work``: ``--work``, the scratch folder under benchmarks/work/ (named ``work``) where inputs are
      built and reused;
    - ``out``: ``--out``, another results folder than benchmarks/work/results/ (``out`` says what goes there);
    - ``repeats`` / ``warmup``: timed passes (at least 1) / untimed passes first (at least 0), with that default;
    - ``collection``: ``--collection`` (default scifact), ``collection`` its help.
    """
    if full_doc:
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    else:
        parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if work is not None:
        parser.add_argument("--work", type=Path, default=WORK / work,
                            help=f"scratch folder: inputs and indexes built there are reused by later runs "
                                 f"(default {portable(WORK / work)}, git-ignored)")
    if out is not None:
        parser.add_argument("--out", type=Path, default=None,
                            help=f"folder for {out} (default benchmarks/work/results)")
    if repeats is not None:
        parser.add_argument("--repeats", type=at_least(1), default=repeats,
                            help=f"timed passes (default {repeats})")
    if warmup is not None:
        parser.add_argument("--warmup", type=at_least(0), default=warmup,
                            help=f"untimed passes before them (default {warmup})")
    if collection is not None:
        parser.add_argument("--collection", default="scifact", help=collection)
    add_update_results(parser)
    return parser


def work_folder(args) -> Path:
    """``--work``, created."""
    args.work.mkdir(parents=True, exist_ok=True)
    return args.work


def encoded_store(collection: str, folder: Path, model: str = "splade-tiny", max_length: int = 256,
                  limit: int | None = None) -> Path:
    """``collection``'s documents encoded with ``model`` into ``folder`` (once: a later call reuses it)."""
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.manifest import MANIFEST

    if not (folder / MANIFEST).is_file():
        from lilsr_tools.models.corpus import encode_corpus
        from lilsr_tools.models.splade import SpladeEncoder

        print(f"encoding {collection} with {model} into {folder} (once)", flush=True)
        encode_corpus(resolve_collection(collection).corpus_path, folder,
                      SpladeEncoder(model, max_length=max_length), limit=limit, overwrite=True)
    return folder


def encoded_queries(collection: str, split: str, folder: Path, model: str = "splade-tiny") -> Path:
    """``collection``'s ``split`` queries, contextual ``model`` encoding, in ``folder`` (once)."""
    from lilsr_tools.data import resolve_collection
    from lilsr_tools.manifest import MANIFEST

    if not (folder / MANIFEST).is_file():
        from lilsr_tools.models.query_encoders import ContextualEncoder, encode_queries
        from lilsr_tools.vectors.queries import save_encoded_queries
        from lilsr_tools.vectors.store import vocab_digest

        print(f"encoding the {collection} {split} queries into {folder} (once)", flush=True)
        texts = resolve_collection(collection).queries(split)
        encoder = ContextualEncoder(model)
        encoded = encode_queries(encoder, [q.id for q in texts], [q.text for q in texts])
        save_encoded_queries(folder, encoded, vocab_digest=vocab_digest(encoder.vocab), overwrite=True,
                             params={"collection": collection, "split": split, "encoder": "contextual",
                                     "model": model})
    return folder


def load_queries(path) -> tuple[list[str], list[dict]]:
    """(query ids, ``{token: weight}`` queries) of an encoded queries folder."""
    from lilsr_tools.vectors.queries import load_encoded_queries

    encoded, _ = load_encoded_queries(path)
    return encoded.qids, encoded.vectors
