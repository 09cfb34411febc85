"""Why training ranks stopwords above content tokens: each loss term's gradient on the query table, per token class.

    .venv/bin/python benchmarks/table_gradients.py out/diag-base [--model out/diag-base/model] [--batches 20]

RUN is a `lilsr train` output folder whose data is prepared (triples, teacher scores: the first minute of a
run). The student is the run's base model with an untrained head (the start of training), or ``--model``
(a checkpoint, e.g. the trained one). Over ``--batches`` training micro-batches it sums, per vocabulary
token, the gradient of the KL, positive cross-entropy and L1 query terms on the token's weight
(``lilsr_tools.training.diagnostics``), with the run's own candidates and with in-batch negatives added,
and prints them for three classes of tokens:

- stopwords: the 100 tokens in most documents of the collection (text document frequency);
- content: tokens of the training queries in at most 1% of the documents;
- the rest of the training queries' tokens.

It also prints the push one head step gives every token (through the shared word embeddings) and the share
of stopwords it raises. Results go to benchmarks/work/results/table_gradients.json (--update-results: benchmarks/results/; or --out).
"""

from __future__ import annotations

import json
from pathlib import Path

from common import portable, run  # sets sys.path and LILSR_DATA_DIR
from harness import at_least, benchmark_parser
from result_files import ResultWriter


def main() -> None:
    import numpy as np
    import torch

    from lilsr_tools.errors import LilsrError
    from lilsr_tools.models.presets import load_masked_lm
    from lilsr_tools.models.table import load_head
    from lilsr_tools.models.text_idf import text_idf
    from lilsr_tools.data.collection import resolve_collection
    from lilsr_tools.training.config import TrainConfig
    from lilsr_tools.training.diagnostics import head_push, token_gradient_terms
    from lilsr_tools.training.loop import (PREPARED, BatchSampler, build_student, default_temperature, prepare,
                                           train_step_inputs)
    from lilsr_tools.training.model import LiLSRStudent

    parser = benchmark_parser(__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--model", help="checkpoint to trace (default: the run's base model, untrained head)")
    parser.add_argument("--batches", type=at_least(1), default=20)
    parser.add_argument("--out", type=Path, default=None, help="default: table_gradients.json in the results folder")
    args = parser.parse_args()
    writer = ResultWriter(args, folder=args.out.parent if args.out else None)
    config_path = args.run / "config.json"
    if not (args.run / PREPARED).is_file() or not config_path.is_file():
        raise LilsrError(f"{args.run}: no prepared training run (config.json, {PREPARED}); start 'lilsr train' "
                         "into it and let it pass the preparation")
    config = TrainConfig.from_dict(json.loads(config_path.read_text()))
    torch.manual_seed(0)
    loaded = load_masked_lm(config.base if args.model is None else args.model)
    prepared = prepare(config, args.run, True, loaded, False)
    if args.model is None:
        student = build_student(config, loaded)
        label = f"{config.base}, untrained head"
    else:
        student = LiLSRStudent(*loaded, load_head(args.model), "static", config.query_dup)
        label = args.model
    student.eval()
    temperature = config.teacher_temperature or default_temperature(config.teacher)
    sampler = BatchSampler(prepared.data, config.batch_size, config.n_negatives, config.seed)
    vocab = student.vocab_size

    collection = resolve_collection(config.collection)
    df = text_idf(collection.corpus_path, loaded[1], progress=False)
    stop = np.argsort(-df.df, kind="stable")[:100]
    query_ids = set()
    for text in prepared.data.queries.values():
        query_ids.update(student.token_ids(text))
    query_ids = np.array(sorted(i for i in query_ids if i < vocab))
    rare = df.df[query_ids] <= 0.01 * df.n_docs
    classes = {"stopwords (100 most frequent)": stop,
               "content (query tokens in <=1% of docs)": np.setdiff1d(query_ids[rare], stop),
               "other query tokens": np.setdiff1d(query_ids[~rare], stop)}

    results = {"run": portable(args.run), "student": label, "batches": args.batches}
    for mode in ("own candidates", "in-batch negatives"):
        total = {k: np.zeros(vocab) for k in ("kl", "ce", "l1", "count")}
        for b in range(args.batches):
            inputs = train_step_inputs(sampler, prepared.data, prepared.scores, b, temperature)
            grads = token_gradient_terms(student, inputs, ce_weight=config.ce_weight, lambda_q=config.lambda_q,
                                         max_length=config.max_length, query_max_length=config.query_max_length,
                                         in_batch=mode != "own candidates")
            for k in total:
                total[k] += grads[k]
        push = head_push(student, total)
        table = student.table()
        rows = {}
        print(f"\n{label}; {mode}; {args.batches} batches of {config.batch_size} queries")
        print(f"{'tokens':40s} {'n':>5s} {'weight':>7s} | mean dL/ds per occurrence (+ = pushed down): "
              f"{'KL':>9s} {'CE':>9s} {'L1':>9s} | head push on z (+ = raised): {'KL':>9s} {'CE':>9s} {'L1':>9s}")
        for name, ids in classes.items():
            seen = ids[total["count"][ids] > 0]
            occurrences = max(1.0, total["count"][seen].sum())
            row = {"tokens": int(len(ids)), "seen_in_batches": int(len(seen)),
                   "mean_weight": float(table[ids].mean()),
                   **{f"grad_{k}": float(total[k][seen].sum() / occurrences) for k in ("kl", "ce", "l1")},
                   **{f"push_{k}": float(push[k][ids].mean()) for k in ("kl", "ce", "l1")}}
            rows[name] = row
            print(f"{name:40s} {len(ids):5d} {row['mean_weight']:7.3f} | {'':44s}"
                  f"{row['grad_kl']:+9.2e} {row['grad_ce']:+9.2e} {row['grad_l1']:+9.2e} |"
                  f" {'':29s}{row['push_kl']:+9.2e} {row['push_ce']:+9.2e} {row['push_l1']:+9.2e}")
        results[mode] = rows
    out = writer.json(args.out.name if args.out else "table_gradients.json", results)
    print(f"\nwrote {portable(out)}")


if __name__ == "__main__":
    run(main)
