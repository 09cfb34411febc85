"""The training loop: data and teacher, AdamW with linear warm-up and decay, accumulation, checkpoints, resume.

A run folder::

    manifest.json        kind "lilsr.training" (written last: its presence means the run is complete);
                         states the held-out overlap, what was dropped and what was truncated
    config.json          the TrainConfig; a re-run resumes only with the same config
    triples.jsonl        the queries, positives and mined negatives trained on (held-out documents removed)
    teacher_scores.tsv   the teacher's score for exactly the pairs trained on (a reusable score file)
    dev_qrels.tsv        the dev queries' judgments (dev queries never train)
    prepared.json        written after the three files above: preparation is finished and frozen
    log.jsonl            one line per step: loss, ranking loss, regularizers, lambdas, non-zeros, lr
    checkpoints/step-N/  the latest checkpoint: Hugging Face model + tokenizer, lilsr_head.safetensors,
                         table/ and trainer_state.pt (optimizer, schedule, RNG, step)
    model/               the final checkpoint (model + tokenizer + lilsr_head.safetensors + lilsr_training.json)
    table/               the final query table (a lilsr.table folder)

Interruptions: SIGTERM during the steps finishes the current step, writes a checkpoint and exits (status
143); SIGTERM elsewhere exits at once, leaving nothing half-written. After either, or after kill -9, the
same command resumes: from the frozen preparation (if finished) and the latest checkpoint, with the same
batches, so the run ends where an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..locks import locks_output
from ..atomic import atomic_dir, atomic_file, fault_point
from ..errors import LilsrError
from ..manifest import write_manifest
from ..progress import enabled as progress_enabled
from .config import TrainConfig
from .data import BatchSampler, TrainingData, build_examples, load_training_data, read_triples, restrict_to_scored, \
    write_triples
from .losses import RANKING_LOSSES, REGULARIZERS, in_batch_ce_loss, positive_ce_loss, quadratic_warmup
from .model import LiLSRStudent
from .teacher import default_temperature, read_score_file, teacher_kind, write_score_file

KIND = "lilsr.training"
STATE_FILE = "trainer_state.pt"


@dataclass
class TrainResult:
    out: Path
    steps: int
    seconds: float
    last: dict
    warnings: tuple[str, ...] = ()

    @property
    def model(self) -> Path:
        return self.out / "model"

    @property
    def table(self) -> Path:
        return self.out / "table"


def cache_dir() -> Path:
    """Mined negatives, base-model vector stores and teacher embeddings, shared by runs."""
    base = os.environ.get("LILSR_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "lilsr")
    return Path(base) / "training"


# --- setup ------------------------------------------------------------------------------------------------

def check_run_folder(out: Path, config: TrainConfig, overwrite: bool) -> bool:
    """Refuse a finished run or another config's run in ``out``; True when there is a run to resume.
    Nothing is written or removed here: bad inputs are caught before the folder is touched."""
    if overwrite:
        return False
    if (out / "manifest.json").is_file():
        raise LilsrError(f"{out} holds a finished training run; pass --overwrite to train again")
    if not out.exists() or not any(out.iterdir()):
        return False
    config_file = out / "config.json"
    if not config_file.is_file():
        raise LilsrError(f"{out} exists and is not a training run folder; choose another output or --overwrite")
    previous = json.loads(config_file.read_text())
    current = _comparable(config.to_dict())
    if {k: previous.get(k) for k in current} != current:
        changed = sorted(k for k in current if previous.get(k) != current[k])
        raise LilsrError(f"{out} holds an unfinished run with another config ({', '.join(changed)} differ); "
                         "re-run with the same options to resume, or pass --overwrite")
    return True


def write_config(out: Path, config: TrainConfig, resuming: bool) -> None:
    if out.exists() and not resuming:  # --overwrite: the old run goes only once the new one's inputs are good
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "config.json") as handle:
        json.dump(config.to_dict(), handle, indent=1)


def _comparable(values: dict) -> dict:
    # threads only change speed, not results
    return {k: v for k, v in values.items() if k not in ("threads",)}


# --- preparation: held-out sets, data, teacher scores, frozen into the run folder ---------------------------

PREPARED = "prepared.json"


@dataclass
class Prepared:
    data: TrainingData
    scores: dict
    stats: dict = field(default_factory=dict)   # heldout overlap, dropped counts, truncation, teacher kind


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def teacher_scores_for(config: TrainConfig, data: TrainingData, from_file: dict | None, progress: bool) -> dict:
    """Teacher scores for the run's pairs: the score file (already read), the dense or the cross-encoder."""
    from ..data.collection import resolve_collection
    from .teacher import cross_encoder_scores, dense_scores

    if from_file is not None:
        return from_file
    root = str(resolve_collection(config.collection).root.resolve())
    device = config.device if config.device != "cuda" or torch.cuda.is_available() else "cpu"
    scorer = cross_encoder_scores if teacher_kind(config.teacher) == "cross-encoder" else dense_scores
    return scorer(config.teacher, data, cache_dir(), root, device=device, progress=progress,
                  max_length=config.teacher_max_length)


