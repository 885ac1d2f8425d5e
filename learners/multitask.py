"""Multitask learners on a factor world: one shared representation, one task per observed factor (the paper's Sec. 3
multitask scaling hypothesis in a controlled world).

World: T independent factor chains (each a world of `factor_states` states, e.g. a lazy ring) evolving together,
N = m^T states, state i = (z_1, ..., z_T) in Kronecker order. Task t: from the state z_a, pick out the value x of
factor t of a co-occurring state z_b (|t - t'| <= W): InfoNCE between the shared embedding f(z_a) (a table F, N x dim)
and an output table G_t (m x dim) of factor t's values, critic S_t = F G_t^T, taken in its many-negatives limit
under the exact joint P_t(a, x) = sum_b P_coor(a, b) [z_b,t = x]:

    L_t(F, G_t) = -sum_ax P_t S_t + sum_a p_a log sum_x q_t(x) exp(S_t(a, x))

(optimum S_t = K_t + c(a), K_t the PMI between a state and factor t's value; for independent factors K_t depends
on a only through z_a,t). A learner minimises the sum over its tasks by L-BFGS on the exact population loss (no
sampling: the spread between seeds is the loss's own freedom), optionally with a ridge (weight decay)
lambda (||F||^2 + sum_t ||G_t||^2), the simplicity-bias probe.

What the tasks leave free: F G_t^T is unchanged by F -> F A, G_t -> G_t A^-T (A in GL(dim)), so the losses fix only
the span of F, and within it only the r = rank of the tasks' column differences (K_t(., x) - K_t(., y), m - 1 per
generic factor) directions the tasks need; the other dim - r directions stay wherever the initialisation put them.
Two seeds then share r directions and draw the rest at random from the (N - 1 - r)-dimensional complement of centred
functions, so the p-whitened CKA between them is predicted to be (r + (dim - r)^2 / (N - 1 - r)) / dim. A ridge
picks the minimum-norm solution instead: unique up to rotation (the GL freedom and the free directions are gone).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from platonic_core.checks import check_int, check_real, fail, param
from worlds import MarkovWorld, make_world, product_world

from ._blas import single_thread_blas
from ._checks import check_cooccurrence


def factor_world(factors: int, factor_states: int, kind: str = "ring", **kw) -> tuple[MarkovWorld, np.ndarray]:
    """A product of `factors` copies of the world `kind` with `factor_states` states (worlds.make_world(kind,
    n_states=factor_states, **kw)); returns the world and its labels (N, factors): state i's factor values."""
    owner = "factor_world"
    t = check_int(factors, "factors", owner, low=1)
    m = check_int(factor_states, "factor_states", owner, low=2)
    base = make_world(kind, n_states=m, **kw)
    world = base
    for _ in range(t - 1):
        world = product_world(world, base)
    labels = np.array(list(itertools.product(range(m), repeat=t)), dtype=np.int64)
    return world, labels


def task_joints(P_coor, labels: np.ndarray) -> list[np.ndarray]:
    """The joint P_t(a, x) = sum_b P_coor(a, b) [labels[b, t] = x] (N, m_t) of each task t."""
    P = check_cooccurrence(P_coor, "task_joints")
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] != P.shape[0]:
        fail(param("labels", "task_joints"), f"be (N, factors) with N = {P.shape[0]}", f"shape {labels.shape}")
    out = []
    for t in range(labels.shape[1]):
        O = np.zeros((P.shape[0], int(labels[:, t].max()) + 1))
        O[np.arange(P.shape[0]), labels[:, t]] = 1.0
        out.append(P @ O)
    return out


def task_pmi(joint: np.ndarray) -> np.ndarray:
    """K_t(a, x) = log P_t(a, x) - log p(a) - log q_t(x)."""
    return np.log(joint) - np.log(joint.sum(1))[:, None] - np.log(joint.sum(0))[None, :]


def task_rank(joints: list[np.ndarray], tasks, tol: float = 1e-8) -> int:
    """r: the dimension of the span the tasks fix, the rank of the p-centred column differences of their PMI
    matrices (the row constant c(a) of InfoNCE drops out of differences)."""
    p = joints[0].sum(1)
    cols = []
    for t in tasks:
        K = task_pmi(joints[t])
        d = K[:, 1:] - K[:, :1]
        cols.append(d - p @ d)
    M = np.sqrt(p)[:, None] * np.hstack(cols)
    s = np.linalg.svd(M, compute_uv=False)
    return int((s > tol * s[0]).sum()) if s.size and s[0] > 0 else 0


