"""Training objectives: ranking losses against a teacher, sparsity regularizers, the quadratic warm-up.

Scores are [queries, candidates] with the positive in column 0. Teacher scores are already divided by
the teacher temperature (logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) between the softmax distributions over each query's candidates, mean over queries."""
    return F.kl_div(F.log_softmax(student, dim=-1), F.log_softmax(teacher, dim=-1), log_target=True,
                    reduction="batchmean")


def margin_mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MarginMSE: the student's positive-minus-negative margins regress onto the teacher's."""
    return F.mse_loss(student[:, :1] - student[:, 1:], teacher[:, :1] - teacher[:, 1:])


def positive_ce_loss(student: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the qrels positive (column 0) as the label."""
    return F.cross_entropy(student, torch.zeros(len(student), dtype=torch.long, device=student.device))


def in_batch_ce_loss(batch_scores: torch.Tensor, doc_texts: list[str], n_candidates: int) -> torch.Tensor:
    """Cross-entropy with the qrels positive as the label over every candidate of the batch: query q's own
    candidates (its positive in column q * C) and the other queries' as negatives. Another query's copy of
    q's positive is masked out (it is the same document, not a negative).

    Why: mined negatives are chosen for matching the query's content tokens, so against them alone a content
    token barely tells the positive apart and the ranking terms push its weight down; documents of other
    queries do not share those tokens, and restore the signal (training/diagnostics.py)."""
    n_queries = batch_scores.shape[0]
    labels = torch.arange(n_queries, device=batch_scores.device) * n_candidates
    positives = [doc_texts[int(i)] for i in labels]
    same = torch.tensor([[text == positives[q] for text in doc_texts] for q in range(n_queries)],
                        device=batch_scores.device)
    same[torch.arange(n_queries), labels] = False
    return F.cross_entropy(batch_scores.masked_fill(same, float("-inf")), labels)


RANKING_LOSSES = {"kl": kl_loss, "margin-mse": margin_mse_loss}


def l1_reg(vectors: torch.Tensor) -> torch.Tensor:
    """Mean L1 norm of the rows (weights are non-negative, so the plain sum)."""
    return vectors.sum(dim=-1).mean()


def flops_reg(vectors: torch.Tensor) -> torch.Tensor:
    """FLOPS (Paria et al.): sum over the vocabulary of the squared mean weight in the batch."""
    return vectors.mean(dim=0).pow(2).sum()


REGULARIZERS = {"l1": l1_reg, "flops": flops_reg}


def quadratic_warmup(lam: float, step: int, warmup_steps: int) -> float:
    """The regularization weight at ``step``: lambda x (t / T)^2 for t < T, then lambda."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return lam
    return lam * (step / warmup_steps) ** 2
