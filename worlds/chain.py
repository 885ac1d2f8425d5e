"""A stationary Markov-chain world and its exact cooccurrence statistics (docs/DESIGN.md formulas)."""
from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from platonic_core.checks import check_bool, check_int, fail, param
from platonic_core.progress import progress

from ._checks import as_square, check_name, check_row_stochastic, check_seed, check_sizes
from .kernels import pmi_kernel

# P_coor(W) sums W lags. Up to LOOP_WINDOW_MAX (dense arithmetic) or SPARSE_LOOP_WINDOW_MAX (sparse arithmetic)
# lags it does so one product with A per lag, as it always has (same numbers); larger windows use binary doubling
# (`_doubling_lag_sum`: about 3 log2(W) dense products, O(N^3 log W)), so W = 10**9 costs about as much as W = 300.
LOOP_WINDOW_MAX = 256
SPARSE_LOOP_WINDOW_MAX = 1024
# Beyond this many states nothing dense N x N is formed unasked: a sparse P_coor is capped at
# SPARSE_LOOP_WINDOW_MAX (its lags fill in up to N^2 entries each, so the loop's time and memory grow out of
# proportion, and doubling needs dense N x N matrices: pass sparse=False for that), and the stationary
# distribution gets no GTH fallback.
DENSE_MAX = 2000
# The stationary solve is trusted when cond_1(M) * eps <= STATIONARY_TRUST (M: the solved system), i.e. when its
# worst-case relative error is at most that; otherwise GTH (N <= DENSE_MAX) computes pi to full accuracy. Larger
# sparse worlds accept a worst-case error up to STATIONARY_TRUST_LARGE and raise beyond.
STATIONARY_TRUST = 1e-9
STATIONARY_TRUST_LARGE = 1e-6


