"""Statement 3: exactly when a constant shift makes a kernel PSD, and the least shift (docs/DESIGN.md; ours).

Notation: K real symmetric (N, N), H = I - 11^T / N, f(C) = lambda_min(K + C 11^T) (concave, non-decreasing in C),
C* = worlds.min_shift(K) (+inf when no C works), scale = max(1, max |K|), tol = 1e-9 N scale.
Every claim recomputes what min_shift decides by other means: an explicit H, a KKT solve, bisection on f, and
certificate vectors, so a wrong min_shift is caught.
- characterisation: C* < inf <=> HKH >= 0 and HK1 in range(HKH) (explicit H, eigh and null-space residual).
  Certified both ways: finite C* => f(C*) >= -tol; C* = inf => a vector v with v^T (K + C 11^T) v < -tol for
  C in {0, 10, 10^4} scale (an eigenvector of HKH with negative eigenvalue, or v = 1 + s u with u in
  null(HKH), u^T K 1 != 0). Kernels with a -inf entry (a zero cooccurrence) are never PSD-able.
- least shift: for finite C*, min_{1^T v = 1} v^T K v is attained (the KKT system [2K 1; 1^T 0] is consistent),
  equals -C*, and bisection on f finds the least C with f(C) >= -tol within tol ||v*||^2 + 1e-9 scale of C*
  (f's slope at C* is 1 / ||v*||^2, v* the KKT minimiser).
- valid shifts: {C : K + C 11^T PSD} = [C*, inf): f(C* + t) >= -tol for t >= 0 and f(C* + t) < -tol for t < 0
  (decided only when |t| / ||v*||^2 > 100 tol, the most f can rise over rounding).
- C_F1 >= C*: wherever F.1's premise or the sharpened condition holds, C_F1 >= C* - tol.
- transitive symmetry: if a group of state permutations acting transitively leaves K invariant (tested on
  circulant kernels, the ring's symmetry), then PSD-able => C* = C_F1 = -mean(K): averaging a minimiser v over the
  group gives 1/N, which is again a minimiser (v^T K v is convex on 1^T v = 1 when HKH >= 0), and all row means
  are equal. So on ring, torus and sticky worlds F.1's shift is exactly the least shift whenever any shift works,
  far beyond F.1's premise (to 1e-9 scale).
- negative eigenvalues: a PSD-able K has at most one negative eigenvalue, and exactly one iff C* > 0
  (K = (K + C* 11^T) - C* 11^T is PSD minus a rank-one PSD matrix; if C* <= 0 then K itself is PSD).
  Decided where |C*| > tol; "negative" means < -tol.
- interlacing: what "at most one negative eigenvalue" really needs is only HKH >= 0: K compressed to the
  (N-1)-dimensional space 1-perp is then PSD, and Cauchy interlacing gives lambda_2(K) >= 0. So
  PSD-able => HKH >= 0 => at most one negative eigenvalue, and neither converse holds (the two witnesses below).
- counterexample [[1, .5], [.5, 0]]: HKH = 0 is PSD but HK1 = (.5, -.5) is not in its range;
  det(K + C 11^T) = -1/4 for every C, so no shift works, although K has exactly one negative eigenvalue.
- one negative eigenvalue is not enough: [[0, 1], [1, 0]] has eigenvalues -1, 1, but (1, -1)^T K (1, -1) = -2
  for every C (HKH has eigenvalue -1), so C* = inf.
"""
from __future__ import annotations

import time

import numpy as np
from hypothesis import strategies as st

import worlds

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, fixed, rounded, statement
from ._kernel import f1_premise, f1_shift, min_eigenvalue, scale, sharpened_condition

TITLE = "PSD-ability and the least shift C*"
COUNTEREXAMPLE = np.array([[1.0, 0.5], [0.5, 0.0]])
SWAP = np.array([[0.0, 1.0], [1.0, 0.0]])
PROBE_SHIFTS = (0.0, 10.0, 1e4)
DET_SHIFTS = (-10.0, 0.0, 1.0, 10.0, 1e3, 1e6)