def _training_truncation(config: TrainConfig, data: TrainingData, tokenizer) -> dict:
    """What the student's limits cut: documents at --max-length, static queries at --query-max-length."""
    from ..models.truncation import Truncation

    docs = sorted(data.training_docs)
    counted = {"documents": Truncation(config.max_length).add(tokenizer, [data.docs[d] for d in docs]).as_dict()}
    qids = sorted(data.pools)
    if config.query_side == "static":  # the table sees the query's tokens without special tokens
        queries = Truncation(config.query_max_length)
        ids = tokenizer([data.queries[q] for q in qids], add_special_tokens=False, truncation=False, verbose=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        queries.add_lengths([len(i) for i in ids])
    else:
        queries = Truncation(config.query_max_length).add(tokenizer, [data.queries[q] for q in qids])
    counted["queries"] = queries.as_dict()
    return counted


def prepare(config: TrainConfig, out: Path, resuming: bool, loaded, progress: bool) -> Prepared:
    """The run's training data and teacher scores. A finished preparation in ``out`` (prepared.json) is
    read back as it was frozen; otherwise everything is computed (each expensive part is cached) and the
    caller freezes it with ``freeze``."""
    from ..data.collection import read_queries, resolve_collection
    from .heldout import build_heldout

    collection = resolve_collection(config.collection)
    doc_ids = {d.id for d in collection.corpus()}
    query_ids = {q.id for q in read_queries(collection.queries_path)}
    if resuming and (out / PREPARED).is_file():
        stats = json.loads((out / PREPARED).read_text())
        from .data import read_docs

        docs = read_docs(collection)
        all_queries = {q.id: q.text for q in read_queries(collection.queries_path)}
        positives, pools = read_triples(out / "triples.jsonl", all_queries, docs)
        scores = read_score_file(out / "teacher_scores.tsv", query_ids, doc_ids)
        queries = {q: all_queries[q] for q in pools}
        data = TrainingData(queries, docs, positives, pools, build_examples(queries, positives, pools, docs),
                            dropped=stats.get("dropped", {}))
        _say(progress, f"resuming {out}: {len(data.examples)} examples of {len(queries)} queries (frozen)")
        return Prepared(data, scores, stats)

    kind = teacher_kind(config.teacher)
    from_file = read_score_file(config.teacher, query_ids, doc_ids) if kind == "file" else None
    heldout = build_heldout(config, collection, collection.qrels(config.split), doc_ids)
    data = load_training_data(config, cache_dir=cache_dir(), loaded=loaded, teacher_candidates=from_file,
                              heldout=heldout, progress=progress)
    scores = teacher_scores_for(config, data, from_file, progress)
    data, scores = restrict_to_scored(data, scores)
    from .teacher import qrels_agreement, teacher_truncation

    trained_qids = {q for q, _ in data.examples}
    stats = {"teacher_kind": kind, "dropped": data.dropped,
             "heldout": heldout.overlap(data.training_docs, trained_qids),
             "dev_qids": heldout.dev_qids, "dev_source": heldout.dev_source,
             "evals": [spec.label for spec in heldout.targets],
             "truncation": {"student": _training_truncation(config, data, loaded[1]),
                            "teacher": teacher_truncation(config.teacher, data, config.teacher_max_length)}}
    stats["teacher_agreement"] = qrels_agreement(data, scores)
    stats["dev_qrels"] = heldout.dev_qrels
    return Prepared(data, scores, stats)


def freeze(out: Path, prepared: Prepared) -> None:
    """Write the triples, the teacher scores and the dev qrels, then prepared.json (last: the marker)."""
    stats = dict(prepared.stats)
    dev_qrels = stats.pop("dev_qrels", {})
    write_triples(out / "triples.jsonl", prepared.data)
    write_score_file(out / "teacher_scores.tsv", prepared.scores)
    with atomic_file(out / "dev_qrels.tsv") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid in sorted(dev_qrels):
            for doc, rel in dev_qrels[qid].items():
                handle.write(f"{qid}\t{doc}\t{rel}\n")
    with atomic_file(out / PREPARED) as handle:
        json.dump(stats, handle, indent=1)
    prepared.stats = stats


def summary_line(prepared: Prepared) -> str:
    data, stats = prepared.data, prepared.stats
    heldout = stats.get("heldout", {})
    dropped = stats.get("dropped", {})
    seen = {label: t["judged_docs_seen_in_training"] for label, t in heldout.get("targets", {}).items()}
    student = stats.get("truncation", {}).get("student", {}).get("documents")
    from ..models.truncation import describe

    return (f"prepared: {len(data.examples)} examples, {len(data.pools)} queries, {len(data.training_docs)} "
            f"documents; dev {heldout.get('dev', {}).get('queries', 0)} queries ({stats.get('dev_source')}); "
            f"held out: {dropped.get('positives_held_out', 0)} positives, {dropped.get('negatives_held_out', 0)} "
            f"negatives, {dropped.get('queries_all_positives_held_out', 0)} queries; evaluation-judged documents "
            f"seen in training: {seen or 'no evaluation targets'}; {describe(student, 'training documents')}"
            f"{agreement_note(stats.get('teacher_agreement'))}")


# Below this share the teacher hardly tells the qrels positive from the mined negatives (0.5 is a coin).
WEAK_TEACHER = 0.6


def agreement_note(agreement: dict | None) -> str:
    """The teacher-qrels agreement for the preparation line, with a warning when it is weak."""
    share = (agreement or {}).get("positive_above_negative")
    if share is None:
        return ""
    note = f"; teacher scores the positive above a mined negative in {share:.0%} of {agreement['pairs']:,} pairs"
    if share < WEAK_TEACHER:
        note += (" (weak: distilling it can flatten the table to zero; check the teacher on this collection's "
                 "text, or give --teacher a cross-encoder or a score file)")
    return note


def table_health(table: np.ndarray, log_path: Path, tail: int = 50) -> dict:
    """Is the exported table alive? Its non-zero tokens, and the mean query non-zeros of the last ``tail``
    logged batches. Collapsed: under one weighted token a training query (or no token at all), i.e. the
    head's ReLU died for nearly every token and no gradient reaches it again, so training cannot recover;
    ``dead_from_step`` is where the final stretch of such batches began."""
    nonzero = int(np.count_nonzero(table > 0))
    rows = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.is_file() else []
    recent = [row.get("query_nnz", 0.0) for row in rows[-tail:]]
    final = float(np.mean(recent)) if recent else None
    health = {"nonzero_tokens": nonzero, "final_query_nnz": None if final is None else round(final, 3),
              "collapsed": nonzero == 0 or (final is not None and final < 1.0)}
    if health["collapsed"]:
        dead_from = None
        for row in rows:
            if row.get("query_nnz", 0.0) >= 1.0:
                dead_from = None
            elif dead_from is None:
                dead_from = row["step"]
        health["dead_from_step"] = dead_from
    return health


def collapse_warning(health: dict, agreement: dict | None) -> str | None:
    if not health.get("collapsed"):
        return None
    share = (agreement or {}).get("positive_above_negative")
    why = f"; the teacher scores the positive above a mined negative in only {share:.0%} of pairs" \
        if share is not None and share < WEAK_TEACHER else ""
    return (f"warning: the Li-LSR table collapsed: {health['nonzero_tokens']} tokens keep a weight and training "
            f"queries have had under one weighted token since step {health.get('dead_from_step')}, so its queries "
            f"match almost nothing{why}. A teacher that agrees with the qrels (--teacher) is the remedy to try; "
            f"see docs/training.md")


def build_student(config: TrainConfig, loaded=None) -> LiLSRStudent:
    from ..models.presets import load_masked_lm
    from ..models.table import init_head

    masked_lm, tokenizer = loaded if loaded is not None else load_masked_lm(config.base)
    hidden = masked_lm.get_input_embeddings().weight.shape[1]
    head = init_head(hidden, config.seed)
    return LiLSRStudent(masked_lm, tokenizer, head, config.query_side, config.query_dup, config.head_center)


def fit_head_to_idf(student: LiLSRStudent, idf: np.ndarray, iterations: int = 20) -> float:
    """Warm start (``--head-init idf``): fit (w, b) so that the table log1p(relu(E_W w + b)) approximates
    an idf table over the tokens it weighs (idf > 0); returns the final mean squared error. The word
    embeddings stay fixed here.

    The target is idf scaled so that its mean over those tokens is log 2, the weight the untrained head gives
    every token: ranking only needs idf's proportions, and its raw values (~6 for BM25 idf) would need
    pre-activations near e^6 (a bias of ~280 and a weight vector of norm ~4000 on splade-tiny), a table
    that the smallest change of the tied, trained embeddings throws about, and query weights ~9x the
    untrained head's, which the KL loss (no student temperature) answers by shrinking the documents: the
    unscaled fit trained to 17 non-zeros a document.

    Gauss-Newton on the least-squares problem, from the linear fit of E_W w + b to idf: each iteration
    solves the problem linearised around the current pre-activations (a few dense solves of
    [tokens, hidden + 1], seconds), where plain gradient descent from a random head stalls far from it."""
    embeddings = student.embeddings.detach().float().cpu().numpy().astype(np.float64)
    target = np.asarray(idf, dtype=np.float64)
    live = target > 0
    target = target * (np.log(2.0) / target[live].mean())
    design = np.hstack([embeddings[live], np.ones((int(live.sum()), 1))])
    goal = target[live]
    beta = np.linalg.lstsq(design, goal, rcond=None)[0]
    for _ in range(iterations):
        z = design @ beta
        slope = np.where(z > 0, 1.0 / (1.0 + np.maximum(z, 0.0)), 0.05)  # d log1p(relu(z)) / dz, kept > 0
        residual = goal - np.log1p(np.maximum(z, 0.0))
        beta += 0.7 * np.linalg.lstsq(design * slope[:, None], residual, rcond=None)[0]
    error = float(np.mean((np.log1p(np.maximum(design @ beta, 0.0)) - goal) ** 2))
    student.set_head(beta[:-1], float(beta[-1]))
    return error


def make_optimizer(student: LiLSRStudent, config: TrainConfig):
    decay, no_decay = [], []
    for name, param in student.mlm.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay, "lr": config.lr},
              {"params": no_decay, "weight_decay": 0.0, "lr": config.lr}]
    if config.query_side == "static":
        groups.append({"params": [student.head_weight, student.head_bias], "weight_decay": 0.0, "lr": config.head_lr})
    optimizer = torch.optim.AdamW(groups)

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0 at the last step
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return max(0.0, (config.steps - step) / max(1, config.steps - config.warmup_steps))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


