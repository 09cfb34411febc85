"""Where the query table's gradient comes from: each loss term's pull on each query token's weight.

For a static query q with tokens x_1..x_T, the score of candidate c is sum_t s(x_t) d_c[x_t], so the
gradient of any loss L on a token's weight is exact and cheap to write down without autograd:

    dL/ds(x) = sum over the occurrences (q, t) of x:  sum_c g_q[c] d_c[x]  (+ the regularizer's share)

with g_q = dL/dscore_q: softmax(student) - softmax(teacher) for the KL term, softmax(student) - onehot(positive)
for the positive cross-entropy, and lambda_q per occurrence for the L1 query regularizer (mean over queries).
A positive value means gradient descent lowers the token's weight.

The sign of the ranking terms on a token is decided by the candidates: a token whose document weight is
higher in the mined negatives than in the positive is pushed down. Negatives mined by the base model's
search are chosen *because* they match the query's content tokens, so with only those candidates the ranking
terms push content tokens down while stopwords (which the miner ignored) are left alone; the shared linear
head then carries the push to every token through the word embeddings. ``in_batch`` adds the other queries'
candidates as negatives of each query (the usual in-batch negatives), which restores the signal that content
tokens separate a query's positive from documents about something else.

``benchmarks/table_gradients.py`` runs this over batches of a training run and prints the split per token class.
"""

from __future__ import annotations

import numpy as np
import torch


def token_gradient_terms(student, inputs, *, ce_weight: float, lambda_q: float, max_length: int,
                         query_max_length: int, in_batch: bool = False) -> dict[str, np.ndarray]:
    """Per-vocabulary-token gradient of each loss term on the table weight s(x), summed over the batch's
    query occurrences: {"kl", "ce", "l1", "count"} arrays of the vocabulary's size. ``inputs`` is a training
    micro-batch (``loop.train_step_inputs``): query texts, query-major candidate texts, teacher logits
    [Q, C], candidates per query."""
    query_texts, doc_texts, teacher, n_candidates = inputs
    with torch.no_grad():
        docs, _ = student.encode_splade(student.tokenize(doc_texts, max_length))
        tokens, mask = student.query_tokens(query_texts, query_max_length)
        weights = student.token_scores(tokens) * mask  # [Q, T]
        n_queries = len(query_texts)
        if in_batch:
            # every query against every candidate of the batch: its own C first (positive in column 0),
            # then the other queries' candidates as extra negatives; the teacher has no score for those,
            # so the KL term keeps its own candidates and only the cross-entropy sees the extra ones
            candidates = docs.unsqueeze(0).expand(n_queries, -1, -1)
            order = torch.cat([torch.arange(q * n_candidates, (q + 1) * n_candidates) for q in range(n_queries)])
            own = order.view(n_queries, n_candidates)
            rest = torch.stack([torch.cat([torch.arange(0, q * n_candidates),
                                           torch.arange((q + 1) * n_candidates, n_queries * n_candidates)])
                                for q in range(n_queries)])
            columns = torch.cat([own, rest], dim=1)  # [Q, Q*C]
            candidates = docs[columns]  # [Q, Q*C, V]
        else:
            candidates = docs.view(n_queries, n_candidates, -1)
        index = tokens.unsqueeze(1).expand(-1, candidates.shape[1], -1)
        at_tokens = candidates.gather(2, index)  # [Q, C', T]: each candidate's weight on each query token
        scores = (at_tokens * weights.unsqueeze(1)).sum(dim=-1)  # [Q, C']
        student_p = torch.softmax(scores, dim=-1)
        own_p = torch.softmax(scores[:, :n_candidates], dim=-1)
        teacher_p = torch.softmax(teacher.float(), dim=-1)
        g_kl = (own_p - teacher_p) / n_queries  # batchmean KL over the own candidates
        onehot = torch.zeros_like(student_p)
        onehot[:, 0] = 1.0
        g_ce = ce_weight * (student_p - onehot) / n_queries
        per_kl = (g_kl.unsqueeze(-1) * at_tokens[:, :n_candidates]).sum(dim=1) * mask  # [Q, T]
        per_ce = (g_ce.unsqueeze(-1) * at_tokens).sum(dim=1) * mask
        per_l1 = torch.full_like(per_kl, lambda_q / n_queries) * mask
    vocab = student.vocab_size
    flat = tokens.reshape(-1).cpu().numpy()
    out = {}
    for name, values in (("kl", per_kl), ("ce", per_ce), ("l1", per_l1), ("count", mask)):
        out[name] = np.bincount(flat, weights=values.reshape(-1).double().cpu().numpy(), minlength=vocab)
    return out


def head_push(student, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What one plain gradient step on the head (w, b) does to every token's pre-activation, per term:
    -(E_W(y) . grad_w + grad_b) for each token y, where grad_w = sum_x dL/ds(x) s'(x) E_W(x). A positive
    value raises the token's weight. This is how a push on the batch's query tokens reaches tokens that
    never occur in a training query (stopwords, rare names): through the shared embeddings."""
    with torch.no_grad():
        embeddings = student.embeddings.float() - student.embedding_center()
        z = embeddings @ student.head_weight + student.head_bias
        slope = torch.where(z > 0, 1.0 / (1.0 + torch.relu(z)), torch.zeros_like(z)).double()
        pushes = {}
        for name in ("kl", "ce", "l1"):
            g = torch.as_tensor(grads[name], dtype=torch.float64) * slope  # dL/dz per token
            grad_w = (g.unsqueeze(1) * embeddings.double()).sum(dim=0)
            grad_b = g.sum()
            pushes[name] = (-(embeddings.double() @ grad_w + grad_b)).cpu().numpy()
    return pushes
