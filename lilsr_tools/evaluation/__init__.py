"""Effectiveness (through ir_measures), accuracy against exact search, latency summaries."""

from .latency import summarize_ns
from .metrics import DEFAULT_MEASURES, Evaluation, accuracy_at_k, evaluate

__all__ = ["DEFAULT_MEASURES", "Evaluation", "accuracy_at_k", "evaluate", "summarize_ns"]