# --- checkpoints ------------------------------------------------------------------------------------------

def latest_checkpoint(out: Path) -> Path | None:
    folders = sorted((out / "checkpoints").glob("step-*")) if (out / "checkpoints").is_dir() else []
    folders = [f for f in folders if (f / STATE_FILE).is_file()]
    return folders[-1] if folders else None


def save_checkpoint(out: Path, student: LiLSRStudent, optimizer, scheduler, step: int, config: TrainConfig,
                    seconds: float) -> Path:
    """``out/checkpoints/step-N``, written atomically; older checkpoints are removed afterwards."""
    folder = out / "checkpoints" / f"step-{step:06d}"
    with atomic_dir(folder, overwrite=True) as tmp:
        student.save(tmp, source=str(folder), params={"step": step})
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "seconds": seconds,
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "head": student.head()}, tmp / STATE_FILE)
    for old in (out / "checkpoints").glob("step-*"):
        if old != folder and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return folder


def restore_checkpoint(folder: Path, student: LiLSRStudent, optimizer, scheduler) -> tuple[int, float]:
    from transformers import AutoModelForMaskedLM

    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    # the Hugging Face loader knows how its own files name the tensors; copy its weights into ours
    saved = AutoModelForMaskedLM.from_pretrained(str(folder))
    try:
        student.mlm.load_state_dict(saved.state_dict())
    except RuntimeError as exc:
        raise LilsrError(f"{folder}: checkpoint does not match the base model ({str(exc).splitlines()[0]}); "
                         "pass --overwrite to start again") from None
    w, b = state["head"]
    student.set_head(w, b)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), float(state.get("seconds", 0.0))


