"""Li-LSR training: KL distillation from a teacher plus L1/FLOPS regularization, and the lambda sweep.

>>> from lilsr_tools.training import make_config, train, evaluate_model
>>> config = make_config(profile="cpu", preset="medium", collection="scifact")
>>> result = train(config, "runs/li-lsr-medium")            # runs/li-lsr-medium/{model,table}
>>> evaluate_model(result.model, result.table, "scifact", "runs/li-lsr-medium/eval", max_length=128)
"""

from .config import PRESETS, PROFILES, TrainConfig, make_config
from .evaluation import evaluate_model
from .loop import TrainResult, train

__all__ = ["PRESETS", "PROFILES", "TrainConfig", "TrainResult", "evaluate_model", "make_config", "train"]
