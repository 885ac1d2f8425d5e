"""Observation functions X = obs(Z): bijective codes and lossy channels, each with its exact statistics.

Every observation has a row-stochastic `.matrix` O (N_z x N_x): O[z, x] = P(X = x | Z = z). Observed values are
integer indices 0..N_x-1; modality-specific content (vectors, token strings) is attached to those indices.
Each time step is observed once, with noise independent across time, so (docs/DESIGN.md) the lag-d terms of P_coor map
to O^T (D A^d) O while the d = 0 term maps to diag(p_X); `.pushforward` applies exactly that.
"""
from __future__ import annotations

import string
from typing import Callable

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_bool, check_int, check_prob, fail, param

from ._checks import _numeric_array, check_cooccurrence, check_row_stochastic, check_seed, check_sizes

OBSERVATIONS: dict[str, Callable[..., "Observation"]] = {}
# The bijective modalities that take (n_states, seed=...): a relabelling, random vector codes, token strings.
BIJECTIVE = ("permutation", "vector", "token")


def register_observation(name: str):
    def deco(cls):
        OBSERVATIONS[name] = cls
        cls.kind = name
        return cls
    return deco


class Observation:
    """Base class: subclasses set `self.matrix` (N_z, N_x) and `self.deterministic`."""

    kind = "observation"
    matrix: np.ndarray
    deterministic: bool = True

    @property
    def n_states(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_obs(self) -> int:
        return self.matrix.shape[1]

    @property
    def bijective(self) -> bool:
        return self.deterministic and self.n_obs == self.n_states and bool(np.all(self.matrix.sum(axis=0) == 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_states={self.n_states}, n_obs={self.n_obs})"

    def pushforward(self, P_coor, window: int | None = None, include_self: bool = True) -> np.ndarray:
        """Exact cooccurrence over X (N_x, N_x) from the world's P_coor (N_z, N_z).

        P_coor must be a cooccurrence matrix over the observation's n_states: square, finite, non-negative,
        symmetric within 1e-12 and summing to 1 within 1e-8 (dense or sparse). For a deterministic map this is
        O^T P_coor O. For a noisy channel with include_self=True the d = 0 part of P_coor, D / (2W+1), must map
        to diag(p_X) / (2W+1) instead of O^T D O / (2W+1), so `window` is needed (the W that P_coor was computed
        with: its diagonal must then hold at least pi / (2W+1)).
        """
        owner = f"{type(self).__name__}.pushforward"
        include_self = check_bool(include_self, "include_self", owner)
        w = None if window is None else check_int(window, "window", owner, low=0)
        if w == 0 and not include_self:
            fail(param("window", owner), "be >= 1 when include_self=False (no pairs are left)", w)
        p = check_cooccurrence(P_coor, self.n_states, "P_coor", owner)
        p = p.toarray() if sp.issparse(p) else p
        o = self.matrix
        out = o.T @ p @ o
        if not self.deterministic and include_self:
            if w is None:
                raise ValueError(f"The 'window' parameter of {owner} is required for a noisy channel with "
                                 "include_self=True (the d = 0 term is observed once; pass the W that P_coor was "
                                 "computed with).")
            pi = p.sum(axis=1)
            # The d = 0 term D / (2W+1) is part of P_coor's diagonal; every other term is non-negative.
            short = pi / (2 * w + 1) - np.diag(p)
            worst = int(np.argmax(short))
            if short[worst] > 1e-9 * pi[worst] / (2 * w + 1) + 1e-15:
                fail(param("P_coor", owner),
                     f"hold at least pi / (2W+1) on its diagonal (the d = 0 term of a cooccurrence with W={w} and "
                     f"include_self=True; was P_coor computed with another window, or without self pairs?)",
                     f"P_coor[{worst}, {worst}] = {float(p[worst, worst])!r} < pi[{worst}] / {2 * w + 1} = "
                     f"{float(pi[worst]) / (2 * w + 1)!r}")
            out = out + (np.diag(o.T @ pi) - o.T @ np.diag(pi) @ o) / (2 * w + 1)
        return (out + out.T) / 2

    def observe(self, trajectory, seed: int | None = 0) -> np.ndarray:
        """Observed value indices (T,) for a trajectory of state indices (T,).

        seed (noisy channels): an int >= 0 (same seed, same observations) or None (fresh OS entropy)."""
        owner = f"{type(self).__name__}.observe"
        z = np.asarray(trajectory)
        if z.ndim != 1 or z.size == 0 or not np.issubdtype(z.dtype, np.integer):
            fail(param("trajectory", owner), "be a non-empty 1-D integer array", f"dtype {z.dtype}, shape {z.shape}")
        if z.min() < 0 or z.max() >= self.n_states:
            fail(param("trajectory", owner), f"hold states in [0, {self.n_states - 1}]",
                 f"range [{z.min()}, {z.max()}]")
        seed = check_seed(seed, "seed", owner, allow_none=True)
        if self.deterministic:
            return self.matrix.argmax(axis=1)[z]
        cdf = np.cumsum(self.matrix, axis=1)
        u = np.random.default_rng(seed).random(z.size) * cdf[z, -1]
        return np.minimum((cdf[z] <= u[:, None]).sum(axis=1), self.n_obs - 1)


def _deterministic_matrix(labels: np.ndarray, n_obs: int) -> np.ndarray:
    o = np.zeros((labels.size, n_obs))
    o[np.arange(labels.size), labels] = 1.0
    return o


@register_observation("permutation")
class Permutation(Observation):
    """A relabelling: state z is observed as perm[z] (a random permutation from `seed`)."""

    def __init__(self, n_states: int, seed: int = 0):
        n = check_int(n_states, "n_states", "Permutation", low=1)
        seed = check_seed(seed, "seed", "Permutation")
        self.perm = np.random.default_rng(seed).permutation(n)
        self.matrix = _deterministic_matrix(self.perm, n)


@register_observation("vector")
class VectorCode(Observation):
    """Each state -> a fixed random Gaussian vector in R^dim (`.vectors`, (N, dim)); indices are states."""

    def __init__(self, n_states: int, dim: int = 16, seed: int = 0):
        n = check_int(n_states, "n_states", "VectorCode", low=1)
        d = check_int(dim, "dim", "VectorCode", low=1)
        seed = check_seed(seed, "seed", "VectorCode")
        self.vectors = np.random.default_rng(seed).standard_normal((n, d)) / np.sqrt(d)
        self.matrix = np.eye(n)

    def encode(self, values) -> np.ndarray:
        """The vectors (..., dim) of observed values (...,), integers in [0, n_obs - 1]."""
        v = np.asarray(values)
        if v.size == 0 or not np.issubdtype(v.dtype, np.integer):
            fail(param("values", "VectorCode.encode"), "be a non-empty integer array",
                 f"dtype {v.dtype}, shape {v.shape}")
        if v.min() < 0 or v.max() >= self.n_obs:
            fail(param("values", "VectorCode.encode"), f"hold values in [0, {self.n_obs - 1}]",
                 f"range [{v.min()}, {v.max()}]")
        return self.vectors[v]


@register_observation("token")
class TokenCode(Observation):
    """Each state -> a distinct string of `length` tokens from a vocabulary of `vocab_size` letters.

    `.token_ids` (N, length) int array; `.strings` the space-joined tokens, e.g. 'c a f'.
    """

    def __init__(self, n_states: int, length: int = 3, vocab_size: int = 8, seed: int = 0):
        n = check_int(n_states, "n_states", "TokenCode", low=1)
        length = check_int(length, "length", "TokenCode", low=1)
        vocab = check_int(vocab_size, "vocab_size", "TokenCode", low=2, high=len(string.ascii_lowercase))
        if vocab ** length < n:
            raise ValueError(f"The 'length' and 'vocab_size' parameters of TokenCode must give at least n_states="
                             f"{n} distinct strings. Got {vocab}^{length} = {vocab ** length}.")
        if vocab ** length >= 2 ** 63:  # the codes are drawn as int64 from range(vocab ** length)
            fail(param("length", "TokenCode"), f"keep vocab_size^length below 2^63 (vocab_size={vocab})",
                 f"{length} ({vocab}^{length} = {vocab ** length})")
        seed = check_seed(seed, "seed", "TokenCode")
        rng = np.random.default_rng(seed)
        codes = rng.choice(vocab ** length, size=n, replace=False)
        self.token_ids = np.stack([(codes // vocab ** i) % vocab for i in range(length)], axis=1)
        self.vocab = list(string.ascii_lowercase[:vocab])
        self.strings = [" ".join(self.vocab[t] for t in row) for row in self.token_ids]
        self.matrix = np.eye(n)


@register_observation("merge")
class Merge(Observation):
    """Lossy: state z is observed as labels[z]; several states share a value. Values are relabelled 0..M-1
    in sorted order of the given labels (`.classes` holds the originals)."""

    def __init__(self, labels, n_states: int | None = None):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"The 'labels' parameter of Merge must be a non-empty 1-D integer array. "
                             f"Got dtype {labels.dtype}, shape {labels.shape}.")
        if n_states is not None:
            n_states = check_int(n_states, "n_states", "Merge", low=1)
        if n_states is not None and labels.size != n_states:
            raise ValueError(f"The 'labels' parameter of Merge must have one label per state (n_states={n_states})."
                             f" Got {labels.size} labels.")
        self.classes, self.labels = np.unique(labels, return_inverse=True)
        self.matrix = _deterministic_matrix(self.labels, self.classes.size)


@register_observation("drop_factor")
class DropFactor(Merge):
    """Lossy, for product worlds: observe every factor but `drop` (e.g. shape only, colour dropped)."""

    def __init__(self, factor_sizes: tuple[int, ...], drop: int = 1):
        sizes = check_sizes(factor_sizes, "factor_sizes", "DropFactor", low=1)
        if len(sizes) < 2:
            raise ValueError(f"The 'factor_sizes' parameter of DropFactor must name at least 2 factors. Got {sizes}.")
        drop = check_int(drop, "drop", "DropFactor", low=0, high=len(sizes) - 1)
        grid = np.indices(sizes).reshape(len(sizes), -1)  # factor values of each state, C order
        kept = np.delete(grid, drop, axis=0)
        keep_sizes = np.delete(np.array(sizes), drop)
        super().__init__(np.ravel_multi_index(tuple(kept), tuple(keep_sizes)))
        self.factor_sizes, self.drop = sizes, drop


@register_observation("noisy")
class NoisyChannel(Observation):
    """Lossy and stochastic: either a row-stochastic (N_z, N_x) matrix, or a flip probability p with which the
    state is replaced by a uniformly random *other* state: O = (1 - p) I + p (11^T - I) / (N - 1)."""

    deterministic = False

    def __init__(self, channel, n_states: int | None = None):
        if np.ndim(channel) == 0:
            p = check_prob(channel, "channel", "NoisyChannel")
            if n_states is None:
                raise ValueError("The 'n_states' parameter of NoisyChannel is required with a flip probability.")
            n = check_int(n_states, "n_states", "NoisyChannel", low=2)
            self.matrix = (1 - p) * np.eye(n) + p * (np.ones((n, n)) - np.eye(n)) / (n - 1)
        else:
            m = _as_channel(channel)
            check_row_stochastic(m, "channel", "NoisyChannel")
            if n_states is not None:
                n_states = check_int(n_states, "n_states", "NoisyChannel", low=1)
            if n_states is not None and m.shape[0] != n_states:
                raise ValueError(f"The 'channel' parameter of NoisyChannel must have n_states={n_states} rows. "
                                 f"Got {m.shape[0]}.")
            self.matrix = m


def _as_channel(channel) -> np.ndarray:
    m = _numeric_array(channel, "channel", "NoisyChannel")
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"The 'channel' parameter of NoisyChannel must be a 2-D matrix. Got shape {m.shape}.")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("The 'channel' parameter of NoisyChannel must have finite, non-negative entries.")
    return m


def check_observation(obs: Observation, n_states: int, owner: str) -> None:
    """Raise unless `obs` is an Observation over `n_states` world states."""
    if not isinstance(obs, Observation):
        raise TypeError(f"The 'observation' parameter of {owner} must be a worlds.observations.Observation. "
                        f"Got {type(obs).__name__}.")
    if obs.n_states != n_states:
        raise ValueError(f"The 'observation' parameter of {owner} must observe the world's {n_states} states. "
                         f"Got an observation of {obs.n_states} states.")


from . import render, sentences  # noqa: E402, F401  (register the perceptual observations 'image' and 'sentence')