def _truncate_log(path: Path, step: int) -> dict:
    """Drop log lines after ``step`` (a resumed run re-does the steps after its checkpoint) and a line cut
    by a kill; returns the last line kept."""
    if not path.is_file():
        return {}
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("step", step + 1) <= step:
            kept.append(record)
    with atomic_file(path) as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in kept))
    return kept[-1] if kept else {}


def _clean_stale_temporaries(out: Path) -> None:
    """Hidden ``.name.tmp-PID-...`` folders and files a killed process left behind (see lilsr_tools.atomic)."""
    for folder in (out, out / "checkpoints"):
        if not folder.is_dir():
            continue
        for item in folder.glob(".*.tmp-*"):
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)
        for item in folder.glob(".*.old-*"):
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)


class _Termination:
    """SIGTERM handling: during the steps, a request (the loop checkpoints and exits); elsewhere, an
    immediate SystemExit(143), so that atomic writes roll back. Only the main thread can install it."""

    def __init__(self):
        self.in_loop = False
        self.requested = False

    def __call__(self, signum, frame):
        if self.in_loop:
            self.requested = True
        else:
            raise SystemExit(128 + signal.SIGTERM)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGTERM, self)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)


# --- the loop ---------------------------------------------------------------------------------------------

def _autocast(config: TrainConfig, device: str):
    if not config.bf16:
        return contextlib.nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def train_step_inputs(sampler: BatchSampler, data: TrainingData, scores: dict, micro_batch: int,
                      temperature: float):
    rows = sampler.batch(micro_batch)
    query_texts = [data.queries[qid] for qid, _ in rows]
    doc_texts = [data.docs[d] for _, candidates in rows for d in candidates]
    teacher = torch.tensor([[scores[qid][d] for d in candidates] for qid, candidates in rows]) / temperature
    return query_texts, doc_texts, teacher, len(rows[0][1])


