"""The training objectives of learners, defined once: each with its population loss (learners.population), its
exact optimum as a transform of P_coor (`target`), the gauge its loss leaves free (`canonical` removes it before
two kernels are compared) and the world condition under which a Gram critic reaches it (`reachable`).

Notation (docs/DESIGN.md): P = P_coor (N, N), p its marginal, D = diag(p), Q = D^-1 P (the rows P(b | a)),
K = K_PMI = log P - log p p^T, M = D^-1/2 P D^-1/2 with eigenpairs (lambda_i, v_i) in decreasing order (lambda_1 = 1,
v_1 = sqrt(p)), R = D^-1/2 P = U S V^T (SVD). A learner is an embedding F (N, dim); its kernel is F F^T.

  infonce     -E_pos g + E_a log E_b~p e^g               g* = K + c(a); a symmetric critic: K + c       (constant)
  nce         binary NCE with prior p_pos                g* = K + log(p/(1-p)); learn_bias: K + c      (none/constant)
  skipgram    word2vec, K negatives: -log s(g+) - sum_k log s(-g_k); = (K+1) x nce at p = 1/(K+1)
                                                         g* = K - log K; learn_bias: K + c            (none/constant)
  spectral    HaoChen et al. 2021: -2 E_pos g + E_p x p g^2
                                                         g* = P / (p p^T) = exp(K)                           (none)
              rank d: D^-1/2 [M]_d+ D^-1/2, [M]_d+ the top-d positive eigenpairs (exp(K) at d = N, P PSD)
  next_event  softmax over all N values, tied output embeddings f(b) and a learnable output bias beta_b:
              -E_pos log softmax_b(g(a, .) + beta)       softmax(g_a. + beta) = Q_a.  =>  g* = K + c(a) + d(b);
              a symmetric critic forces c = d + const:   g* = K + u(a) + u(b) + const                  (additive)
              (without the bias: g* = log P + const, i.e. K + log p(a) + log p(b) + const)
  regression  E_pos || e_b - W f(a) ||^2, W a linear head (N, dim), no bias
              = sum_a p_a ||(F W^T)_a - Q_a||^2 + 1 - sum P^2/p_a: a p-weighted rank-dim approximation of Q:
              F W^T = Y* = D^-1/2 U_d S_d V_d^T (Eckart-Young on D^1/2 Y vs R). F is fixed only up to
              F -> F A, W -> W A^-T (A in GL(dim)): its span, span(D^-1/2 U_d), and the p-whitened kernel
              F (F^T D F)^-1 F^T = D^-1/2 U_d U_d^T D^-1/2 are what the loss fixes. The minimum-norm
              minimiser (what weight decay selects; population_optimum returns it) balances F^T F = W^T W:
              kernel (Y* Y*^T)^1/2 = A_d S'_d A_d^T with Y* = A S' B^T.                                  (linear)
  vicreg      Bardes et al. 2022 on the two views of a pair (population form of the official code):
              sim/dim E||f(a) - f(b)||^2 + std/dim sum_j relu(gamma - sqrt(Var f_j + eps))
              + 2 cov/dim sum_{i != j} Cov_ij^2. E||f(a) - f(b)||^2 = 2 tr(F^T (D - P) F), so with the
              covariance term decorrelating the dimensions the optimum is a weighted Laplacian eigenmap:
              f_j = s_j D^-1/2 v_{j+1} (the top non-trivial eigenvectors), sqrt(s_j^2 + eps) =
              min(gamma, std / (4 sim (1 - lambda_{j+1}))); kernel sum_j s_j^2 D^-1/2 v v^T D^-1/2
              (p-centred: the mean of f is free).  It holds when the covariance weight keeps the dimensions
              apart: 2 cov (s_i^2 - s_j^2) >= sim (lambda_i - lambda_j) for every pair (the second-order
              condition; equal variances at the hinge, std = gamma, never meet it for distinct eigenvalues, and the
              official cov = 1 rarely does: the dimensions then partially collapse and there is no closed form:
              `target` raises).                                                                       (additive)

Gauges (what the loss leaves free, removed by `canonical` before a comparison):
  none      the kernel itself;   constant  K + c (Pearson and CKA ignore it);
  additive  K + u(a) + u(b) + c: double centring under p, (I - 1 p^T) K (I - p 1^T);
  linear    F -> F A: the p-whitened projector U (U^T D U)^-1 U^T onto the kernel's range (rank < N; at full rank
            every F spans everything, and the kernel itself is compared with the balanced target).

World conditions for a rank-N Gram critic (`reachable`): infonce and nce with learn_bias need K_PMI PSD-able; nce /
skipgram without bias need K + log(p/(1-p)) (resp. K - log K) PSD; spectral needs P_coor PSD; next_event needs H K H
PSD (H = I - 11^T/N: the u(a) + u(b) freedom makes HK1 in range(HKH) unnecessary); regression and vicreg have none
(their rank-d optima are closed forms at every rank; vicreg needs its coefficient condition). Where a condition
fails, population_optimum returns the best Gram critic (a documented cap: `gap` > 0) and `target` the unconstrained
optimum.

Imports only numpy (no torch): the registry is read by the experiments' settings checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from platonic_core.checks import check_int, check_positive, check_prob, check_real, fail, param

from ._blas import single_thread_blas

GAUGES = ("none", "constant", "additive", "linear")


@dataclass(frozen=True)
class Objective:
    """One training objective. kind: 'critic' (a loss of logits g(a, b) = <f(a), f(b)>), 'head' (a prediction
    through a head: next_event's output bias, regression's linear head) or 'representation' (vicreg: a loss of the
    embeddings themselves). negatives: 'optional' (0: in-batch), 'required' (K >= 1) or 'none' (must be 0).
    options: the objective's own settings (`objective_kw`) with their defaults."""

    name: str
    kind: str
    summary: str
    optimum: str
    gauge: str
    condition: str
    negatives: str = "optional"
    learn_bias: bool = False
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    alias_of: str | None = None