def predicted_whitened_cka(r: int, dim: int, n_states: int) -> float:
    """The p-whitened CKA expected between two seeds that share r directions and draw dim - r at random from the
    (N - 1 - r)-dimensional rest of the centred functions: (r + (dim - r)^2 / (N - 1 - r)) / dim."""
    r = min(r, dim)
    rest = n_states - 1 - r
    return float((r + ((dim - r) ** 2 / rest if rest > 0 else 0.0)) / dim)


@dataclass
class MultitaskResult:
    """embeddings: F (N, dim); heads: the G_t of the tasks, in order; loss: the population loss reached (ridge
    included); task_losses: each task's loss at the end; converged, n_iter: L-BFGS's."""

    embeddings: np.ndarray
    heads: list
    loss: float
    task_losses: list
    converged: bool
    n_iter: int


def multitask_loss(x: np.ndarray, joints: list[np.ndarray], tasks, dim: int, ridge: float = 0.0):
    """(value, gradient) of sum_t L_t + ridge ||x||^2 at the flat parameters x = [F, G_t for t in tasks]."""
    n = joints[0].shape[0]
    p = joints[0].sum(1)
    F = x[: n * dim].reshape(n, dim)
    off, value, gF, grads = n * dim, 0.0, np.zeros_like(F), []
    for t in tasks:
        m = joints[t].shape[1]
        G = x[off: off + m * dim].reshape(m, dim)
        off += m * dim
        Pt = joints[t]
        z = F @ G.T + np.log(Pt.sum(0))[None, :]
        lse = logsumexp(z, axis=1)
        value += -np.sum(Pt * (F @ G.T)) + p @ lse
        dS = -Pt + p[:, None] * np.exp(z - lse[:, None])
        gF += dS @ G
        grads.append(dS.T @ F)
    grad = np.concatenate([gF.ravel(), *(g.ravel() for g in grads)])
    return value + ridge * float(x @ x), grad + 2 * ridge * x


def fit_multitask(P_coor, labels: np.ndarray, tasks, dim: int, *, seed: int = 0, ridge: float = 0.0,
                  init_std: float = 0.1, max_iter: int = 20000, tol: float = 1e-12) -> MultitaskResult:
    """The population learner of `tasks` (factor indices) with a shared rank-`dim` embedding, from a random start
    (normal, init_std) drawn with `seed`."""
    owner = "fit_multitask"
    P = check_cooccurrence(P_coor, owner)
    joints = task_joints(P, labels)
    tasks = [check_int(t, "tasks[]", owner, 0, len(joints) - 1) for t in tasks]
    if not tasks or len(set(tasks)) < len(tasks):
        fail(param("tasks", owner), "be a non-empty list of distinct factor indices", repr(tasks))
    dim = check_int(dim, "dim", owner, low=1)
    seed = check_int(seed, "seed", owner, low=0)
    ridge = check_real(ridge, "ridge", owner, low=0)
    init_std = check_real(init_std, "init_std", owner, low=0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", owner, low=1)
    n = P.shape[0]
    size = n * dim + sum(joints[t].shape[1] * dim for t in tasks)
    x0 = np.random.default_rng(seed).standard_normal(size) * init_std
    with single_thread_blas():
        res = minimize(multitask_loss, x0, args=(joints, tasks, dim, ridge), jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": tol, "gtol": tol * 1e-2})
    F = res.x[: n * dim].reshape(n, dim)
    heads, off = [], n * dim
    for t in tasks:
        m = joints[t].shape[1]
        heads.append(res.x[off: off + m * dim].reshape(m, dim))
        off += m * dim
    per_task = [float(multitask_loss(np.concatenate([F.ravel(), h.ravel()]), joints, [t], dim)[0])
                for t, h in zip(tasks, heads)]
    return MultitaskResult(F, heads, float(res.fun), per_task, bool(res.success), int(res.nit))


def whiten(F: np.ndarray, p: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """The p-centred, p-whitened embedding (N, rank): the representation modulo F -> F A (its linear kernel is the
    p-whitened projector onto span F). Directions with variance below tol x the largest are dropped."""
    with single_thread_blas():
        Fc = F - p @ F
        C = Fc.T @ (p[:, None] * Fc)
        ev, E = np.linalg.eigh((C + C.T) / 2)
        keep = ev > tol * max(ev.max(), 0)
        return Fc @ (E[:, keep] / np.sqrt(ev[keep]))