def compute_loss(student: LiLSRStudent, config: TrainConfig, inputs, step: int) -> tuple[torch.Tensor, dict]:
    query_texts, doc_texts, teacher, n_candidates = inputs
    out = student(query_texts, doc_texts, n_candidates, max_length=config.max_length,
                  query_max_length=config.query_max_length, in_batch=config.in_batch_negatives)
    scores = out["scores"].float()
    ranking = RANKING_LOSSES[config.loss](scores, teacher.to(scores.device))
    loss = ranking
    if config.ce_weight and config.in_batch_negatives:
        loss = loss + config.ce_weight * in_batch_ce_loss(out["batch_scores"].float(), doc_texts, n_candidates)
    elif config.ce_weight:
        loss = loss + config.ce_weight * positive_ce_loss(scores)
    lambda_d = quadratic_warmup(config.lambda_d, step, config.reg_warmup)
    lambda_q = quadratic_warmup(config.lambda_q, step, config.reg_warmup)
    reg_d = REGULARIZERS[config.reg_d](out["docs"])
    reg_q = REGULARIZERS[config.reg_q](out["queries"])
    loss = loss + lambda_d * reg_d + lambda_q * reg_q
    metrics = {"loss": float(loss.detach()), config.loss: float(ranking.detach()), "reg_d": float(reg_d.detach()),
               "reg_q": float(reg_q.detach()),
               "lambda_d": lambda_d, "lambda_q": lambda_q,
               "doc_nnz": float(out["doc_nonzeros"].float().mean()),
               "query_nnz": float(out["query_nonzeros"].float().mean())}
    return loss, metrics