_VICREG = MappingProxyType({"sim": 25.0, "std": 25.0, "cov": 25.0, "gamma": 1.0, "eps": 1e-4})

OBJECTIVES = MappingProxyType({o.name: o for o in (
    Objective("infonce", "critic", "InfoNCE (tau = 1), in-batch or K explicit negatives",
              "K_PMI + c(a) (a symmetric critic: K_PMI + c)", "constant", "K_PMI PSD-able"),
    Objective("nce", "critic", "binary NCE with positive prior p_pos (learn_bias: a learnable offset)",
              "K_PMI + log(p_pos / (1 - p_pos)) (learn_bias: K_PMI + c)", "none",
              "K_PMI + log(p/(1-p)) PSD (learn_bias: K_PMI PSD-able)", learn_bias=True),
    Objective("skipgram", "critic", "word2vec skip-gram with K negatives (-log s(g+) - sum_k log s(-g_k)): "
              "(K + 1) x binary NCE at p_pos = 1/(K + 1)",
              "K_PMI - log K (learn_bias: K_PMI + c)", "none", "K_PMI - log K PSD (learn_bias: K_PMI PSD-able)",
              negatives="required", learn_bias=True, alias_of="nce"),
    Objective("spectral", "critic", "spectral contrastive loss (HaoChen et al. 2021): -2 E_pos g + E_{p x p} g^2",
              "exp(K_PMI) = P / (p p^T); rank d: D^-1/2 [M]_d+ D^-1/2", "none", "P_coor PSD"),
    Objective("next_event", "head", "softmax prediction of the co-occurring value over all N values (tied output "
              "embeddings, learnable output bias)", "K_PMI + u(a) + u(b) + c", "additive",
              "H K_PMI H PSD", negatives="none"),
    Objective("regression", "head", "least squares from f(a) to the one-hot code of b through a linear head",
              "F W^T = D^-1/2 [D^-1/2 P]_d; span D^-1/2 U_d; balanced kernel (Y Y^T)^1/2", "linear", "none",
              negatives="none"),
    Objective("vicreg", "representation", "VICReg (Bardes et al. 2022) on the two views of a pair",
              "weighted Laplacian eigenmap sum_j s_j^2 D^-1/2 v_j+1 v_j+1^T D^-1/2", "additive",
              "2 cov (s_i^2 - s_j^2) >= sim (lambda_i - lambda_j)", negatives="none", options=_VICREG),
)})
NAMES = tuple(OBJECTIVES)  # the one list of training losses (learners.population.LOSSES is this tuple)


