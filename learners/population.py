"""The infinite-data limit: minimise the exact population loss of an objective over a rank-`dim` learner.

The critic objectives (infonce, nce, skipgram, spectral, next_event) train g = F F^T (+ b, a learnable scalar, for
nce and skipgram with `learn_bias`; + beta_b, a learnable output bias per value, for next_event), F an (N, dim)
embedding; regression trains F and its linear head W (N, dim); vicreg trains F. Each is optimised by L-BFGS in
float64 on the exact expected loss under P_coor (no sampling):

  binary NCE:  L(g) = -p sum_ab P log s(g) - (1 - p) sum_ab pi_a pi_b log s(-g)     minimiser g* = K_PMI + log(p/(1-p))
  InfoNCE:     L(g) = -sum_ab P g + sum_a pi_a log sum_b pi_b exp(g_ab)              minimiser g* = K_PMI + c(a)
  skipgram:    L(g) = -sum_ab P log s(g) - K sum_ab pi_a pi_b log s(-g)               minimiser g* = K_PMI - log K
  spectral:    L(g) = -2 sum_ab P g + sum_ab pi_a pi_b g^2                            minimiser g* = exp(K_PMI)
  next_event:  L(z) = -sum_ab P z + sum_a pi_a log sum_b exp(z_ab), z = g + beta     minimiser g* = K_PMI + u(a) + u(b)
  regression:  L(F, W) = 1 - 2 sum_ab P Y + sum_a pi_a ||Y_a||^2, Y = F W^T           minimiser Y* = D^-1/2 [D^-1/2 P]_d
  vicreg:      see learners.objectives (a weighted Laplacian eigenmap)

InfoNCE is taken in its many-negatives limit (negatives drawn from the marginal; K negatives give the same
minimiser for every K). A Gram critic is PSD, so it reaches g* only where learners.objectives.reachable says so;
elsewhere the result is the best Gram critic and `gap` > 0 (a documented cap). The analytic optimum of each
objective is learners.objectives.target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

from platonic_core.checks import check_bool, check_choice, check_int, check_prob, check_real
from worlds import pmi_kernel

from . import objectives as _obj
from ._blas import single_thread_blas
from ._checks import check_cooccurrence

LOSSES = _obj.NAMES  # the training losses of learners (fit, ContrastiveModule, population_optimum): defined once
CRITIC_LOSSES = tuple(n for n, o in _obj.OBJECTIVES.items() if o.kind == "critic" or n == "next_event")


@dataclass
class PopulationOptimum:
    """kernel: the optimal kernel F F^T (N, N) without any bias (regression: the balanced, minimum-norm minimiser;
    vicreg: of the p-centred embedding); bias: the scalar logit offset b of nce/skipgram (0 when not learned);
    embeddings: F; loss: the population loss reached; bound: the loss at the unconstrained minimiser (the best any
    critic can do; regression: the full-rank prediction; vicreg: the closed-form optimum at this dim, NaN where
    there is none); gap = loss - bound; target: K_PMI for infonce and nce (compared modulo a constant), else the
    objective's analytic optimum (learners.objectives.target; vicreg: NaN where it has no closed form);
    objective: the loss's name; extra: objective-specific parts (next_event: output_bias; regression: head,
    prediction, whitened, rank_bound; vicreg: target_error where there is no closed form)."""

    kernel: np.ndarray
    bias: float
    embeddings: np.ndarray
    loss: float
    bound: float
    gap: float
    target: np.ndarray
    converged: bool
    n_iter: int
    objective: str = "infonce"
    extra: dict = field(default_factory=dict)


def population_loss(g: np.ndarray, P: np.ndarray, loss: str, p_pos: float = 0.5, *, negatives: int | None = None):
    """The exact population loss of logits g (N, N) under the joint P, and its gradient dL/dg.

    Critic objectives only (regression and vicreg are losses of embeddings: `regression_loss`, `vicreg_loss`).
    nce uses p_pos, skipgram its K = `negatives`; next_event takes the logits with the output bias added."""
    pi = P.sum(axis=1)
    if loss == "nce":
        q = np.outer(pi, pi)
        value = -p_pos * np.sum(P * log_expit(g)) - (1 - p_pos) * np.sum(q * log_expit(-g))
        return value, -p_pos * P * expit(-g) + (1 - p_pos) * q * expit(g)
    if loss == "infonce":
        z = g + np.log(pi)[None, :]
        lse = logsumexp(z, axis=1)
        value = -np.sum(P * g) + pi @ lse
        return value, -P + pi[:, None] * np.exp(z - lse[:, None])
    if loss == "skipgram":
        k = _obj.check_negatives("skipgram", negatives, "population_loss")
        q = np.outer(pi, pi)
        value = -np.sum(P * log_expit(g)) - k * np.sum(q * log_expit(-g))
        return value, -P * expit(-g) + k * q * expit(g)
    if loss == "spectral":
        q = np.outer(pi, pi)
        return -2 * np.sum(P * g) + np.sum(q * g * g), -2 * P + 2 * q * g
    if loss == "next_event":
        lse = logsumexp(g, axis=1)
        return -np.sum(P * g) + pi @ lse, -P + pi[:, None] * np.exp(g - lse[:, None])
    _obj.get(loss, "population_loss")
    raise ValueError(f"The 'loss' parameter of population_loss must be a critic objective "
                     f"({', '.join(CRITIC_LOSSES)}); {loss!r} is a loss of embeddings (see regression_loss, "
                     f"vicreg_loss). Got {loss!r} instead.")


def regression_loss(F: np.ndarray, W: np.ndarray, P: np.ndarray):
    """E_(a,b)~P ||e_b - W f(a)||^2 for embeddings F (N, d) and head W (N, d): (value, dL/dF, dL/dW)."""
    pi = P.sum(axis=1)
    Y = F @ W.T
    value = 1 - 2 * np.sum(P * Y) + np.sum(pi[:, None] * Y * Y)
    G = -2 * P + 2 * pi[:, None] * Y
    return value, G @ W, G.T @ F


def vicreg_loss(F: np.ndarray, P: np.ndarray, sim: float = 25.0, std: float = 25.0, cov: float = 25.0,
                gamma: float = 1.0, eps: float = 1e-4):
    """VICReg's population loss (the official code's form, both views from the marginal p) of embeddings F (N, d):
    (2 sim/d) tr(F^T (D - P) F) + (std/d) sum_j relu(gamma - sqrt(C_jj + eps)) + (2 cov/d) sum_{i != j} C_ij^2,
    C = F_c^T D F_c the covariance under p. Returns (value, dL/dF)."""
    pi = P.sum(axis=1)
    d = F.shape[1]
    LF = pi[:, None] * F - P @ F
    Fc = F - pi @ F
    C = Fc.T @ (pi[:, None] * Fc)
    sd = np.sqrt(np.diag(C) + eps)
    hinge = np.maximum(0.0, gamma - sd)
    off = C - np.diag(np.diag(C))
    value = 2 * sim / d * np.sum(F * LF) + std / d * hinge.sum() + 2 * cov / d * np.sum(off * off)
    dC = np.diag(-(std / d) * (hinge > 0) * 0.5 / sd) + 4 * cov / d * off
    return value, 4 * sim / d * LF + 2 * (pi[:, None] * Fc) @ dC


def population_optimum(P_coor, loss: str = "infonce", dim: int | None = None, *, p_pos: float = 0.5,
                       learn_bias: bool = False, seed: int = 0, max_iter: int = 20000, tol: float = 1e-13,
                       negatives: int | None = None, objective_kw: dict | None = None) -> PopulationOptimum:
    """The optimal rank-`dim` learner for `loss` (one of LOSSES) under the exact P_coor (N, N).

    dim defaults to N. p_pos applies to nce; negatives (K >= 1) to skipgram; learn_bias to nce and skipgram;
    objective_kw to vicreg (sim, std, cov, gamma, eps). Raises on P_coor with zero entries (the optimum would be -inf
    there). Deterministic for a given seed (random initial F).
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
    _obj.check_learn_bias(loss, learn_bias, owner)
    k = _obj.check_negatives(loss, negatives, owner, allow_none=True)
    opts = _obj.check_options(loss, objective_kw, owner)
    options = {"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": tol, "gtol": tol * 1e-2, "maxcor": 30}
    if loss == "regression":
        return _regression(P, dim, seed, options)
    if loss == "vicreg":
        return _vicreg(P, dim, seed, options, opts)
    if loss == "next_event":
        return _next_event(P, dim, seed, options)
    target = pmi_kernel(P)
    if loss == "infonce" or loss == "nce":
        bound = population_loss(target + (np.log(p / (1 - p)) if loss == "nce" else 0.0), P, loss, p)[0]
    elif loss == "skipgram":
        target = target if learn_bias else target - math.log(k)
        bound = population_loss(pmi_kernel(P) - math.log(k), P, loss, negatives=k)[0]
    else:  # spectral: the rank-dim closed form (exp(K_PMI) at full rank where P_coor is PSD)
        bound = -float(np.sum(P * P / np.outer(P.sum(1), P.sum(1))))
        target = _obj.spectral_target(P, dim)

    def objective(x):
        f = x[: n * dim].reshape(n, dim)
        b = x[-1] if learn_bias else 0.0
        value, grad_g = population_loss(f @ f.T + b, P, loss, p, negatives=k)
        grad_f = (grad_g + grad_g.T) @ f
        return value, np.concatenate([grad_f.ravel(), [grad_g.sum()]] if learn_bias else [grad_f.ravel()])

    x0 = np.random.default_rng(seed).standard_normal(n * dim + int(learn_bias)) * 0.1
    with single_thread_blas():
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options=options)
    f = res.x[: n * dim].reshape(n, dim)
    return PopulationOptimum(kernel=f @ f.T, bias=float(res.x[-1]) if learn_bias else 0.0, embeddings=f,
                             loss=float(res.fun), bound=float(bound), gap=float(res.fun - bound), target=target,
                             converged=bool(res.success), n_iter=int(res.nit), objective=loss)


