"""What a training run is: one flat, JSON-able config, plus the named presets and profiles.

Presets set the regularization strength (the seed paper's model sizes); profiles set the machine-sized
part (model, lengths, batch sizes, steps). A run records its config in its manifest, and a re-run of the
same output folder resumes only when the config is the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import LilsrError

QUERY_SIDES = ("static", "contextual")
LOSSES = ("kl", "margin-mse")
REGULARIZERS = ("l1", "flops")
NEGATIVES = ("exact", "bm25", "scores")
HEAD_INITS = ("untrained", "idf")
QUERY_DUPS = ("sum", "max")  # how a repeated query token counts, in training and in the table's lookup
DEFAULT_DEV_FRACTION = 0.1


@dataclass
class TrainConfig:
    # model
    base: str = "splade-tiny"            # preset or masked-LM checkpoint folder
    query_side: str = "static"           # static: Li-LSR table; contextual: plain SPLADE queries
    head_init: str = "untrained"         # untrained: models.table.init_head; idf: fitted to the corpus text's idf
    head_center: bool = False            # the head reads embeddings minus their vocabulary mean (model.py)
    query_dup: str = "sum"               # a token repeated in a query: sum (counts each time) or max (once)
    # data
    collection: str = "scifact"
    split: str = "train"
    negatives: str = "exact"             # exact: the base model's exact search; bm25: the bm25 engine; scores: the teacher file's candidates
    negatives_depth: int = 50            # mined pool per query; each example samples n_negatives from it
    n_negatives: int = 7
    triples: str | None = None           # a triples.jsonl from an earlier run (skips mining)
    mine_vectors: str | None = None      # an existing vector store of the base model to mine with
    # held-out data: what the run is evaluated on never trains it (training.heldout)
    evals: list[str] | None = None       # COLLECTION:SPLIT evaluation targets; None: the collection's test split
    allow_eval_docs: bool = False        # let documents judged in an evaluation split train the model
    dev_fraction: float | None = None    # share of the training queries carved out as dev (seeded); default 0.1
    dev_split: str | None = None         # or: a named qrels split of the collection as dev
    allow_dev_docs: bool = False         # let documents judged for dev queries train the model
    # teacher
    teacher: str = "minilm"              # dense bi-encoder (preset 'minilm' or a sentence-transformers folder) or a score file
    teacher_temperature: float | None = None  # logits = score / T; default 0.05 for a dense teacher (cosines), 1 for a file
    teacher_max_length: int | None = None  # dense teacher's token limit; default its own (256 for MiniLM)
    # objective
    loss: str = "kl"
    ce_weight: float = 0.0               # + ce_weight x cross-entropy with the qrels positive as the label
    in_batch_negatives: bool = False     # that cross-entropy also over the other queries' candidates
    reg_d: str = "l1"                    # document-side regularizer
    reg_q: str = "l1"                    # query-side regularizer (the table's mass over the batch's queries)
    lambda_d: float = 1e-4
    lambda_q: float = 1e-4
    reg_warmup_steps: int | None = None  # lambdas ramp as (t/T)^2; default: a third of the steps
    # optimisation
    steps: int = 1200
    batch_size: int = 8                  # queries per micro-batch (each with 1 positive + n_negatives)
    grad_accum: int = 1
    lr: float = 5e-5
    head_lr: float = 5e-3                # the head is 2 x hidden numbers: it needs a far larger step than the encoder
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    bf16: bool = False
    max_length: int = 128                # document tokens
    query_max_length: int = 64           # query tokens (static and contextual)
    # bookkeeping
    save_every: int = 200
    device: str = "cpu"
    threads: int | None = None
    preset: str | None = None
    profile: str | None = None

    def validate(self) -> "TrainConfig":
        choices = {"query_side": QUERY_SIDES, "loss": LOSSES, "reg_d": REGULARIZERS, "reg_q": REGULARIZERS,
                   "negatives": NEGATIVES, "head_init": HEAD_INITS, "query_dup": QUERY_DUPS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise LilsrError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")
        positive = ("steps", "batch_size", "grad_accum", "n_negatives", "negatives_depth", "max_length",
                    "query_max_length", "save_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise LilsrError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.n_negatives > self.negatives_depth and self.negatives != "scores":
            raise LilsrError(f"--n-negatives {self.n_negatives} exceeds the mined pool "
                             f"(--negatives-depth {self.negatives_depth}); raise the depth")
        if min(self.lambda_d, self.lambda_q, self.lr, self.head_lr, self.ce_weight) < 0:
            raise LilsrError("lambdas, learning rates and --ce-weight must be non-negative")
        if self.in_batch_negatives and not self.ce_weight:
            raise LilsrError("in-batch negatives enter the positive cross-entropy: give --ce-weight > 0 with --in-batch")
        if self.teacher_temperature is not None and self.teacher_temperature <= 0:
            raise LilsrError("--teacher-temperature must be positive")
        if self.teacher_max_length is not None and self.teacher_max_length < 8:
            raise LilsrError(f"--teacher-max-length must be at least 8, got {self.teacher_max_length}")
        if self.dev_fraction is not None and not 0.0 < self.dev_fraction <= 0.5:
            raise LilsrError(f"--dev-fraction must be in (0, 0.5], got {self.dev_fraction:g}")
        if self.dev_fraction is not None and self.dev_split is not None:
            raise LilsrError("give --dev-fraction (carve dev from the training queries) or --dev-split, not both")
        if self.dev_split is not None and self.dev_split == self.split:
            raise LilsrError(f"--dev-split {self.dev_split!r} is the training split; choose another split")
        from .heldout import parse_eval_spec

        for spec in self.evals or ():
            parse_eval_spec(spec)
        return self

    @property
    def dev(self) -> float | str:
        """The dev set: a named split, else the fraction of training queries carved out."""
        if self.dev_split is not None:
            return self.dev_split
        return self.dev_fraction if self.dev_fraction is not None else DEFAULT_DEV_FRACTION

    @property
    def reg_warmup(self) -> int:
        return self.reg_warmup_steps if self.reg_warmup_steps is not None else max(1, self.steps // 3)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# The seed paper's document-side regularization strengths: "Big" keeps documents dense, "Small" makes
# them sparse. Presets set lambda_d alone: the query side keeps --reg-q / --lambda-q (default L1 at 1e-4)
# in every preset, so a sweep over presets varies the documents and nothing else.
PRESETS = {
    "big": {"lambda_d": 1e-5},
    "medium": {"lambda_d": 1e-4},
    "small": {"lambda_d": 1e-3},
}

# Machine-sized recipes. cpu: splade-tiny, length 128, 8 queries x (1 positive + 5 negatives) per step,
# about 1-1.5 s per step on 2 cores, 1200 steps ~ 20-30 minutes. gpu: the 6-layer MiniLM with its tied MLM
# head, length 256, 32 queries x 16 documents per step. Both use the settings that measured best on
# SciFact (docs/training.md): a head learning rate of 5e-2 and the qrels cross-entropy next to the KL
# (the offline MiniLM teacher ranks the judged positive first for only half of the training queries).
PROFILES = {
    "cpu": {"base": "splade-tiny", "max_length": 128, "batch_size": 8, "n_negatives": 5, "steps": 1200,
            "lr": 5e-5, "head_lr": 5e-2, "ce_weight": 1.0, "warmup_steps": 100, "save_every": 200,
            "device": "cpu", "bf16": False},
    "gpu": {"base": "minilm", "max_length": 256, "batch_size": 32, "n_negatives": 15, "steps": 800,
            "lr": 5e-5, "head_lr": 5e-2, "ce_weight": 1.0, "warmup_steps": 80, "save_every": 200,
            "device": "cuda", "bf16": True},
}


def make_config(profile: str | None = None, preset: str | None = None, **overrides) -> TrainConfig:
    """Defaults, then the profile, then the preset, then explicit options (None means 'not given')."""
    values: dict = {}
    if profile is not None:
        if profile not in PROFILES:
            raise LilsrError(f"unknown --profile {profile!r}; choose one of {', '.join(PROFILES)}")
        values.update(PROFILES[profile], profile=profile)
    if preset is not None:
        if preset not in PRESETS:
            raise LilsrError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset], preset=preset)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values).validate()