def get(name, owner: str = "objectives.get", what: str = "loss") -> Objective:
    """The objective `name`; an unknown name lists the valid ones."""
    if not isinstance(name, str) or name not in OBJECTIVES:
        fail(param(what, owner), f"be one of {', '.join(NAMES)}", repr(name))
    return OBJECTIVES[name]


def check_options(name: str, objective_kw, owner: str) -> dict:
    """The objective's options (defaults filled in), validated; options of another objective are refused."""
    obj = get(name, owner)
    kw = {} if objective_kw is None else objective_kw
    if not isinstance(kw, dict):
        fail(param("objective_kw", owner), "be a dict of the objective's options (or None)", repr(kw), TypeError)
    unknown = sorted(str(k) for k in kw if k not in obj.options)
    if unknown:
        takes = f"takes {', '.join(obj.options)}" if obj.options else "takes none"
        fail(param("objective_kw", owner), f"hold only options of {name!r} (it {takes})", f"unknown keys {unknown}",
             TypeError)
    out = {**obj.options, **kw}
    for key in ("sim", "std", "cov", "gamma"):
        if key in out:
            out[key] = check_positive(out[key], f"objective_kw[{key!r}]", owner)
    if "eps" in out:
        out["eps"] = check_real(out["eps"], "objective_kw['eps']", owner, low=0)
        if out["eps"] >= out["gamma"] ** 2:
            fail(param("objective_kw['eps']", owner), f"be < gamma^2 = {out['gamma'] ** 2:g} (else no variance "
                 f"reaches the hinge)", out["eps"])
    return out


def check_negatives(name: str, negatives, owner: str, allow_none: bool = False) -> int | None:
    """The K explicit negatives of a pair: >= 1 for skipgram, 0 where the objective takes none, >= 0 otherwise."""
    obj = get(name, owner)
    if negatives is None and allow_none and obj.negatives != "required":
        return None
    if negatives is None:
        fail(param("negatives", owner), f"be an int >= 1 with loss={name!r} (its K negatives per pair)", "None")
    k = check_int(negatives, "negatives", owner, low=0)
    if obj.negatives == "required" and k < 1:
        fail(param("negatives", owner), f"be >= 1 with loss={name!r} (word2vec's K negatives per pair; its prior is "
             f"1/(K+1))", k)
    if obj.negatives == "none" and k != 0:
        fail(param("negatives", owner), f"be 0 with loss={name!r} (it draws no negatives: "
             f"{'a softmax over all values' if name == 'next_event' else 'pairs only'})", k)
    return k


def check_learn_bias(name: str, learn_bias: bool, owner: str) -> None:
    if learn_bias and not get(name, owner).learn_bias:
        why = {"infonce": "InfoNCE is invariant to a constant logit",
               "next_event": "its output bias is always learned",
               "spectral": "its optimum is exp(K_PMI) itself, no offset"}.get(name, "it has no logit offset")
        takes = ", ".join(repr(o.name) for o in OBJECTIVES.values() if o.learn_bias)
        raise ValueError(f"The 'learn_bias' parameter of {owner} only applies to loss in ({takes}) ({why}). "
                         f"Got learn_bias=True with loss={name!r}.")


