"""The infinite-data limit: minimise the exact population loss over a rank-`dim` dot-product critic.

The critic is g = F F^T (+ b, a learnable scalar, for binary NCE with `learn_bias`), F an (N, dim) embedding,
optimised by L-BFGS in float64 on the exact expected loss under P_coor (no sampling):

  binary NCE:  L(g) = -p sum_ab P log s(g) - (1 - p) sum_ab pi_a pi_b log s(-g)     minimiser g* = K_PMI + log(p/(1-p))
  InfoNCE:     L(g) = -sum_ab P g + sum_a pi_a log sum_b pi_b exp(g_ab)              minimiser g* = K_PMI + c(a)

InfoNCE is taken in its many-negatives limit (negatives drawn from the marginal; K negatives give the same
minimiser for every K). A Gram critic is PSD, so it reaches g* only when K_PMI + c 11^T is PSD for an allowed c.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

from platonic_core.checks import check_bool, check_choice, check_int, check_prob, check_real
from worlds import pmi_kernel

from ._blas import single_thread_blas
from ._checks import check_cooccurrence

LOSSES = ("infonce", "nce")  # the training losses of learners (fit, ContrastiveModule, population_optimum)


@dataclass
class PopulationOptimum:
    """kernel: the optimal logit kernel F F^T (N, N) without the bias; bias: b (0 when not learned);
    embeddings: F; loss: the population loss reached; bound: the loss at the unconstrained minimiser g*
    (the best any critic can do); gap = loss - bound; target: K_PMI."""

    kernel: np.ndarray
    bias: float
    embeddings: np.ndarray
    loss: float
    bound: float
    gap: float
    target: np.ndarray
    converged: bool
    n_iter: int


def population_loss(g: np.ndarray, P: np.ndarray, loss: str, p_pos: float = 0.5):
    """The exact population loss of logits g (N, N) under the joint P, and its gradient dL/dg."""
    pi = P.sum(axis=1)
    if loss == "nce":
        q = np.outer(pi, pi)
        value = -p_pos * np.sum(P * log_expit(g)) - (1 - p_pos) * np.sum(q * log_expit(-g))
        return value, -p_pos * P * expit(-g) + (1 - p_pos) * q * expit(g)
    z = g + np.log(pi)[None, :]
    lse = logsumexp(z, axis=1)
    value = -np.sum(P * g) + pi @ lse
    return value, -P + pi[:, None] * np.exp(z - lse[:, None])


def population_optimum(P_coor, loss: str = "infonce", dim: int | None = None, *, p_pos: float = 0.5,
                       learn_bias: bool = False, seed: int = 0, max_iter: int = 20000,
                       tol: float = 1e-13) -> PopulationOptimum:
    """The optimal rank-`dim` kernel for `loss` ('infonce' or 'nce') under the exact P_coor (N, N).

    dim defaults to N. p_pos and learn_bias apply to binary NCE. Raises on P_coor with zero entries (the
    optimum would be -inf there). Deterministic for a given seed (random initial F).
    """
    owner = "population_optimum"
    P = check_cooccurrence(P_coor, owner)
    n = P.shape[0]
    loss = check_choice(loss, "loss", owner, LOSSES)
    dim = n if dim is None else check_int(dim, "dim", owner, low=1)
    p = check_prob(p_pos, "p_pos", owner, open_low=True, open_high=True)
    learn_bias = check_bool(learn_bias, "learn_bias", owner)
    seed = check_int(seed, "seed", owner, low=0)
    max_iter = check_int(max_iter, "max_iter", owner, low=1)
    tol = check_real(tol, "tol", owner, low=0)
    if learn_bias and loss != "nce":
        raise ValueError(f"The 'learn_bias' parameter of {owner} only applies to loss='nce' (InfoNCE is invariant "
                         f"to a constant). Got learn_bias=True with loss={loss!r}.")
    target = pmi_kernel(P)
    bound = population_loss(target + (np.log(p / (1 - p)) if loss == "nce" else 0.0), P, loss, p)[0]

    def objective(x):
        f = x[: n * dim].reshape(n, dim)
        b = x[-1] if learn_bias else 0.0
        value, grad_g = population_loss(f @ f.T + b, P, loss, p)
        grad_f = (grad_g + grad_g.T) @ f
        return value, np.concatenate([grad_f.ravel(), [grad_g.sum()]] if learn_bias else [grad_f.ravel()])

    x0 = np.random.default_rng(seed).standard_normal(n * dim + int(learn_bias)) * 0.1
    with single_thread_blas():
        res = minimize(objective, x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": tol, "gtol": tol * 1e-2,
                                "maxcor": 30})
    f = res.x[: n * dim].reshape(n, dim)
    return PopulationOptimum(kernel=f @ f.T, bias=float(res.x[-1]) if learn_bias else 0.0, embeddings=f,
                             loss=float(res.fun), bound=float(bound), gap=float(res.fun - bound), target=target,
                             converged=bool(res.success), n_iter=int(res.nit))