@locks_output()
def train(config: TrainConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True,
          stop_after: int | None = None, loaded=None, on_step=None) -> TrainResult | None:
    """Train (or resume) a Li-LSR model into ``out``. ``stop_after`` ends the session after that many
    steps in total, leaving a checkpoint to resume from (returns None then). ``on_step(step)`` is called
    after each step (tests use it to interrupt a run)."""
    config.validate()
    out = Path(out)
    resuming = check_run_folder(out, config, overwrite)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise LilsrError("--device cuda: no CUDA device is visible; use --profile cpu or --device cpu")
    if config.warmup_steps > config.steps:
        warnings.warn(f"--warmup-steps {config.warmup_steps} exceeds --steps {config.steps}: the learning rate "
                      f"never reaches --lr (it stops at {config.steps / config.warmup_steps:.0%} of it); lower "
                      "--warmup-steps", stacklevel=2)
    termination = _Termination()
    with termination.installed():
        return _train(config, out, resuming, overwrite, progress, stop_after, loaded, on_step, termination)


def _train(config, out, resuming, overwrite, progress, stop_after, loaded, on_step, termination):
    from tqdm import tqdm

    from ..models.presets import load_masked_lm

    device = config.device
    if resuming:
        _clean_stale_temporaries(out)
    torch.manual_seed(config.seed)
    loaded = loaded if loaded is not None else load_masked_lm(config.base)

    # data and teacher scores: bad inputs are refused before the run folder is touched, then frozen
    prepared = prepare(config, out, resuming, loaded, progress)
    write_config(out, config, resuming)
    if not (out / PREPARED).is_file():
        freeze(out, prepared)
        _say(progress, summary_line(prepared))
    data, scores = prepared.data, prepared.scores
    temperature = config.teacher_temperature or default_temperature(config.teacher)

    student = build_student(config, loaded).to(device)
    head_fit = None
    if config.head_init == "idf" and not resuming:
        head_fit = fit_head_to_idf(student, _text_idf(config, loaded[1], progress))
    student.train()
    optimizer, scheduler = make_optimizer(student, config)
    step, seconds = 0, 0.0
    checkpoint = latest_checkpoint(out) if resuming else None
    if checkpoint is not None:
        step, seconds = restore_checkpoint(checkpoint, student, optimizer, scheduler)
    last = _truncate_log(out / "log.jsonl", step)
    sampler = BatchSampler(data, config.batch_size, config.n_negatives, config.seed)

    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = tqdm(total=config.steps, initial=step, desc=f"train {out.name}", unit="step", disable=not progress_enabled(progress),
               smoothing=0.1)
    started = time.perf_counter()
    save_seconds = 0.0
    with open(out / "log.jsonl", "a", encoding="utf-8", buffering=1) as log:  # line-buffered: tail -f works
        termination.in_loop = True
        try:
            while step < end:
                totals: dict[str, float] = {}
                for part in range(config.grad_accum):
                    inputs = train_step_inputs(sampler, data, scores, step * config.grad_accum + part, temperature)
                    with _autocast(config, device):
                        loss, metrics = compute_loss(student, config, inputs, step)
                    if not math.isfinite(metrics["loss"]):
                        raise LilsrError(f"step {step}: the loss is {metrics['loss']}; lower --lr or the lambdas")
                    (loss / config.grad_accum).backward()
                    for key, value in metrics.items():
                        totals[key] = totals.get(key, 0.0) + value / config.grad_accum
                grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                last = {"step": step, **{k: round(v, 6) for k, v in totals.items()},
                        "grad_norm": round(float(grad_norm), 4), "lr": scheduler.get_last_lr()[0],
                        "head_bias": round(student.head()[1], 4)}
                log.write(json.dumps(last) + "\n")
                bar.update(1)
                bar.set_postfix(loss=f"{totals['loss']:.3f}", **{config.loss: f"{totals[config.loss]:.3f}"},
                                reg=f"{totals['lambda_d'] * totals['reg_d']:.4f}",
                                doc_nnz=f"{totals['doc_nnz']:.0f}")
                if on_step is not None:
                    on_step(step)
                if step % config.save_every == 0 or step == end or termination.requested:
                    # the step clock stops while a checkpoint is written: seconds_per_step is training alone
                    saving = time.perf_counter()
                    save_checkpoint(out, student, optimizer, scheduler, step, config, seconds + saving - started)
                    spent = time.perf_counter() - saving
                    started += spent
                    save_seconds += spent
                if termination.requested:
                    bar.close()
                    _say(progress, f"{out}: stopped by SIGTERM after step {step} (checkpoint written); "
                                   "re-run the same command to resume")
                    raise SystemExit(128 + signal.SIGTERM)
        finally:
            termination.in_loop = False
    bar.close()
    seconds += time.perf_counter() - started
    if step < config.steps:
        return None

    student.eval()
    final = latest_checkpoint(out)
    stats = prepared.stats
    provenance = {"collection": config.collection, "split": config.split, "query_dup": config.query_dup,
                  "lambda_d": config.lambda_d, "lambda_q": config.lambda_q, "reg_d": config.reg_d,
                  "reg_q": config.reg_q, "evals": stats.get("evals"), "heldout": stats.get("heldout"),
                  "run": str(out.resolve())}
    from ..models.presets import vocabulary
    from ..models.table import save_table
    from .model import clear_call_state

    # The final write: the table, then the model folder in one rename that carries its tokenizer settings, then
    # the run's manifest. ``model/`` is what users point at (table export, compare grids), so it appears last
    # and whole: a run killed during the final write shows no model, and its re-run writes both again.
    table = student.table()
    clear_call_state(student.tokenizer)  # the same tokenizer files whether or not this session trained a step
    save_table(out / "table", table, vocabulary(student.tokenizer, student.vocab_size), student.tokenizer,
               source=str((out / "model").resolve()),
               params={"init": "head", "bias": student.head()[1], "query_dup": config.query_dup}, overwrite=True)
    with atomic_dir(out / "model", overwrite=True) as tmp:
        for item in final.iterdir():
            if item.name not in (STATE_FILE, "table"):
                shutil.copy2(item, tmp / item.name)
        # this run's tokenizer settings, not whatever the checkpoint (perhaps of an older session) holds
        student.tokenizer.save_pretrained(str(tmp))
        (tmp / "lilsr_training.json").write_text(json.dumps(provenance, indent=1))
        fault_point("train:final")
    health = table_health(table, out / "log.jsonl")
    warning = collapse_warning(health, stats.get("teacher_agreement"))
    counts = {**data.counts(), **stats.get("dropped", {}), "steps": step, "train_seconds": round(seconds, 1),
              "seconds_per_step": round(seconds / max(1, step), 3),
              "checkpoint_seconds_this_session": round(save_seconds, 1)}
    write_manifest(out, KIND, params=config.to_dict(), counts=counts, final=last, teacher_temperature=temperature,
                   teacher_kind=stats.get("teacher_kind"), heldout=stats.get("heldout"), evals=stats.get("evals"),
                   dev_source=stats.get("dev_source"), truncation=stats.get("truncation"), head_fit_error=head_fit,
                   teacher_agreement=stats.get("teacher_agreement"), table=health,
                   warnings=[warning] if warning else [],
                   hash_files=["triples.jsonl", "teacher_scores.tsv", "dev_qrels.tsv"])
    return TrainResult(out, step, seconds, last, (warning,) if warning else ())


def _text_idf(config: TrainConfig, tokenizer, progress: bool) -> np.ndarray:
    """BM25 idf of the base tokenizer's tokens over the training collection's text (--head-init idf);
    tokens in no document are left out of the fit (weight 0, not a target)."""
    from ..data.collection import resolve_collection
    from ..models.text_idf import text_idf

    return text_idf(resolve_collection(config.collection).corpus_path, tokenizer, progress=progress).weights