def skipgram_prior(negatives: int) -> float:
    """The positive prior of binary NCE that word2vec's skip-gram with K negatives is (K + 1) times: 1/(K + 1)."""
    return 1.0 / (check_int(negatives, "negatives", "skipgram_prior", low=1) + 1)


# --------------------------------------------------------------------------------- spectra of the world

def _joint(P, owner: str) -> np.ndarray:
    from ._checks import check_cooccurrence

    return check_cooccurrence(P, owner)


def normalised_spectrum(P: np.ndarray):
    """(lambda, V) of M = D^-1/2 P D^-1/2, eigenvalues in decreasing order."""
    p = P.sum(axis=1)
    s = np.sqrt(p)
    lam, V = np.linalg.eigh(P / np.outer(s, s))
    order = np.argsort(-lam, kind="stable")
    return lam[order], V[:, order]


def nontrivial_spectrum(P: np.ndarray):
    """(lambda, V) of M deflated by its top pair (1, sqrt(p)), in decreasing order: N - 1 non-trivial pairs (the
    functions orthogonal to constants under p, as D^-1/2 v)."""
    s = np.sqrt(P.sum(axis=1))
    u = s.copy()
    u[0] -= 1.0  # Householder reflection mapping sqrt(p) to e_1: its other columns span sqrt(p)-perp
    B = np.eye(len(s)) - 2 * np.outer(u, u) / (u @ u) if u @ u > 0 else np.eye(len(s))
    B = B[:, 1:]
    M = B.T @ (P / np.outer(s, s)) @ B
    lam, E = np.linalg.eigh((M + M.T) / 2)
    order = np.argsort(-lam, kind="stable")
    return lam[order], B @ E[:, order]


def spectral_target(P: np.ndarray, dim: int | None) -> np.ndarray:
    """The spectral loss's optimum: exp(K_PMI) = P / (p p^T) (dim None), or the rank-dim Gram optimum
    D^-1/2 [M]_d+ D^-1/2 (top-dim eigenpairs with lambda > 0)."""
    p = P.sum(axis=1)
    if dim is None:
        return P / np.outer(p, p)
    lam, V = normalised_spectrum(P)
    keep = np.arange(len(lam)) < dim
    keep &= lam > 0
    U = V[:, keep] / np.sqrt(p)[:, None]
    return (U * lam[keep]) @ U.T


def regression_parts(P: np.ndarray, dim: int | None):
    """(Y*, balanced kernel (Y* Y*^T)^1/2, p-whitened projector, singular values S) of the regression objective at
    rank dim (None: N)."""
    p = P.sum(axis=1)
    n = len(p)
    d = n if dim is None else min(dim, n)
    s = np.sqrt(p)
    U, S, Vt = np.linalg.svd(P / s[:, None])
    Y = (U[:, :d] * S[:d]) @ Vt[:d] / s[:, None]
    A, Sy, _ = np.linalg.svd(Y)
    balanced = (A[:, :d] * Sy[:d]) @ A[:, :d].T
    Ud = U[:, :d] / s[:, None]
    return Y, balanced, Ud @ Ud.T, S