class MarkovWorld:
    """A world whose events follow a stationary, irreducible Markov chain on N states.

    transition: (N, N) row-stochastic matrix, dense array or scipy.sparse. A sparse transition keeps every
        computation sparse (cooccurrence returns CSR), which is what makes 10^4-state worlds cheap.
    factor_sizes: for product worlds, the sizes of the factors; state i = (i // n_2, i % n_2) for two factors.
    """

    def __init__(self, transition, name: str = "markov", factor_sizes: tuple[int, ...] | None = None):
        a = as_square(transition, "transition", "MarkovWorld")
        check_row_stochastic(a, "transition", "MarkovWorld")
        self.name = check_name(name, "name", "MarkovWorld")
        if factor_sizes is not None:
            factor_sizes = check_sizes(factor_sizes, "factor_sizes", "MarkovWorld")
            if int(np.prod(factor_sizes, dtype=object)) != a.shape[0]:
                fail(param("factor_sizes", "MarkovWorld"), f"multiply to N={a.shape[0]}", factor_sizes)
        self.transition = a
        self.factor_sizes = factor_sizes
        _check_irreducible(a)
        self.stationary  # computed eagerly so a bad chain fails at construction

    @property
    def n_states(self) -> int:
        return self.transition.shape[0]

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.transition)

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return f"MarkovWorld(name={self.name!r}, n_states={self.n_states}, {kind})"

    @cached_property
    def stationary(self) -> np.ndarray:
        """The unique stationary distribution pi (N,), pi A = pi, sum 1.

        Solves (A^T - I) pi = 0 with the last equation replaced by sum(pi) = 1 and estimates that system's
        condition number. A nearly reducible chain (blocks joined by transitions of, say, 1e-13) makes the solve
        untrustworthy: its answer balances the flows to rounding error and can still be far off. Then (condition
        estimate * eps > STATIONARY_TRUST) pi comes from the GTH algorithm (subtraction-free elimination, accurate
        to a few N eps in every entry) when N <= DENSE_MAX; a larger (sparse) chain raises ValueError unless the
        estimated error stays below STATIONARY_TRUST_LARGE.
        """
        n, a = self.n_states, self.transition
        rhs = np.zeros(n)
        rhs[-1] = 1.0
        pi = None
        if self.is_sparse:
            m = (a.T - sp.identity(n, format="csr")).tolil()
            m[n - 1, :] = np.ones(n)
            m = m.tocsc()
            try:
                lu = spla.splu(m)  # the factorisation spsolve uses, kept for the condition estimate
            except RuntimeError:  # exactly singular in floating point
                error_bound = np.inf
            else:
                pi = lu.solve(rhs)
                inv_norm = _inverse_norm1(lu.solve, lambda x: lu.solve(x, trans="T"), n)
                error_bound = float(spla.norm(m, 1)) * inv_norm * np.finfo(float).eps
        else:
            m = a.T - np.eye(n)
            m[-1, :] = 1.0
            error_bound = _dense_error_bound(m)
            if np.isfinite(error_bound):
                pi = np.linalg.solve(m, rhs)
        if not (error_bound <= STATIONARY_TRUST and pi is not None and np.all(np.isfinite(pi))):
            if n <= DENSE_MAX:
                pi = _gth(a.toarray() if sp.issparse(a) else a)
            elif not (error_bound <= STATIONARY_TRUST_LARGE and pi is not None and np.all(np.isfinite(pi))):
                fail(param("transition", "MarkovWorld"),
                     f"not be numerically reducible: its stationary distribution cannot be computed reliably "
                     f"(the solve's worst-case error exceeds {STATIONARY_TRUST_LARGE:g}, and the exact GTH method "
                     f"needs N <= {DENSE_MAX}). Some states are left with tiny probabilities (e.g. blocks joined "
                     f"by transitions near 1e-13): add teleport (random_walk(..., teleport=0.01)) or lazy moves, "
                     f"or merge the blocks",
                     f"condition estimate x eps = {error_bound:.3g} with N={n}")
        pi = np.clip(pi, 0.0, None)
        pi /= pi.sum()
        residual = np.abs(np.asarray(a.T @ pi).ravel() - pi).max()
        if not residual < 1e-8:
            raise ValueError(f"MarkovWorld could not find a stationary distribution (residual {residual:.2e}).")
        return pi

    def cooccurrence(self, window: int, include_self: bool = True, sparse: bool | None = None):
        """Exact P_coor(W) = [D + sum_{d=1..W} (D A^d + (D A^d)^T)] / (2W+1), D = diag(pi).

        With include_self=False the D term is dropped and the sum divided by 2W.
        Returns an (N, N) symmetric array summing to 1 whose rows sum to pi; a CSR matrix when `sparse`
        (default: when the transition is sparse).

        Cost: one product with A per lag for W <= 256 (1024 with sparse arithmetic); larger windows use binary
        doubling, S(2k) = S(k) + A^k S(k), A^2k = A^k A^k (and S(k+1) = S(k) + A^k A), S(k) = sum_{d=1..k} A^d:
        about 3 log2(W) dense products, O(N^3 log W). Every quantity is a sum of non-negative products (no
        cancellation), so each entry keeps its relative accuracy and zeros stay exact zeros, and W = 10**9 takes
        no longer than W = 300. A sparse result of more than 2000 states is capped at W <= 1024 (pass
        sparse=False for larger windows: dense, O(N^3 log W)).
        """
        return self._cooccurrence(window, include_self, sparse, "MarkovWorld.cooccurrence")

    def _cooccurrence(self, window, include_self, sparse, owner: str):
        w = check_int(window, "window", owner, low=0)
        include_self = check_bool(include_self, "include_self", owner)
        sparse = self.is_sparse if sparse is None else check_bool(sparse, "sparse", owner)
        if w == 0 and not include_self:
            fail(param("window", owner), "be >= 1 when include_self=False (no pairs are left)", w)
        n = self.n_states
        doubling = w > (SPARSE_LOOP_WINDOW_MAX if sparse else LOOP_WINDOW_MAX)
        if doubling and sparse and n > DENSE_MAX:
            fail(param("window", owner),
                 f"be <= {SPARSE_LOOP_WINDOW_MAX} for a sparse P_coor of N={n} > {DENSE_MAX} states (it costs one "
                 f"sparse product per lag, and the lags fill in up to N^2 entries each; larger windows use "
                 f"doubling with dense N x N matrices: pass sparse=False for that, O(N^3 log W))", w)
        a = self.transition
        if doubling:
            a = a.toarray() if sp.issparse(a) else a
            total = self.stationary[:, None] * _doubling_lag_sum(a, w)  # D sum_{d=1..W} A^d
            d_term = np.diag(self.stationary)
        elif sparse:
            a = sp.csr_matrix(a)
            lag = sp.diags(self.stationary, format="csr")
            total = sp.csr_matrix(a.shape)
            d_term = lag
            for _ in progress(range(w), desc="P_coor lags", unit="lag", delay=2):  # a bar if it takes a while
                lag = lag @ a  # D A^d, one sparse/dense product per lag
                total = total + lag
        else:
            a = a.toarray() if sp.issparse(a) else a
            lag = np.diag(self.stationary)
            total = np.zeros_like(a)
            d_term = lag
            for _ in progress(range(w), desc="P_coor lags", unit="lag", delay=2):
                lag = lag @ a  # D A^d, one sparse/dense product per lag
                total = total + lag
        total = total + total.T
        if include_self:
            total = total + d_term
            total = total / (2 * w + 1)
        else:
            total = total / (2 * w)
        if sparse:
            return sp.csr_matrix(total)
        return total.toarray() if sp.issparse(total) else total

    def pmi(self, window: int, include_self: bool = True) -> np.ndarray:
        """K_PMI(a, b) = log P_coor(a, b) - log pi(a) - log pi(b), dense (N, N); -inf where P_coor = 0."""
        w = check_int(window, "window", "MarkovWorld.pmi", low=0)
        sparse = None if w <= SPARSE_LOOP_WINDOW_MAX else False  # K is dense anyway
        return pmi_kernel(self._cooccurrence(w, include_self, sparse, "MarkovWorld.pmi"))

    def sample(self, length: int, seed: int | None = 0) -> np.ndarray:
        """A trajectory (length,) of state indices, started from the stationary distribution.

        seed: an int >= 0 (same seed, same trajectory) or None (fresh OS entropy)."""
        t = check_int(length, "length", "MarkovWorld.sample", low=1)
        seed = check_seed(seed, "seed", "MarkovWorld.sample", allow_none=True)
        rng = np.random.default_rng(seed)
        u = rng.random(t)
        out = np.empty(t, dtype=np.int64)
        pi_cdf = np.cumsum(self.stationary)
        out[0] = min(np.searchsorted(pi_cdf, u[0], side="right"), self.n_states - 1)
        if self.is_sparse:
            a = self.transition
            indptr, indices = a.indptr, a.indices
            cdf = np.cumsum(a.data)  # global cumsum; row r spans cdf[indptr[r]:indptr[r+1]]
            base = np.concatenate([[0.0], cdf])[indptr[:-1]]
            x = out[0]
            for i in range(1, t):
                lo, hi = indptr[x], indptr[x + 1]
                j = np.searchsorted(cdf[lo:hi], base[x] + u[i] * (cdf[hi - 1] - base[x]), side="right")
                x = indices[lo + min(j, hi - lo - 1)]
                out[i] = x
        else:
            cdf = np.cumsum(self.transition, axis=1)
            cdf /= cdf[:, -1:]
            x = out[0]
            last = self.n_states - 1
            for i in range(1, t):
                x = min(np.searchsorted(cdf[x], u[i], side="right"), last)
                out[i] = x
        return out


