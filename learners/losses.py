"""Training losses as pure functions (torch; no state, no parameters): of logits g(a, b) for the critic objectives,
of predictions for next_event and regression, of the two views' embeddings for vicreg.

Optima (docs/DESIGN.md, learners.objectives): binary NCE with positive prior p -> g = K_PMI + log(p / (1 - p));
InfoNCE (tau = 1) -> g = K_PMI + c(a), for in-batch or explicit negatives alike; skip-gram with K negatives (=
(K + 1) x binary NCE at p = 1/(K + 1)) -> K_PMI - log K; spectral -> exp(K_PMI); next_event (softmax over all values,
output bias) -> K_PMI + u(a) + u(b); regression -> a p-weighted low-rank approximation of P(b | a); vicreg -> a
weighted Laplacian eigenmap.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from platonic_core.checks import check_bool, check_positive, check_prob


def _shifted(pos: torch.Tensor, neg: torch.Tensor, bias: torch.Tensor | None, owner: str):
    """pos and neg with an optional scalar bias added to every logit."""
    if bias is None:
        return pos, neg
    if bias.numel() != 1:
        raise ValueError(f"The 'bias' parameter of {owner} must be a scalar. Got shape {tuple(bias.shape)}.")
    return pos + bias, neg + bias


def binary_nce(pos: torch.Tensor, neg: torch.Tensor, p_pos: float = 0.5, bias: torch.Tensor | None = None):
    """Binary NCE: -p E_pos[log sigmoid(g)] - (1 - p) E_neg[log sigmoid(-g)].

    pos: logits of positive pairs (any shape); neg: logits of negative pairs (any shape, any count): the prior
    p_pos weighs the two means, so it is the positive share of the mixture whatever the sample counts.
    bias: optional scalar added to every logit (a learnable offset frees the kernel from log(p / (1 - p))).
    """
    p = check_prob(p_pos, "p_pos", "binary_nce", open_low=True, open_high=True)
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"The 'pos' and 'neg' parameters of binary_nce must be non-empty. "
                         f"Got shapes {tuple(pos.shape)} and {tuple(neg.shape)}.")
    pos, neg = _shifted(pos, neg, bias, "binary_nce")
    return -p * F.logsigmoid(pos).mean() - (1 - p) * F.logsigmoid(-neg).mean()


def info_nce(logits: torch.Tensor, tau: float = 1.0, symmetric: bool = False):
    """InfoNCE with in-batch negatives: logits (B, B), logits[i, j] = g(a_i, b_j), positives on the diagonal.

    Cross-entropy of picking b_i among the batch for a_i, with logits / tau; symmetric: the mean of that and the
    transposed direction (pick a_i for b_i), as in CLIP.
    """
    t = check_positive(tau, "tau", "info_nce")
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or logits.shape[0] < 2:
        raise ValueError(f"The 'logits' parameter of info_nce must be a square (B, B) matrix with B >= 2. "
                         f"Got shape {tuple(logits.shape)}.")
    z = logits / t
    target = torch.arange(z.shape[0], device=z.device)
    loss = F.cross_entropy(z, target)
    return (loss + F.cross_entropy(z.T, target)) / 2 if check_bool(symmetric, "symmetric", "info_nce") else loss


def info_nce_negatives(pos: torch.Tensor, neg: torch.Tensor, tau: float = 1.0):
    """InfoNCE with K explicit negatives per positive: pos (B,), neg (B, K) logits; the positive is class 0."""
    t = check_positive(tau, "tau", "info_nce_negatives")
    if pos.ndim != 1 or neg.ndim != 2 or neg.shape[0] != pos.shape[0] or neg.shape[1] < 1:
        raise ValueError(f"The 'pos' and 'neg' parameters of info_nce_negatives must be (B,) and (B, K) with K >= 1. "
                         f"Got shapes {tuple(pos.shape)} and {tuple(neg.shape)}.")
    z = torch.cat([pos[:, None], neg], dim=1) / t
    return F.cross_entropy(z, torch.zeros(z.shape[0], dtype=torch.long, device=z.device))


def skipgram(pos: torch.Tensor, neg: torch.Tensor, bias: torch.Tensor | None = None):
    """word2vec's skip-gram with negative sampling: mean over pairs of -log s(g+) - sum_k log s(-g_k).

    pos: (B,) logits of positive pairs; neg: (B, K) logits of their K >= 1 negatives. Equals (K + 1) x binary_nce
    with p_pos = 1 / (K + 1), so its optimum is g = K_PMI - log K. bias: optional scalar added to every logit."""
    if pos.ndim != 1 or neg.ndim != 2 or neg.shape[0] != pos.shape[0] or neg.shape[1] < 1 or pos.numel() == 0:
        raise ValueError(f"The 'pos' and 'neg' parameters of skipgram must be (B,) and (B, K) with B, K >= 1. "
                         f"Got shapes {tuple(pos.shape)} and {tuple(neg.shape)}.")
    pos, neg = _shifted(pos, neg, bias, "skipgram")
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(dim=1)).mean()


def spectral_contrastive(pos: torch.Tensor, neg: torch.Tensor):
    """HaoChen et al. 2021: -2 E_pos[g] + E_neg[g^2], negatives independent draws (any shape, any count). Its
    optimum is g = P / (p p^T) = exp(K_PMI)."""
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"The 'pos' and 'neg' parameters of spectral_contrastive must be non-empty. "
                         f"Got shapes {tuple(pos.shape)} and {tuple(neg.shape)}.")
    return -2 * pos.mean() + (neg * neg).mean()


def next_event(logits: torch.Tensor, target: torch.Tensor):
    """Softmax prediction of the co-occurring value: cross-entropy of logits (B, N) (every value scored) against
    target indices (B,)."""
    if logits.ndim != 2 or target.shape != logits.shape[:1] or logits.shape[1] < 2:
        raise ValueError(f"The 'logits' and 'target' parameters of next_event must be (B, N) with N >= 2 and (B,). "
                         f"Got shapes {tuple(logits.shape)} and {tuple(target.shape)}.")
    return F.cross_entropy(logits, target)


def one_hot_regression(pred: torch.Tensor, target: torch.Tensor):
    """Least squares to the one-hot code of the co-occurring value: mean over the batch of ||pred_i - e_target_i||^2
    for predictions (B, N) and target indices (B,)."""
    if pred.ndim != 2 or target.shape != pred.shape[:1]:
        raise ValueError(f"The 'pred' and 'target' parameters of one_hot_regression must be (B, N) and (B,). "
                         f"Got shapes {tuple(pred.shape)} and {tuple(target.shape)}.")
    hit = pred.gather(1, target[:, None]).squeeze(1)
    return ((pred * pred).sum(dim=1) - 2 * hit + 1).mean()


def vicreg(za: torch.Tensor, zb: torch.Tensor, sim: float = 25.0, std: float = 25.0, cov: float = 25.0,
           gamma: float = 1.0, eps: float = 1e-4):
    """VICReg (Bardes et al. 2022) of the two views' embeddings (B, d), as in the official code: sim x mean squared
    difference + std x mean hinge on each view's per-dimension std (averaged over the views) + cov x each view's
    squared off-diagonal covariance / d (summed over the views); unbiased batch statistics."""
    if za.ndim != 2 or za.shape != zb.shape or za.shape[0] < 2:
        raise ValueError(f"The 'za' and 'zb' parameters of vicreg must be (B, d) of one shape with B >= 2. "
                         f"Got shapes {tuple(za.shape)} and {tuple(zb.shape)}.")
    n, d = za.shape
    repr_loss = F.mse_loss(za, zb)
    std_loss, cov_loss = 0.0, 0.0
    for z in (za, zb):
        z = z - z.mean(dim=0)
        std_loss = std_loss + F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean() / 2
        c = z.T @ z / (n - 1)
        cov_loss = cov_loss + (c.pow(2).sum() - c.diagonal().pow(2).sum()) / d
    return sim * repr_loss + std * std_loss + cov * cov_loss
