"""The training loop: data and teacher, AdamW with linear warm-up and decay, accumulation, checkpoints, resume.

A run folder::

    manifest.json        kind "lilsr.training" (written last: its presence means the run is complete)
    config.json          the TrainConfig; a re-run resumes only with the same config
    triples.jsonl        the queries, positives and mined negatives trained on
    teacher_scores.tsv   the teacher's score for every training pair (a reusable score file)
    log.jsonl            one line per step: loss, ranking loss, regularizers, lambdas, non-zeros, lr
    checkpoints/step-N/  the latest checkpoint: Hugging Face model + tokenizer, lilsr_head.safetensors,
                         table/ and trainer_state.pt (optimizer, schedule, RNG, step)
    model/               the final checkpoint (model + tokenizer + lilsr_head.safetensors)
    table/               the final query table (a lilsr.table folder)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_dir, atomic_file, replace_path
from ..errors import LilsrError
from ..manifest import write_manifest
from .config import TrainConfig
from .data import BatchSampler, TrainingData, load_training_data, restrict_to_scored, write_triples
from .losses import RANKING_LOSSES, REGULARIZERS, positive_ce_loss, quadratic_warmup
from .model import LiLSRStudent
from .teacher import default_temperature, dense_scores, is_score_file, read_score_file, write_score_file

KIND = "lilsr.training"
STATE_FILE = "trainer_state.pt"


@dataclass
class TrainResult:
    out: Path
    steps: int
    seconds: float
    last: dict

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


def load_teacher_scores(config: TrainConfig, data: TrainingData, resumed: Path | None, from_file: dict | None,
                        progress: bool) -> dict:
    """Teacher scores for the run's pairs: the resumed run folder's own copy, else the score file (already
    read, ``from_file``) or the dense teacher."""
    from ..data.collection import resolve_collection

    if resumed is not None and (resumed / "teacher_scores.tsv").is_file():
        return read_score_file(resumed / "teacher_scores.tsv", data.queries, data.docs)
    if from_file is not None:
        return from_file
    root = str(resolve_collection(config.collection).root.resolve())
    device = config.device if config.device != "cuda" or torch.cuda.is_available() else "cpu"
    return dense_scores(config.teacher, data, cache_dir(), root, device=device, progress=progress,
                        max_length=config.teacher_max_length)


def build_student(config: TrainConfig, loaded=None) -> LiLSRStudent:
    from ..models.presets import load_masked_lm
    from ..models.table import init_head

    masked_lm, tokenizer = loaded if loaded is not None else load_masked_lm(config.base)
    hidden = masked_lm.get_input_embeddings().weight.shape[1]
    head = init_head(hidden, config.seed)
    return LiLSRStudent(masked_lm, tokenizer, head, config.query_side)


def fit_head_to_idf(student: LiLSRStudent, idf: np.ndarray, steps: int = 300) -> float:
    """Warm start (``--head-init idf``): fit (w, b) so that the table approximates an idf table; returns the
    final mean squared error. The word embeddings stay fixed here."""
    target = torch.as_tensor(idf, dtype=torch.float32, device=student.head_weight.device)
    live = target > 0
    embeddings = student.embeddings.detach().float()[live]
    w = student.head_weight.detach().clone().requires_grad_(True)
    b = student.head_bias.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        error = (torch.log1p(torch.relu(embeddings @ w + b)) - target[live]).pow(2).mean()
        error.backward()
        optimizer.step()
    with torch.no_grad():
        student.head_weight.copy_(w)
        student.head_bias.copy_(b)
    return float(error)


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
    with torch.no_grad():
        student.head_weight.copy_(torch.as_tensor(w))
        student.head_bias.fill_(b)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), float(state.get("seconds", 0.0))


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines after ``step`` (a resumed run re-does the steps after its checkpoint)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    with atomic_file(path) as handle:
        handle.write("".join(line + "\n" for line in lines))


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
                  query_max_length=config.query_max_length)
    scores = out["scores"].float()
    ranking = RANKING_LOSSES[config.loss](scores, teacher.to(scores.device))
    loss = ranking
    if config.ce_weight:
        loss = loss + config.ce_weight * positive_ce_loss(scores)
    regularize = REGULARIZERS[config.regularizer]
    lambda_d = quadratic_warmup(config.lambda_d, step, config.reg_warmup)
    lambda_q = quadratic_warmup(config.lambda_q, step, config.reg_warmup)
    reg_d = regularize(out["docs"])
    reg_q = regularize(out["queries"])
    loss = loss + lambda_d * reg_d + lambda_q * reg_q
    metrics = {"loss": float(loss.detach()), config.loss: float(ranking.detach()), "reg_d": float(reg_d.detach()),
               "reg_q": float(reg_q.detach()),
               "lambda_d": lambda_d, "lambda_q": lambda_q,
               "doc_nnz": float(out["doc_nonzeros"].float().mean()),
               "query_nnz": float(out["query_nonzeros"].float().mean())}
    return loss, metrics


def train(config: TrainConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True,
          stop_after: int | None = None, loaded=None) -> TrainResult | None:
    """Train (or resume) a Li-LSR model into ``out``. ``stop_after`` ends the session after that many
    steps in total, leaving a checkpoint to resume from (returns None then)."""
    from tqdm import tqdm

    from ..models.presets import load_masked_lm

    config.validate()
    out = Path(out)
    resuming = check_run_folder(out, config, overwrite)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = config.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LilsrError("--device cuda: no CUDA device is visible; use --profile cpu or --device cpu")

    # a teacher score file is checked first: a bad one is refused before anything loads or is written
    from ..data.collection import read_queries, resolve_collection

    collection = resolve_collection(config.collection)
    teacher_candidates = None
    if is_score_file(config.teacher):
        teacher_candidates = read_score_file(config.teacher, {q.id for q in read_queries(collection.queries_path)},
                                             {d.id for d in collection.corpus()})
    torch.manual_seed(config.seed)
    loaded = loaded if loaded is not None else load_masked_lm(config.base)

    # data: mined (or read) triples and teacher scores, both frozen into the run folder
    triples_file = out / "triples.jsonl"
    run_config = config.replace(triples=str(triples_file)) if resuming and triples_file.is_file() else config
    data = load_training_data(run_config, cache_dir=cache_dir(), loaded=loaded,
                              teacher_candidates=teacher_candidates, progress=progress)
    scores = load_teacher_scores(config, data, out if resuming else None, teacher_candidates, progress)
    data, dropped = restrict_to_scored(data, scores)
    write_config(out, config, resuming)
    if not triples_file.is_file():
        write_triples(triples_file, data)
    if not (out / "teacher_scores.tsv").is_file():
        write_score_file(out / "teacher_scores.tsv", scores)
    temperature = config.teacher_temperature or default_temperature(config.teacher)

    student = build_student(config, loaded).to(device)
    head_fit = None
    if config.head_init == "idf" and not resuming:
        head_fit = fit_head_to_idf(student, _base_idf(config, cache_dir()))
    student.train()
    optimizer, scheduler = make_optimizer(student, config)
    step, seconds = 0, 0.0
    checkpoint = latest_checkpoint(out) if resuming else None
    if checkpoint is not None:
        step, seconds = restore_checkpoint(checkpoint, student, optimizer, scheduler)
    _truncate_log(out / "log.jsonl", step)
    sampler = BatchSampler(data, config.batch_size, config.n_negatives, config.seed)

    last: dict = {}
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = tqdm(total=config.steps, initial=step, desc=f"train {out.name}", unit="step", disable=not progress,
               smoothing=0.1)
    started = time.perf_counter()
    save_seconds = 0.0
    with open(out / "log.jsonl", "a", encoding="utf-8", buffering=1) as log:  # line-buffered: tail -f works
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
                    "head_bias": round(float(student.head_bias.detach()), 4)}
            log.write(json.dumps(last) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{totals['loss']:.3f}", **{config.loss: f"{totals[config.loss]:.3f}"},
                            reg=f"{totals['lambda_d'] * totals['reg_d']:.4f}", doc_nnz=f"{totals['doc_nnz']:.0f}")
            if step % config.save_every == 0 or step == end:
                # the step clock stops while a checkpoint is written: seconds_per_step is training alone
                saving = time.perf_counter()
                save_checkpoint(out, student, optimizer, scheduler, step, config,
                                seconds + saving - started)
                spent = time.perf_counter() - saving
                started += spent
                save_seconds += spent
    bar.close()
    seconds += time.perf_counter() - started
    if step < config.steps:
        return None

    student.eval()
    final = latest_checkpoint(out)
    with atomic_dir(out / "model", overwrite=True) as tmp:
        for item in final.iterdir():
            if item.name not in (STATE_FILE, "table"):
                shutil.copy2(item, tmp / item.name)
    from ..models.presets import vocabulary
    from ..models.table import save_table

    save_table(out / "table", student.table(), vocabulary(student.tokenizer, student.vocab_size), student.tokenizer,
               source=str((out / "model").resolve()), params={"init": "head", "bias": student.head()[1]},
               overwrite=True)
    counts = {**data.counts(), **dropped, "steps": step, "train_seconds": round(seconds, 1),
              "seconds_per_step": round(seconds / max(1, step), 3),
              "checkpoint_seconds_this_session": round(save_seconds, 1)}
    write_manifest(out, KIND, params=config.to_dict(), counts=counts, final=last, teacher_temperature=temperature,
                   head_fit_error=head_fit, hash_files=["triples.jsonl", "teacher_scores.tsv"])
    return TrainResult(out, step, seconds, last)


def _base_idf(config: TrainConfig, cache: Path) -> np.ndarray:
    """idf over the base model's document vectors of the collection (the store mining used or made)."""
    from ..data.collection import resolve_collection
    from ..models.table import idf_table
    from ..vectors.store import load_vectors
    from .data import digest

    if config.mine_vectors:
        return idf_table(load_vectors(config.mine_vectors))
    root = resolve_collection(config.collection).root.resolve()
    store = cache / f"vectors-{digest(config.base, config.max_length, root)}"
    if not (store / "manifest.json").is_file():
        raise LilsrError("--head-init idf needs the base model's document vectors: mine with --negatives exact "
                         "or pass --mine-vectors STORE")
    return idf_table(load_vectors(store))