def _doubling_lag_sum(a: np.ndarray, w: int) -> np.ndarray:
    """S(W) = sum_{d=1..W} A^d by binary doubling over the bits of W (dense, about 3 log2(W) products):
    S(2k) = S(k) + A^k S(k), A^2k = A^k A^k, and for a set bit A^(k+1) = A^k A, S(k+1) = S(k) + A^(k+1).

    Only non-negative numbers are multiplied and added, so every entry keeps its relative accuracy (tiny
    probabilities included, zeros stay zero); the closed form W 1 pi^T + (I - B)^-1 B (I - B^W), B = A - 1 pi^T,
    has only absolute accuracy and turns entries below ~1e-16 into noise of either sign. Rows of A^k are rescaled
    to sum to 1 and rows of S(k) to k after each step (exact in exact arithmetic), so rounding in the row sums
    cannot double with every squaring.
    """
    s = a.copy()
    power = a.copy()  # A^k
    k = 1
    for bit in bin(w)[3:]:
        s = s + power @ s
        power = power @ power
        power /= power.sum(axis=1, keepdims=True)
        k *= 2
        if bit == "1":
            power = power @ a
            power /= power.sum(axis=1, keepdims=True)
            s = s + power
            k += 1
        s *= k / s.sum(axis=1, keepdims=True)
    return s