def vicreg_parts(P: np.ndarray, dim: int, options: dict, owner: str = "target"):
    """(embedding Z (N, dim), its p-centred kernel Z Z^T, lambda of the chosen eigenvectors, variances s^2, the
    condition's slack) of VICReg's closed-form optimum; raises where the covariance weight cannot keep the
    dimensions decorrelated (no closed form)."""
    n = P.shape[0]
    if dim > n - 1:
        fail(param("dim", owner), f"be <= N - 1 = {n - 1} with loss='vicreg' (a centred embedding has at most N - 1 "
             "independent directions; more dimensions must correlate)", dim)
    lam, V = nontrivial_spectrum(P)
    lam, V = lam[:dim], V[:, :dim]
    sim, std, cov, gamma, eps = (options[k] for k in ("sim", "std", "cov", "gamma", "eps"))
    with np.errstate(divide="ignore"):
        sigma = np.where(lam < 1, std / (4 * sim * np.maximum(1 - lam, 0)), np.inf)
    s2 = np.maximum(np.minimum(gamma, sigma) ** 2 - eps, 0.0)
    slack = np.inf
    worst = None
    for i in range(dim):
        for j in range(i + 1, dim):
            room = 2 * cov * (s2[i] - s2[j]) - sim * (lam[i] - lam[j])
            if room < slack:
                slack, worst = room, (i, j)
    tol = 1e-9 * sim
    if slack < -tol:
        i, j = worst
        need = sim * (lam[i] - lam[j]) / (2 * (s2[i] - s2[j])) if s2[i] > s2[j] else math.inf
        hint = (f"cov >= {need:.4g}" if math.isfinite(need) else "std < 4 sim (1 - lambda) gamma for these "
                "dimensions (their variances are equal at the hinge, std = gamma)")
        fail(param("objective_kw", owner), f"keep VICReg's dimensions decorrelated for a closed-form optimum: "
             f"2 cov (s_i^2 - s_j^2) >= sim (lambda_i - lambda_j) fails for dimensions {i} and {j} (lambda "
             f"{lam[i]:.4g}, {lam[j]:.4g}; s^2 {s2[i]:.4g}, {s2[j]:.4g}) at dim={dim}. Its optimum then partially "
             f"collapses (no closed form); lower dim or use {hint}", {k: options[k] for k in options})
    p = P.sum(axis=1)
    Z = V / np.sqrt(p)[:, None] * np.sqrt(s2)
    return Z, Z @ Z.T, lam, s2, float(slack)


def _target(P_coor, loss: str, dim: int | None = None, *, p_pos: float = 0.5, negatives: int | None = None,
           learn_bias: bool = False, objective_kw: dict | None = None) -> np.ndarray:
    """The body of `target` (one-thread BLAS around it there)."""
    owner = "target"
    P = _joint(P_coor, owner)
    n = P.shape[0]
    obj = get(loss, owner)
    opts = check_options(loss, objective_kw, owner)
    if dim is not None:
        dim = check_int(dim, "dim", owner, low=1)
    p = check_prob(p_pos, "p_pos", owner, open_low=True, open_high=True)
    check_learn_bias(loss, learn_bias, owner)
    k = check_negatives(loss, negatives, owner, allow_none=True)
    K = np.log(P) - np.log(P.sum(1))[:, None] - np.log(P.sum(0))[None, :]
    if obj.name == "infonce" or obj.name == "next_event":
        return K
    if obj.name == "nce":
        return K if learn_bias else K + math.log(p / (1 - p))
    if obj.name == "skipgram":
        return K if learn_bias else K - math.log(k)
    if obj.name == "spectral":
        return spectral_target(P, dim)
    if obj.name == "regression":
        return regression_parts(P, dim)[1]
    return vicreg_parts(P, n - 1 if dim is None else dim, opts, owner)[1]


def _canonical(kernel, loss: str, P_coor, dim: int | None = None) -> np.ndarray:
    """The body of `canonical` (one-thread BLAS around it there)."""
    obj = get(loss, "canonical")
    K = np.asarray(kernel, dtype=np.float64)
    P = _joint(P_coor, "canonical")
    p = P.sum(axis=1)
    n = len(p)
    if obj.gauge == "additive":
        H = np.eye(n) - np.outer(np.ones(n), p)
        return H @ K @ H.T
    if obj.gauge == "linear" and dim is not None and dim < n:
        w, E = np.linalg.eigh((K + K.T) / 2)
        U = E[:, np.argsort(-w, kind="stable")[:dim]]
        G = U.T @ (p[:, None] * U)
        return U @ np.linalg.solve(G, U.T)
    return K


