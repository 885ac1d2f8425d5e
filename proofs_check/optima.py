"""Statement 5: the optima of App. F.1 (paper claims), on exact expected losses in torch float64.

Independent of the `learners` package: the losses below are written from their definitions, and torch autograd
(not a hand-derived gradient) differentiates them. g is a free table g(a, b) over pairs, P = P_coor with every
entry > 0 (finite K_PMI), pi its marginal.
- binary NCE, positive prior p: L(g) = p E_{P}[softplus(-g)] + (1 - p) E_{pi x pi}[softplus(g)].
  Claim: at g* = K_PMI + log(p / (1 - p)) the gradient vanishes (max |dL/dg| <= 1e-12) and
  L(g* + eps D) > L(g*) for random directions D and eps in {1e-3, 1e-1, 1}.
- InfoNCE, tau = 1, infinitely many negatives: L(g) = -E_{P}[g(a, b)] + E_{a ~ pi} log E_{b' ~ pi} e^{g(a, b')}.
  Claim: at g* = K_PMI + c(a), any c, the gradient vanishes; perturbations with zero row means increase L;
  row-constant perturbations leave L unchanged (to 1e-12).
- InfoNCE, tau = 1, M in {1, 2, 3} negatives: the exact expectation over a ~ pi, b_0 ~ P(. | a),
  b_1..b_M ~ pi of logsumexp_k g(a, b_k) - g(a, b_0), enumerating all N^(M+1) candidate tuples (N <= 4).
  Same claim: the Bayes-optimal critic K_PMI + c(a) is optimal for every M, not only in the limit.
Rounding floor 1e-13 (|L| + 1): no step may lower L by more, and along every direction some step must raise L by
more (a 1e-3 step's rise ~ 1e-6 x curvature can drown in rounding where a state has probability ~1e-6).
"""
from __future__ import annotations

import itertools
import time

import numpy as np
from hypothesis import strategies as st

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, rounded, statement

TITLE = "Contrastive optima (App. F.1)"
GRAD_TOL = 1e-12
STEPS = (1e-3, 1e-1, 1.0)
MAX_ENUMERATED = 4


def _torch():
    import torch  # deferred: importing proofs_check stays light

    return torch


def nce_optimum(K: np.ndarray, p: float) -> np.ndarray:
    return K + np.log(p / (1 - p))


def infonce_optimum(K: np.ndarray, c: np.ndarray) -> np.ndarray:
    return K + c[:, None]


def nce_loss(g, P, p: float):
    """Exact expected binary NCE loss (torch tensors g, P of shape (N, N))."""
    torch = _torch()
    pi = P.sum(dim=1)
    F = torch.nn.functional
    return p * (P * F.softplus(-g)).sum() + (1 - p) * (torch.outer(pi, pi) * F.softplus(g)).sum()


def infonce_population_loss(g, P):
    """Exact expected InfoNCE loss with infinitely many negatives (tau = 1)."""
    torch = _torch()
    pi = P.sum(dim=1)
    return -(P * g).sum() + (pi * torch.logsumexp(g + torch.log(pi)[None, :], dim=1)).sum()


def infonce_loss(g, P, negatives: int):
    """Exact expected InfoNCE loss with `negatives` negatives per anchor, by enumeration of candidate tuples."""
    torch = _torch()
    n = P.shape[0]
    pi = P.sum(dim=1)
    idx = torch.tensor(list(itertools.product(range(n), repeat=negatives + 1)))
    weight = P[:, idx[:, 0]] * pi[idx[:, 1:]].prod(dim=1)[None, :]  # pi(a) P(b0|a) prod pi(b_k)
    logits = g[:, idx]  # (N, tuples, M + 1)
    return (weight * (torch.logsumexp(logits, dim=2) - logits[:, :, 0])).sum()


def _probe(loss, g_star: np.ndarray, P: np.ndarray, directions: np.ndarray, invariant=None) -> dict:
    """Gradient at g*, loss increases along `directions`, and (optionally) loss changes along `invariant`."""
    torch = _torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors of a few hundred entries: a thread pool only adds contention
    try:
        return _probe_serial(torch, loss, g_star, P, directions, invariant)
    finally:
        torch.set_num_threads(threads)