def _dense_error_bound(m: np.ndarray) -> float:
    """cond_1(m) * eps from an LU factorisation and LAPACK's condition estimator (inf when m is singular)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)  # a singular m is answered below (inf)
        try:
            lu, _ = sla.lu_factor(m, check_finite=False)
        except (ValueError, np.linalg.LinAlgError):
            return np.inf
    if not np.all(np.isfinite(lu)) or np.any(np.diag(lu) == 0):
        return np.inf
    rcond, info = sla.lapack.dgecon(lu, np.abs(m).sum(axis=0).max(), norm="1")
    return np.inf if info != 0 or not rcond > 0 else float(np.finfo(float).eps / rcond)


def _inverse_norm1(solve, solve_t, n: int) -> float:
    """A lower estimate of ||M^-1||_1 from a few solves with M and M^T (Hager/Higham, as LAPACK's dlacn2;
    deterministic). Usually exact, rarely low by more than a factor 3."""
    x = np.full(n, 1.0 / n)
    y = solve(x)
    est = float(np.abs(y).sum())
    if n == 1 or not np.isfinite(est):
        return est
    signs = np.where(y >= 0, 1.0, -1.0)
    for _ in range(5):
        z = solve_t(signs)
        j = int(np.argmax(np.abs(z)))
        if np.abs(z[j]) <= z @ x:
            break
        x = np.zeros(n)
        x[j] = 1.0
        y = solve(x)
        new = float(np.abs(y).sum())
        new_signs = np.where(y >= 0, 1.0, -1.0)
        if new <= est or np.array_equal(new_signs, signs):
            est = max(est, new)
            break
        est, signs = new, new_signs
    alt = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * (1 + np.arange(n) / (n - 1))
    return max(est, 2 * float(np.abs(solve(alt)).sum()) / (3 * n))


def _gth(a: np.ndarray) -> np.ndarray:
    """Stationary distribution by Grassmann-Taksar-Heyman elimination: only off-diagonal entries are used, and
    only added, multiplied and divided (no subtraction), so every entry of pi is accurate to a few N eps however
    nearly reducible the chain is. O(N^3)."""
    p = np.array(a, dtype=np.float64, copy=True)
    n = p.shape[0]
    for k in range(n - 1, 0, -1):
        s = p[k, :k].sum()  # = 1 - p_kk of the chain censored on states 0..k, without cancellation
        if not s > 0:
            fail(param("transition", "MarkovWorld"),
                 "not be numerically reducible: a set of states cannot be left in floating point (its exit "
                 "transitions underflow); add teleport or lazy moves", f"no way out of states 0..{k} in elimination")
        p[:k, k] /= s
        p[:k, :k] += np.outer(p[:k, k], p[k, :k])
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = pi[:k] @ p[:k, k]
    return pi / pi.sum()


def _check_irreducible(a) -> None:
    n_comp, labels = csgraph.connected_components(sp.csr_matrix(a), directed=True, connection="strong")
    if n_comp > 1:
        sizes = np.bincount(labels)
        fail(param("transition", "MarkovWorld"),
             "be irreducible (one communicating class) for a unique stationary distribution; add teleport or lazy "
             "moves", f"{n_comp} classes of sizes {sizes[:10].tolist()}{'...' if n_comp > 10 else ''}")
