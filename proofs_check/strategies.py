"""Hypothesis strategies for worlds, cooccurrences, kernels and observations.

Everything is drawn from small integers (weights 1..9, probabilities in hundredths, kernel entries in quarters)
and few states, so shrinking ends at small readable counterexamples: two or three states, uniform weights,
kernels such as [[1, 0.5], [0.5, 0]].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import worlds
from worlds import MarkovWorld

from ._core import rounded

MAX_STATES = 6
MAX_WINDOW = 4
GRAPHS = ("cycle", "path", "complete", "star", "gnp")


@dataclass(frozen=True, eq=False)
class Case:
    """A cooccurrence matrix P (N, N) and where it came from (a world and window, or a bare joint)."""

    P: np.ndarray
    source: str
    world: MarkovWorld | None = None
    window: int | None = None
    include_self: bool | None = None

    @cached_property
    def K(self) -> np.ndarray:
        return worlds.pmi_kernel(self.P)

    @property
    def pi(self) -> np.ndarray:
        return self.P.sum(axis=1)

    def describe(self) -> dict:
        """What a counterexample report shows: enough to rebuild the case."""
        out = {"source": self.source}
        if self.world is not None:
            out.update(transition=rounded(self.world.transition), window=self.window,
                       include_self=self.include_self)
        out["P"] = rounded(self.P, 8)
        return out


def _integer_matrix(n: int, low: int, high: int):
    return arrays(np.int64, (n, n), elements=st.integers(low, high))


@st.composite
def weight_chains(draw, min_states: int = 2, max_states: int = MAX_STATES, low: int = 1, high: int = 9):
    """Transition matrices with rows proportional to integer weights in [low, high] (positive: irreducible)."""
    n = draw(st.integers(min_states, max_states))
    w = draw(_integer_matrix(n, low, high)).astype(float)
    return MarkovWorld(w / w.sum(axis=1, keepdims=True), name="chain")


@st.composite
def dirichlet_chains(draw, min_states: int = 2, max_states: int = MAX_STATES):
    """Rows i.i.d. Dirichlet(alpha 1), alpha in {1, 0.5, 4}, from a drawn numpy seed."""
    n = draw(st.integers(min_states, max_states))
    alpha = draw(st.sampled_from((1.0, 0.5, 4.0)))
    rows = np.random.default_rng(draw(st.integers(0, 2**16))).dirichlet(np.full(n, alpha), size=n)
    return MarkovWorld(rows / rows.sum(axis=1, keepdims=True), name="dirichlet")


@st.composite
def sticky_chains(draw, base=None, min_states: int = 2, max_states: int = MAX_STATES):
    """A = s I + (1 - s) B: stay with probability s (hundredths, up to 0.99), else move by the chain B.

    base: strategy of MarkovWorld for B (default: nearly uniform integer weights 8..10, which makes the
    off-diagonal PMI nearly constant, the regime where Prop. F.1's premise can hold).
    """
    b = draw(base if base is not None else weight_chains(min_states, max_states, low=8, high=10))
    s = draw(st.integers(0, 99)) / 100
    n = b.n_states
    return MarkovWorld(s * np.eye(n) + (1 - s) * b.transition, name="sticky")


@st.composite
def graph_walks(draw, min_states: int = 2, max_states: int = MAX_STATES, min_teleport: int = 0):
    """Lazy/teleporting random walks (worlds.random_walk) on small networkx graphs.

    lazy in hundredths up to 0.9; teleport in hundredths from `min_teleport` up to 0.3.
    """
    kind = draw(st.sampled_from(GRAPHS if max_states >= 3 else tuple(g for g in GRAPHS if g != "cycle")))
    n = draw(st.integers(max(min_states, 3 if kind == "cycle" else 2), max_states))
    if kind == "cycle":
        g = nx.cycle_graph(n)
    elif kind == "path":
        g = nx.path_graph(n)
    elif kind == "complete":
        g = nx.complete_graph(n)
    elif kind == "star":
        g = nx.star_graph(n - 1)
    else:
        g = nx.gnp_random_graph(n, 0.5, seed=draw(st.integers(0, 2**16)))
        g.add_edges_from(zip(range(n - 1), range(1, n)))  # a path keeps it connected
    lazy = draw(st.integers(0, 90)) / 100
    teleport = draw(st.integers(min_teleport, 30)) / 100
    world = worlds.random_walk(g, lazy=lazy, teleport=teleport, sparse=False, name=f"walk:{kind}")
    return world


def markov_worlds(min_states: int = 2, max_states: int = MAX_STATES, positive: bool = False):
    """Any of the chain families above; `positive` keeps only chains with every transition > 0."""
    if positive:
        return st.one_of(weight_chains(min_states, max_states), dirichlet_chains(min_states, max_states),
                         sticky_chains(None, min_states, max_states),
                         graph_walks(min_states, max_states, min_teleport=1))
    return st.one_of(weight_chains(min_states, max_states), dirichlet_chains(min_states, max_states),
                     sticky_chains(None, min_states, max_states), graph_walks(min_states, max_states))


@st.composite
def windows(draw, max_window: int = MAX_WINDOW, min_window: int = 0, include_self: bool | None = None):
    """(W, include_self); W = 0 always includes the d = 0 term (nothing is left otherwise)."""
    w = draw(st.integers(min_window, max_window))
    inc = draw(st.booleans()) if include_self is None else include_self
    return w, inc or w == 0


@st.composite
def world_cooccurrences(draw, world_strategy=None, max_window: int = MAX_WINDOW, min_window: int = 0,
                        include_self: bool | None = None):
    """A Case from a drawn world and window: P = world.cooccurrence(W, include_self)."""
    world = draw(world_strategy if world_strategy is not None else markov_worlds())
    w, inc = draw(windows(max_window, min_window, include_self))
    return Case(np.asarray(world.cooccurrence(w, inc)), world.name, world, w, inc)


@st.composite
def joints(draw, min_states: int = 2, max_states: int = MAX_STATES, low: int = 1, high: int = 9):
    """A bare symmetric joint distribution with integer weights in [low, high]: P = (G + G^T) / sum."""
    n = draw(st.integers(min_states, max_states))
    g = draw(_integer_matrix(n, low, high)).astype(float)
    g = g + g.T
    g[np.diag_indices(n)] += g.sum(axis=1) == 0  # every state keeps some mass (PMI needs pi > 0)
    return Case(g / g.sum(), "joint")


def cooccurrences(min_states: int = 2, max_states: int = MAX_STATES, positive: bool = False):
    """World cooccurrences and bare joints. `positive`: every P_ij > 0 (finite PMI): positive chains, W >= 1."""
    if positive:
        return st.one_of(joints(min_states, max_states),
                         world_cooccurrences(markov_worlds(min_states, max_states, positive=True), min_window=1))
    return st.one_of(joints(min_states, max_states, low=0),
                     world_cooccurrences(markov_worlds(min_states, max_states)))


def premise_cooccurrences(min_states: int = 2, max_states: int = MAX_STATES):
    """Sticky worlds over nearly uniform chains: the regime where Prop. F.1's premise often holds."""
    return world_cooccurrences(sticky_chains(None, min_states, max_states), min_window=0)


@st.composite
def grid_kernels(draw, min_states: int = 2, max_states: int = MAX_STATES, bound: int = 8):
    """Symmetric kernels with entries k/4, k in [-bound, bound]: degenerate cases (singular HKH, ties) are common."""
    n = draw(st.integers(min_states, max_states))
    upper = np.triu(draw(_integer_matrix(n, -bound, bound)).astype(float) / 4)
    return upper + np.triu(upper, 1).T


@st.composite
def f1_kernels(draw, min_states: int = 2, max_states: int = MAX_STATES):
    """Symmetric kernels built to meet F.1's premise: off-diagonals in [a, a + delta] within (-inf, 0] and
    K_ii = a + N delta + slack_i (quarters; slack 0 puts rows on the boundary)."""
    n = draw(st.integers(min_states, max_states))
    a = -draw(st.integers(0, 12)) / 4
    delta = draw(st.integers(0, int(-4 * a))) / 4
    u = np.triu(draw(_integer_matrix(n, 0, 4)).astype(float) / 4, 1)
    off = a + delta * (u + u.T)
    slack = draw(arrays(np.int64, n, elements=st.integers(0, 8))) / 4
    return off * (1 - np.eye(n)) + np.diag(a + n * delta + slack)


@st.composite
def sharpened_kernels(draw, min_states: int = 2, max_states: int = MAX_STATES):
    """Symmetric kernels built to meet the sharpened condition max_{i!=j} K_ij <= min_i mean_j K_ij, with
    off-diagonals of either sign: K_ii = N max_off - sum_{j!=i} K_ij + slack_i."""
    n = draw(st.integers(min_states, max_states))
    u = np.triu(draw(_integer_matrix(n, -8, 8)).astype(float) / 4, 1)
    off = u + u.T
    top = (off + np.diag(np.full(n, -np.inf))).max()
    slack = draw(arrays(np.int64, n, elements=st.integers(0, 8))) / 4
    return off + np.diag(n * top - off.sum(axis=1) + slack)


@st.composite
def circulant_kernels(draw, min_states: int = 2, max_states: int = MAX_STATES):
    """Symmetric circulant kernels K_ij = c_{(j - i) mod N}, c_k = c_{N-k} in quarters: invariant under the cyclic
    shift, a transitive symmetry like a ring's (the sticky world's kernel is the special case c_1 = ... = c_{N-1})."""
    n = draw(st.integers(min_states, max_states))
    half = draw(arrays(np.int64, n // 2 + 1, elements=st.integers(-8, 8))).astype(float) / 4
    c = np.array([half[min(k, n - k)] for k in range(n)])
    return np.array([np.roll(c, i) for i in range(n)])


def pmi_kernels(min_states: int = 2, max_states: int = MAX_STATES):
    """K_PMI of drawn cooccurrences with every entry finite."""
    return cooccurrences(min_states, max_states, positive=True).map(lambda case: case.K)


@st.composite
def bijections(draw, n_states: int):
    """A bijective observation of n_states states: a Permutation, VectorCode or TokenCode."""
    kind = draw(st.sampled_from(("permutation", "vector", "token")))
    seed = draw(st.integers(0, 2**16))
    if kind == "permutation":
        return worlds.Permutation(n_states, seed=seed)
    if kind == "vector":
        return worlds.VectorCode(n_states, dim=draw(st.integers(1, 8)), seed=seed)
    return worlds.TokenCode(n_states, length=3, vocab_size=4, seed=seed)


@st.composite
def merges(draw, n_states: int):
    """A deterministic merge of n_states states into at most n_states values (labels drawn per state)."""
    labels = draw(arrays(np.int64, n_states, elements=st.integers(0, max(n_states - 1, 0))))
    return worlds.Merge(labels)


@st.composite
def product_worlds(draw, max_factor: int = 3):
    """Two independent integer-weight chains of 2..max_factor states (worlds.product_world)."""
    first = draw(weight_chains(2, max_factor))
    second = draw(weight_chains(2, max_factor))
    return worlds.product_world(first, second)


@st.composite
def observed_cases(draw, observations=bijections):
    """(Case of a drawn world, observation drawn from observations(n_states))."""
    case = draw(world_cooccurrences())
    return case, draw(observations(case.P.shape[0]))


@st.composite
def merged_cases(draw):
    """(Case, deterministic merge): a drawn world with a random Merge, or a product world with a DropFactor."""
    if draw(st.booleans()):
        world = draw(product_worlds())
        obs = worlds.DropFactor(world.factor_sizes, drop=draw(st.integers(0, 1)))
    else:
        world = draw(markov_worlds())
        obs = draw(merges(world.n_states))
    w, inc = draw(windows())
    return Case(np.asarray(world.cooccurrence(w, inc)), world.name, world, w, inc), obs
