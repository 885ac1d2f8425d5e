"""Contrastive losses as pure functions of logits g(a, b) (torch; no state, no parameters).

Optima (docs/DESIGN.md): binary NCE with positive prior p -> g = K_PMI + log(p / (1 - p));
InfoNCE (tau = 1) -> g = K_PMI + c(a), for in-batch or explicit negatives alike.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from platonic_core.checks import check_bool, check_positive, check_prob


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
    if bias is not None:
        if bias.numel() != 1:
            raise ValueError(f"The 'bias' parameter of binary_nce must be a scalar. Got shape {tuple(bias.shape)}.")
        pos, neg = pos + bias, neg + bias
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
