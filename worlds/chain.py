"""A stationary Markov-chain world and its exact cooccurrence statistics (DESIGN.md formulas)."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from platonic_core.checks import check_int

from ._checks import as_square, check_row_stochastic
from .kernels import pmi_kernel


class MarkovWorld:
    """A world whose events follow a stationary, irreducible Markov chain on N states.

    transition: (N, N) row-stochastic matrix, dense array or scipy.sparse. A sparse transition keeps every
        computation sparse (cooccurrence returns CSR), which is what makes 10^4-state worlds cheap.
    factor_sizes: for product worlds, the sizes of the factors; state i = (i // n_2, i % n_2) for two factors.
    """

    def __init__(self, transition, name: str = "markov", factor_sizes: tuple[int, ...] | None = None):
        a = as_square(transition, "transition", "MarkovWorld")
        check_row_stochastic(a, "transition", "MarkovWorld")
        self.transition = a
        self.name = name
        self.factor_sizes = None if factor_sizes is None else tuple(int(s) for s in factor_sizes)
        if self.factor_sizes is not None and int(np.prod(self.factor_sizes)) != self.n_states:
            raise ValueError(f"The 'factor_sizes' parameter of MarkovWorld must multiply to N={self.n_states}. "
                             f"Got {self.factor_sizes} instead.")
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
        """The unique stationary distribution pi (N,), pi A = pi, sum 1."""
        n, a = self.n_states, self.transition
        # Solve (A^T - I) pi = 0 with the last equation replaced by sum(pi) = 1.
        if self.is_sparse:
            m = (a.T - sp.identity(n, format="csr")).tolil()
            m[n - 1, :] = np.ones(n)
            rhs = np.zeros(n)
            rhs[-1] = 1.0
            pi = spla.spsolve(m.tocsc(), rhs)
        else:
            m = a.T - np.eye(n)
            m[-1, :] = 1.0
            rhs = np.zeros(n)
            rhs[-1] = 1.0
            pi = np.linalg.solve(m, rhs)
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
        (default: when the transition is sparse). Cost: W products with A, never a dense matrix power.
        """
        w = check_int(window, "window", "MarkovWorld.cooccurrence", low=0)
        if w == 0 and not include_self:
            raise ValueError("The 'window' parameter of MarkovWorld.cooccurrence must be >= 1 when "
                             "include_self=False (no pairs are left). Got 0 instead.")
        sparse = self.is_sparse if sparse is None else bool(sparse)
        a = self.transition
        if sparse:
            a = sp.csr_matrix(a)
            lag = sp.diags(self.stationary, format="csr")
            total = sp.csr_matrix(a.shape)
        else:
            a = a.toarray() if sp.issparse(a) else a
            lag = np.diag(self.stationary)
            total = np.zeros_like(a)
        d_term = lag
        for _ in range(w):
            lag = lag @ a  # D A^d, one sparse/dense product per lag
            total = total + lag
        total = total + total.T
        if include_self:
            total = total + d_term
            total = total / (2 * w + 1)
        else:
            total = total / (2 * w)
        return total.tocsr() if sparse else total

    def pmi(self, window: int, include_self: bool = True) -> np.ndarray:
        """K_PMI(a, b) = log P_coor(a, b) - log pi(a) - log pi(b), dense (N, N); -inf where P_coor = 0."""
        return pmi_kernel(self.cooccurrence(window, include_self))

    def sample(self, length: int, seed: int | None = 0) -> np.ndarray:
        """A trajectory (length,) of state indices, started from the stationary distribution."""
        t = check_int(length, "length", "MarkovWorld.sample", low=1)
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


def _check_irreducible(a) -> None:
    n_comp, labels = csgraph.connected_components(sp.csr_matrix(a), directed=True, connection="strong")
    if n_comp > 1:
        sizes = np.bincount(labels)
        raise ValueError(f"The 'transition' parameter of MarkovWorld must be irreducible (one communicating "
                         f"class) for a unique stationary distribution. Got {n_comp} classes of sizes "
                         f"{sizes[:10].tolist()}{'...' if n_comp > 10 else ''}; add teleport or lazy moves.")