def tolerance(K: np.ndarray) -> float:
    return 1e-9 * K.shape[0] * scale(K)


def centred_criterion(K: np.ndarray) -> tuple[bool, bool, float, float]:
    """(HKH PSD, HK1 in range(HKH), lambda_min(HKH), norm of HK1's null-space component) with explicit H."""
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    evals, evecs = np.linalg.eigh(H @ K @ H)
    tol = tolerance(K)
    r = H @ K @ np.ones(n)
    residual = float(np.linalg.norm(evecs[:, np.abs(evals) <= tol].T @ r))
    return bool(evals[0] >= -tol), bool(residual <= np.sqrt(tol)), float(evals[0]), residual


def certificate(K: np.ndarray, C: float) -> float:
    """v^T (K + C 11^T) v at a vector v proving that this C fails (negative when it does): a unit eigenvector
    of HKH with negative eigenvalue (C-independent), else v = 1 + s u, u a unit null vector of HKH with
    u^T K 1 != 0 and s chosen so that the value is about -scale(K)."""
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    evals, evecs = np.linalg.eigh(H @ K @ H)
    M = K + C
    if evals[0] < -tolerance(K):
        v = evecs[:, 0]
    else:
        null = H @ evecs[:, np.abs(evals) <= tolerance(K)]  # drop the 1 direction (HKH 1 = 0 always)
        k1 = K @ np.ones(n)
        u = null[:, np.argmax(np.abs(null.T @ k1))]
        u /= np.linalg.norm(u)
        b = u @ k1
        one = np.ones(n)
        # (1 + s u)^T M (1 + s u) = 1^T M 1 + 2 s b + s^2 u^T K u, and u^T K u = 0 on null(HKH).
        v = one - (one @ M @ one + scale(K)) / (2 * b) * u
    return float(v @ M @ v)