def _next_event(P, dim, seed, options) -> PopulationOptimum:
    n = P.shape[0]
    pi = P.sum(axis=1)

    def objective(x):
        f, beta = x[: n * dim].reshape(n, dim), x[n * dim:]
        value, grad_z = population_loss(f @ f.T + beta[None, :], P, "next_event")
        return value, np.concatenate([((grad_z + grad_z.T) @ f).ravel(), grad_z.sum(axis=0)])

    x0 = np.concatenate([np.random.default_rng(seed).standard_normal(n * dim) * 0.1, np.zeros(n)])
    with single_thread_blas():
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options=options)
    f = res.x[: n * dim].reshape(n, dim)
    bound = float(-np.sum(P * np.log(P / pi[:, None])))  # H(B | A): the softmax matches P(b | a)
    return PopulationOptimum(kernel=f @ f.T, bias=0.0, embeddings=f, loss=float(res.fun), bound=bound,
                             gap=float(res.fun - bound), target=pmi_kernel(P), converged=bool(res.success),
                             n_iter=int(res.nit), objective="next_event", extra={"output_bias": res.x[n * dim:]})


def _regression(P, dim, seed, options) -> PopulationOptimum:
    n = P.shape[0]
    pi = P.sum(axis=1)

    def objective(x):
        f, w = x[: n * dim].reshape(n, dim), x[n * dim:].reshape(n, dim)
        value, gf, gw = regression_loss(f, w, P)
        return value, np.concatenate([gf.ravel(), gw.ravel()])

    x0 = np.random.default_rng(seed).standard_normal(2 * n * dim) * 0.1
    with single_thread_blas():
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options=options)
    f, w = res.x[: n * dim].reshape(n, dim), res.x[n * dim:].reshape(n, dim)
    Y = f @ w.T
    A, S, Bt = np.linalg.svd(Y)  # the minimum-norm (balanced) factorisation of the same prediction: same loss
    r = min(dim, n)
    F = A[:, :r] * np.sqrt(S[:r])
    W = Bt[:r].T * np.sqrt(S[:r])
    if r < dim:  # dim > N: pad (the extra directions carry nothing at the minimum norm)
        F, W = np.pad(F, ((0, 0), (0, dim - r))), np.pad(W, ((0, 0), (0, dim - r)))
    _, balanced, whitened, sv = _obj.regression_parts(P, dim)
    bound = float(1 - np.sum(P * P / pi[:, None]))
    return PopulationOptimum(kernel=F @ F.T, bias=0.0, embeddings=F, loss=float(res.fun), bound=bound,
                             gap=float(res.fun - bound), target=balanced, converged=bool(res.success),
                             n_iter=int(res.nit), objective="regression",
                             extra={"head": W, "prediction": Y, "whitened": _obj.canonical(F @ F.T, "regression", P,
                                                                                           dim) if dim < n else None,
                                    "target_whitened": whitened, "rank_bound": float(1 - np.sum(sv[:dim] ** 2))})


def _vicreg(P, dim, seed, options, opts) -> PopulationOptimum:
    n = P.shape[0]
    pi = P.sum(axis=1)

    def objective(x):
        value, grad = vicreg_loss(x.reshape(n, dim), P, **opts)
        return value, grad.ravel()

    x0 = np.random.default_rng(seed).standard_normal(n * dim) * 0.1
    with single_thread_blas():
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options=options)
    f = res.x.reshape(n, dim)
    fc = f - pi @ f
    extra = {}
    try:
        z, target, _, _, _ = _obj.vicreg_parts(P, dim, opts, "population_optimum")
        bound = float(vicreg_loss(z, P, **opts)[0])
    except ValueError as err:
        target, bound, extra["target_error"] = np.full((n, n), np.nan), float("nan"), str(err)
    return PopulationOptimum(kernel=fc @ fc.T, bias=0.0, embeddings=fc, loss=float(res.fun), bound=bound,
                             gap=float(res.fun - bound), target=target, converged=bool(res.success),
                             n_iter=int(res.nit), objective="vicreg", extra=extra)
