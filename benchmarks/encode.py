"""Document encoding throughput: our SPLADE encoder against a plain transformers loop.

Same model, same documents, same batch size, same threads. The plain loop is the textbook SPLADE
inference: full logits, log(1 + ReLU), mask, max over positions. Ours takes the max before the activation
over each document's unpadded tokens, a vocabulary slice at a time, with batches of similar length; the
variants below separate those steps.

From a fresh clone, after `make venv` (the documents come from $LILSR_DATA_DIR, by default ../shared/data
beside the checkout):

    .venv/bin/python benchmarks/encode.py --docs 512 --max-length 256 --batch-size 32

Prints a table and saves benchmarks/work/results/encode.json and encode.png (--out for another folder; a quick
check: --docs 16 --repeats 1 --bf16-docs 0 --out benchmarks/work/encode-check).
"""

from __future__ import annotations

import os

from common import portable, run  # sets sys.path and $LILSR_DATA_DIR first
from harness import at_least, benchmark_parser
from result_files import ResultWriter, pyplot
from timing import wall_seconds

import torch  # noqa: E402

from lilsr_tools.data import resolve_collection  # noqa: E402
from lilsr_tools.models.splade import SpladeEncoder  # noqa: E402


def plain_loop(encoder: SpladeEncoder, texts: list[str]) -> None:
    with torch.inference_mode():
        for start in range(0, len(texts), encoder.batch_size):
            batch = encoder.tokenize(texts[start:start + encoder.batch_size])
            logits = encoder.model(**batch).logits
            weights = torch.log1p(torch.relu(logits)) * batch["attention_mask"].unsqueeze(-1)
            weights.amax(dim=1)


def ours_in_corpus_order(encoder: SpladeEncoder, texts: list[str]) -> None:
    for start in range(0, len(texts), encoder.batch_size):
        encoder.encode_batch(texts[start:start + encoder.batch_size])


def ours(encoder: SpladeEncoder, texts: list[str]) -> None:
    encoder.encode(texts)


def docs_per_second(fn, encoder, texts, repeats: int) -> float:
    """Documents per second of the fastest of ``repeats`` passes, after a warm-up on a few documents."""
    fn(encoder, texts[: min(len(texts), 8)])
    walls, _ = wall_seconds(lambda: fn(encoder, texts), repeats, warmup=0)
    return len(texts) / min(walls)


def main() -> None:
    parser = benchmark_parser(__doc__, out="encode.json and encode.png", repeats=2,
                              collection="collection whose documents are encoded")
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--docs", type=at_least(1), default=512)
    parser.add_argument("--max-length", type=at_least(1), default=256)
    parser.add_argument("--batch-size", type=at_least(1), default=32)
    parser.add_argument("--threads", type=at_least(1), default=os.cpu_count())
    parser.add_argument("--bf16-docs", type=at_least(0), default=32,
                        help="Documents for the bf16 variant (emulated, very slow on CPUs without AVX512-BF16/AMX); "
                             "0 skips it.")
    args = parser.parse_args()
    writer = ResultWriter(args)
    torch.set_num_threads(args.threads)
    corpus = resolve_collection(args.collection).corpus()
    texts = [doc.contents for doc, _ in zip(corpus, range(args.docs))]
    encoder = SpladeEncoder(args.model, max_length=args.max_length, batch_size=args.batch_size)
    variants = [("plain transformers loop", plain_loop, False),
                ("ours, corpus order (max before activation, unpadded)", ours_in_corpus_order, False),
                ("ours (+ length-ordered batches)", ours, False)]
    if args.bf16_docs:
        variants.append((f"ours + bf16 autocast (first {args.bf16_docs} docs)", ours, True))
    rows = []
    for label, fn, bf16 in variants:
        encoder.bf16 = bf16
        sample = texts[: args.bf16_docs] if bf16 else texts
        docs_per_s = docs_per_second(fn, encoder, sample, 1 if bf16 else args.repeats)
        rows.append({"variant": label, "docs_per_s": docs_per_s})
    base = rows[0]["docs_per_s"]
    print(f"{args.model}, {len(texts)} {args.collection} docs, max length {args.max_length}, batch {args.batch_size}, "
          f"{args.threads} threads")
    for row in rows:
        row["speedup"] = row["docs_per_s"] / base
        print(f"  {row['variant']:<55} {row['docs_per_s']:8.1f} docs/s   {row['speedup']:5.2f}x")
    params = {**vars(args), "out": portable(writer.folder)}
    json_path = writer.json("encode.json", {"params": params, "rows": rows})
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.barh([r["variant"] for r in rows][::-1], [r["docs_per_s"] for r in rows][::-1], color="#4c72b0")
    ax.set_xlabel("documents / second")
    ax.set_title(f"SPLADE encoding, {args.model}, length {args.max_length}, batch {args.batch_size}", fontsize=9)
    fig.tight_layout()
    png_path = writer.png("encode.png", fig, dpi=120)
    print(f"saved {portable(json_path)} and {portable(png_path)}")

if __name__ == "__main__":
    run(main)
