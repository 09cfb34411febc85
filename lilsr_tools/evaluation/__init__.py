"""Effectiveness (through ir_measures), accuracy against exact search, latency summaries.

``metrics`` (and so ir_measures) is imported on first use, so that the rest of the package imports on
machines without ir_measures (a GPU training box, say).
"""

from .latency import summarize_ns

__all__ = ["DEFAULT_MEASURES", "Evaluation", "accuracy_at_k", "evaluate", "summarize_ns"]


def __getattr__(name):
    if name in ("DEFAULT_MEASURES", "Evaluation", "accuracy_at_k", "evaluate"):
        from . import metrics

        return getattr(metrics, name)
    raise AttributeError(name)