def _reachable(P_coor, loss: str, *, p_pos: float = 0.5, negatives: int | None = None, learn_bias: bool = False,
              objective_kw: dict | None = None, dim: int | None = None) -> tuple[bool, str]:
    """The body of `reachable` (one-thread BLAS around it there)."""
    from worlds import min_shift

    owner = "reachable"
    P = _joint(P_coor, owner)
    obj = get(loss, owner)
    K = np.log(P) - np.log(P.sum(1))[:, None] - np.log(P.sum(0))[None, :]
    n = len(K)
    tol = 1e-9 * n * max(1.0, float(np.abs(K).max()))
    if obj.name == "infonce" or (obj.name in ("nce", "skipgram") and learn_bias):
        c = min_shift(K)
        return bool(np.isfinite(c)), f"K_PMI PSD-able (least shift C* = {c:.4g})"
    if obj.name in ("nce", "skipgram"):
        if obj.name == "nce":
            shift = math.log(p_pos / (1 - p_pos))
            what = f"K_PMI + log(p/(1-p)) = K_PMI {shift:+.4g}"
        else:
            k = check_negatives(loss, negatives, owner)
            shift, what = -math.log(k), f"K_PMI - log K (K = {k})"
        low = float(np.linalg.eigvalsh(K + shift)[0])
        return low >= -tol, f"{what} PSD (least eigenvalue {low:.4g}; never for a shift <= 0: p^T K_PMI p < 0)"
    if obj.name == "spectral":
        low = float(np.linalg.eigvalsh(P)[0])
        return low >= -1e-12, f"P_coor PSD (least eigenvalue {low:.4g})"
    if obj.name == "next_event":
        H = np.eye(n) - 1.0 / n
        low = float(np.linalg.eigvalsh(H @ K @ H)[0])
        return low >= -tol, f"H K_PMI H PSD (least eigenvalue {low:.4g})"
    if obj.name == "regression":
        return True, "none (rank-d closed form)"
    opts = check_options(loss, objective_kw, owner)
    try:
        vicreg_parts(P, n - 1 if dim is None else dim, opts, owner)
    except ValueError as err:
        return False, str(err)
    return True, (f"2 cov (s_i^2 - s_j^2) >= sim (lambda_i - lambda_j) for every pair of dimensions "
                  f"(cov = {opts['cov']:g})")


def target(P_coor, loss: str, dim: int | None = None, *, p_pos: float = 0.5, negatives: int | None = None,
           learn_bias: bool = False, objective_kw: dict | None = None) -> np.ndarray:
    """The analytic optimal kernel F F^T of `loss` under P_coor (N, N).

    spectral, regression and vicreg: the rank-`dim` optimum (closed forms at every rank; spectral with dim None is
    the unconstrained exp(K_PMI)); the others: the unconstrained optimum, which a rank-N Gram critic reaches where
    `reachable` says so (compare modulo the objective's gauge: `canonical`). dim defaults to N (vicreg: N - 1).
    """
    with single_thread_blas():
        return _target(P_coor, loss, dim, p_pos=p_pos, negatives=negatives, learn_bias=learn_bias,
                       objective_kw=objective_kw)


def canonical(kernel, loss: str, P_coor, dim: int | None = None) -> np.ndarray:
    """The kernel modulo what `loss` leaves free (its gauge): additive -> double centring under p; linear -> the
    p-whitened projector onto the top-`dim` eigenvectors of the kernel when dim < N (the span is all the loss fixes);
    otherwise the kernel itself."""
    with single_thread_blas():
        return _canonical(kernel, loss, P_coor, dim)


def reachable(P_coor, loss: str, *, p_pos: float = 0.5, negatives: int | None = None, learn_bias: bool = False,
              objective_kw: dict | None = None, dim: int | None = None) -> tuple[bool, str]:
    """Whether a rank-N Gram critic reaches the objective's optimum on this world, and the condition checked."""
    with single_thread_blas():
        return _reachable(P_coor, loss, p_pos=p_pos, negatives=negatives, learn_bias=learn_bias,
                          objective_kw=objective_kw, dim=dim)