def kkt_minimiser(K: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-norm solution v of the KKT system of min v^T K v s.t. 1^T v = 1, and the system's residual."""
    n = K.shape[0]
    A = np.block([[2 * K, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    x = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return x[:n], float(np.linalg.norm(A @ x - rhs))


def bisection_shift(K: np.ndarray, tol: float) -> float:
    """The least C with lambda_min(K + C 11^T) >= -tol, by bisection (+inf if none below 10^6 scale)."""
    s = scale(K)
    lo, hi = -2.0 * s, max(1.0, s)
    while min_eigenvalue(K + hi) < -tol:
        lo, hi = hi, 2 * hi
        if hi > 1e6 * s:
            return float("inf")
    for _ in range(200):
        mid = (lo + hi) / 2
        if min_eigenvalue(K + mid) >= -tol:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-14 * s:
            break
    return hi


def _info(K: np.ndarray, c_star: float, **extra) -> dict:
    return {"K": rounded(K), "C_star": c_star, **extra}


def judge_characterisation(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    c_star = float(min_shift(K))
    if not np.all(np.isfinite(K)):
        return Verdict(ok=c_star == np.inf, info=_info(K, c_star, reason="-inf entry"), tags=("infinite_entry",))
    psd, in_range, lam_hkh, residual = centred_criterion(K)
    info = _info(K, c_star, hkh_psd=psd, in_range=in_range, lambda_min_hkh=lam_hkh, range_residual=residual)
    tol = tolerance(K)
    if np.isfinite(c_star):
        lam = min_eigenvalue(K + c_star)
        return Verdict(ok=psd and in_range and lam >= -tol, margin=lam / scale(K), info={**info, "f(C*)": lam},
                       tags=("psd_able",))
    quotients = [certificate(K, c * scale(K)) for c in PROBE_SHIFTS]
    ok = not (psd and in_range) and max(quotients) < -tol
    return Verdict(ok=ok, margin=-max(quotients) / scale(K), info={**info, "certificate_quotients": quotients},
                   tags=("not_psd_able" if psd is False else "range_fails",))


def judge_least(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    c_star = float(min_shift(K))
    if not (np.all(np.isfinite(K)) and np.isfinite(c_star)):
        return Verdict(ok=True, premise=False)
    tol = tolerance(K)
    v, residual = kkt_minimiser(K)
    norm2 = float(v @ v)
    c_kkt = float(-(v @ K @ v))
    c_bis = bisection_shift(K, tol)
    room = tol * norm2 + 1e-9 * scale(K)
    ok = (residual <= tol and abs(v.sum() - 1) <= 1e-9 and abs(c_kkt - c_star) <= 1e-8 * scale(K) * (1 + norm2)
          and abs(c_bis - c_star) <= room)
    return Verdict(ok=ok, margin=(room - abs(c_bis - c_star)) / scale(K),
                   info=_info(K, c_star, C_kkt=c_kkt, kkt_residual=residual, C_bisection=c_bis,
                              v_norm2=norm2))


def judge_interval(example, min_shift=worlds.min_shift) -> Verdict:
    K, t = example
    c_star = float(min_shift(K))
    if not (np.all(np.isfinite(K)) and np.isfinite(c_star)):
        return Verdict(ok=True, premise=False)
    tol = tolerance(K)
    v, _ = kkt_minimiser(K)
    lam = min_eigenvalue(K + c_star + t)
    info = _info(K, c_star, t=t, f=lam)
    if t >= 0:
        return Verdict(ok=lam >= -tol, margin=(lam + tol) / scale(K), info=info)
    if -t / (v @ v) <= 100 * tol:
        return Verdict(ok=True, premise=False)  # too close to C* for rounding to decide
    return Verdict(ok=lam < -tol, margin=-(lam + tol) / scale(K), info=info)


def judge_f1_bound(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    if not (np.all(np.isfinite(K)) and (f1_premise(K).holds or sharpened_condition(K))):
        return Verdict(ok=True, premise=False)
    c_star, c_f1 = float(min_shift(K)), f1_shift(K)
    gap = c_f1 - c_star
    return Verdict(ok=gap >= -tolerance(K), margin=gap / scale(K), info=_info(K, c_star, C_F1=c_f1))


def judge_transitive(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    c_star = float(min_shift(K))
    if not np.isfinite(c_star):
        return Verdict(ok=True, premise=False)
    err = abs(f1_shift(K) - c_star)
    return Verdict(ok=err <= 1e-9 * scale(K), margin=-err / scale(K), info=_info(K, c_star, C_F1=f1_shift(K)))


def judge_negatives(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    c_star = float(min_shift(K))
    tol = tolerance(K)
    if not (np.all(np.isfinite(K)) and np.isfinite(c_star)) or abs(c_star) <= tol:
        return Verdict(ok=True, premise=False)
    evals = np.linalg.eigvalsh(K)
    negatives = int(np.sum(evals < -tol))
    return Verdict(ok=negatives == int(c_star > 0),
                   info=_info(K, c_star, eigenvalues=evals.tolist(), negatives=negatives),
                   tags=(f"negatives={negatives}",))


def judge_interlacing(K: np.ndarray) -> Verdict:
    """HKH PSD (explicit H) => at most one eigenvalue of K below -tol."""
    if not np.all(np.isfinite(K)) or not centred_criterion(K)[0]:
        return Verdict(ok=True, premise=False)
    evals = np.linalg.eigvalsh(K)
    negatives = int(np.sum(evals < -tolerance(K)))
    return Verdict(ok=negatives <= 1, margin=float(evals[1]) / scale(K),
                   info={"K": rounded(K), "eigenvalues": evals.tolist(), "negatives": negatives},
                   tags=(f"negatives={negatives}",))


def judge_one_negative(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    """Exactly one negative eigenvalue, HKH not PSD, and no shift works (certified at every probed C)."""
    negatives = int(np.sum(np.linalg.eigvalsh(K) < -tolerance(K)))
    psd = centred_criterion(K)[0]
    quotients = [certificate(K, c) for c in DET_SHIFTS]
    c_star = float(min_shift(K))
    ok = negatives == 1 and not psd and max(quotients) < -tolerance(K) and c_star == np.inf
    return Verdict(ok=ok, margin=-max(quotients),
                   info=_info(K, c_star, negatives=negatives, hkh_psd=psd, certificate_values=quotients))


def judge_counterexample(K: np.ndarray, min_shift=worlds.min_shift) -> Verdict:
    """HKH PSD but HK1 outside its range, det(K + C 11^T) = -1/4 for all probed C, one negative eigenvalue."""
    psd, in_range, _, residual = centred_criterion(K)
    dets = [float(np.linalg.det(K + c)) for c in DET_SHIFTS]
    negatives = int(np.sum(np.linalg.eigvalsh(K) < 0))
    c_star = float(min_shift(K))
    # det's rounding grows like eps (1 + |C|)^2: the entries are of size C.
    close = all(abs(d + 0.25) <= 1e-12 * (1 + abs(c)) ** 2 for d, c in zip(dets, DET_SHIFTS))
    ok = psd and not in_range and close and negatives == 1 and c_star == np.inf
    return Verdict(ok=ok, margin=-max(dets), info=_info(K, c_star, hkh_psd=psd, range_residual=residual,
                                                        determinants=dets, negatives=negatives))


def check(examples: int | None = None, seed: int = 0, min_shift=worlds.min_shift) -> StatementResult:
    """Check statement 3 against `min_shift` (default worlds.min_shift; pass another to test it)."""
    examples, seed = check_args("shift.check", examples, seed)
    check_callable(min_shift, "min_shift", "shift.check")
    start = time.perf_counter()
    kernels = st.one_of(strategies.grid_kernels(), strategies.cooccurrences().map(lambda case: case.K),
                        strategies.sharpened_kernels())
    bounded = st.one_of(strategies.f1_kernels(), strategies.sharpened_kernels(),
                        strategies.premise_cooccurrences().map(lambda case: case.K))
    shifts = st.tuples(kernels, st.integers(-20, 20).map(lambda k: k / 4))
    claims = [
        explore("characterisation", "C* < inf <=> HKH PSD and HK1 in range(HKH), certified both ways", False,
                kernels, lambda K: judge_characterisation(K, min_shift), examples, seed),
        explore("least shift", "C* = -min_{1^T v = 1} v^T K v = bisection on lambda_min(K + C 11^T)", False,
                kernels, lambda K: judge_least(K, min_shift), examples, seed),
        explore("valid shifts", "K + C 11^T PSD <=> C >= C*", False, shifts,
                lambda ex: judge_interval(ex, min_shift), examples, seed),
        explore("C_F1 >= C*", "F.1's premise or the sharpened condition => C_F1 >= C*", False, bounded,
                lambda K: judge_f1_bound(K, min_shift), examples, seed),
        explore("transitive symmetry", "circulant K: PSD-able => C* = C_F1 = -mean(K)", False,
                strategies.circulant_kernels(), lambda K: judge_transitive(K, min_shift), examples, seed),
        explore("negative eigenvalues", "PSD-able K: #negative eigenvalues = [C* > 0] <= 1", False,
                st.one_of(kernels, bounded),
                lambda K: judge_negatives(K, min_shift), examples, seed),
        explore("interlacing", "HKH PSD => at most one negative eigenvalue", False, st.one_of(kernels, bounded),
                judge_interlacing, examples, seed),
        fixed("counterexample", "[[1, .5], [.5, 0]]: HKH PSD, HK1 not in range, det(K + C 11^T) = -1/4, "
              "one negative eigenvalue, C* = inf", False, [COUNTEREXAMPLE],
              lambda K: judge_counterexample(K, min_shift)),
        fixed("one negative is not enough", "[[0, 1], [1, 0]]: one negative eigenvalue, HKH not PSD, C* = inf",
              False, [SWAP], lambda K: judge_one_negative(K, min_shift)),
    ]
    return statement("3", TITLE, claims, start)