def _probe_serial(torch, loss, g_star, P, directions, invariant) -> dict:
    Pt = torch.tensor(P, dtype=torch.float64)
    g = torch.tensor(g_star, dtype=torch.float64, requires_grad=True)
    base = loss(g, Pt)
    (grad,) = torch.autograd.grad(base, g)
    base = base.item()
    with torch.no_grad():
        rises = np.array([[loss(torch.tensor(g_star + eps * d, dtype=torch.float64), Pt).item() - base
                           for eps in STEPS] for d in directions])
        drift = (abs(loss(torch.tensor(g_star + invariant, dtype=torch.float64), Pt).item() - base)
                 if invariant is not None else 0.0)
    return {"grad": float(grad.abs().max()), "min_rise": float(rises.min()),
            "least_largest_rise": float(rises.max(axis=1).min()), "drift": drift,
            "floor": 1e-13 * (abs(base) + 1), "loss": base}


def _verdict(probe: dict, info: dict) -> Verdict:
    """Zero gradient; along every direction no step lowers L beyond rounding and some step raises it beyond
    rounding (a small step's rise ~ eps^2 curvature can drown in rounding where a state is very rare)."""
    floor = probe["floor"]
    ok = (probe["grad"] <= GRAD_TOL and probe["min_rise"] >= -floor and probe["least_largest_rise"] > floor
          and probe["drift"] <= 1e-12)
    return Verdict(ok=ok, margin=GRAD_TOL - probe["grad"], info={**info, **probe})


def _directions(n: int, seed: int, count: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, n, n))


def judge_nce(example, optimum=nce_optimum) -> Verdict:
    case, p, seed = example
    g_star = optimum(case.K, p)
    probe = _probe(lambda g, P: nce_loss(g, P, p), g_star, case.P, _directions(case.P.shape[0], seed))
    return _verdict(probe, {**case.describe(), "p": p, "g_star": rounded(g_star)})


def _row_free(d: np.ndarray) -> np.ndarray:
    return d - d.mean(axis=-1, keepdims=True)


def judge_infonce(example, optimum=infonce_optimum, negatives: int | None = None) -> Verdict:
    """negatives None: the population loss; else the exact loss with that many negatives."""
    case, c, seed = example
    n = case.P.shape[0]
    g_star = optimum(case.K, c)
    rng = np.random.default_rng(seed)
    directions = _row_free(rng.standard_normal((3, n, n)))
    shift = np.repeat(rng.standard_normal((n, 1)), n, axis=1)
    loss = infonce_population_loss if negatives is None else (lambda g, P: infonce_loss(g, P, negatives))
    probe = _probe(loss, g_star, case.P, directions, invariant=shift)
    return _verdict(probe, {**case.describe(), "c": rounded(c), "negatives": negatives or "inf",
                            "g_star": rounded(g_star)})


def _offsets(n: int):
    return st.lists(st.integers(-8, 8), min_size=n, max_size=n).map(lambda c: np.array(c, dtype=float) / 4)


@st.composite
def _infonce_examples(draw, max_states: int):
    case = draw(strategies.cooccurrences(max_states=max_states, positive=True))
    return case, draw(_offsets(case.P.shape[0])), draw(st.integers(0, 2**16))


def check(examples: int | None = None, seed: int = 0, nce=nce_optimum, infonce=infonce_optimum) -> StatementResult:
    """Check statement 5; `nce(K, p)` and `infonce(K, c)` are the claimed optima to test."""
    examples, seed = check_args("optima.check", examples, seed)
    check_callable(nce, "nce", "optima.check")
    check_callable(infonce, "infonce", "optima.check")
    start = time.perf_counter()
    nce_examples = st.tuples(strategies.cooccurrences(positive=True), st.integers(1, 99).map(lambda k: k / 100),
                             st.integers(0, 2**16))
    finite_m = st.tuples(_infonce_examples(MAX_ENUMERATED), st.integers(1, 3))
    claims = [
        explore("binary NCE", "g* = K_PMI + log(p/(1-p)) minimises the exact expected NCE loss", True,
                nce_examples, lambda ex: judge_nce(ex, nce), examples, seed),
        explore("InfoNCE, M = inf", "g* = K_PMI + c(a) minimises the population InfoNCE loss (tau = 1)", True,
                _infonce_examples(strategies.MAX_STATES), lambda ex: judge_infonce(ex, infonce), examples, seed),
        explore("InfoNCE, M negatives", "g* = K_PMI + c(a) minimises the exact InfoNCE loss, M = 1..3", True,
                finite_m, lambda ex: judge_infonce(ex[0], infonce, negatives=ex[1]), examples, seed),
    ]
    return statement("5", TITLE, claims, start)
