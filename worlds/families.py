"""World constructors: random walks on graphs and a registry of named world families.

Every registered family is a function `f(seed=0, **kw) -> MarkovWorld`; `make_world(name, **kw)` builds one and
`list_worlds()` names them all, so tests can loop over every family.
"""
from __future__ import annotations

from typing import Callable

import networkx as nx
import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_int, check_prob

from .chain import MarkovWorld

WORLDS: dict[str, Callable[..., MarkovWorld]] = {}

# Beyond this many states a graph walk without teleport stays sparse by default.
SPARSE_ABOVE = 2000


def register_world(name: str):
    def deco(fn):
        WORLDS[name] = fn
        return fn
    return deco


def list_worlds() -> list[str]:
    return sorted(WORLDS)


def make_world(name: str, **kwargs) -> MarkovWorld:
    """Build the registered world `name` with keyword overrides of its defaults."""
    if name not in WORLDS:
        raise ValueError(f"The 'name' parameter of make_world must be one of {list_worlds()}. Got {name!r} instead.")
    return WORLDS[name](**kwargs)


def random_walk(graph: nx.Graph, lazy: float = 0.0, teleport: float = 0.0, sparse: bool | None = None,
                name: str = "random_walk") -> MarkovWorld:
    """Random walk on `graph`: A = (1 - t) [l I + (1 - l) Deg^-1 W] + t 11^T / N.

    Edge weights (attribute 'weight') are honoured; directed graphs walk along edge direction. `lazy` is the
    probability of staying put, `teleport` of jumping to a uniform state. Teleport makes A dense; without it the
    walk is sparse when `sparse` is True or (default) the graph has more than SPARSE_ABOVE nodes.
    """
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"The 'graph' parameter of random_walk must be a networkx graph. Got {type(graph).__name__}.")
    n = graph.number_of_nodes()
    if n == 0:
        raise ValueError("The 'graph' parameter of random_walk must have at least one node. Got 0.")
    lazy = check_prob(lazy, "lazy", "random_walk", open_high=True)
    teleport = check_prob(teleport, "teleport", "random_walk")
    w = nx.to_scipy_sparse_array(graph, nodelist=list(graph.nodes), weight="weight", format="csr", dtype=float)
    w = sp.csr_matrix(w)
    if w.nnz and w.data.min() < 0:
        raise ValueError("The 'graph' parameter of random_walk must have non-negative edge weights.")
    deg = np.asarray(w.sum(axis=1)).ravel()
    if np.any(deg == 0) and teleport == 0 and lazy == 0:
        raise ValueError(f"The 'graph' parameter of random_walk has {int((deg == 0).sum())} nodes without "
                         "out-edges; add lazy or teleport moves.")
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    walk = sp.diags(inv) @ w
    # Nodes without edges stay put (only reachable with lazy/teleport > 0).
    walk = (lazy * sp.identity(n) + (1 - lazy) * walk + (1 - lazy) * sp.diags((deg == 0).astype(float))).tocsr()
    sparse = (n > SPARSE_ABOVE) if sparse is None else bool(sparse)
    if teleport > 0:
        return MarkovWorld((1 - teleport) * walk.toarray() + teleport / n, name=name)
    return MarkovWorld(walk if sparse else walk.toarray(), name=name)


@register_world("ring")
def ring(n_states: int = 64, lazy: float = 0.5, teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a cycle of `n_states` nodes."""
    n = check_int(n_states, "n_states", "ring", low=3)
    return random_walk(nx.cycle_graph(n), lazy=lazy, teleport=teleport, name="ring")


@register_world("torus")
def torus(side: int = 8, lazy: float = 0.5, teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a side x side periodic grid (N = side^2). The default world of `python -m worlds.run`."""
    s = check_int(side, "side", "torus", low=3)
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(s, s, periodic=True), ordering="sorted")
    return random_walk(g, lazy=lazy, teleport=teleport, name="torus")


@register_world("sbm")
def sbm(sizes: tuple[int, ...] = (16, 16, 16, 16), p_in: float = 0.5, p_out: float = 0.02, lazy: float = 0.2,
        teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a stochastic block model graph (communities of the given sizes)."""
    sizes = [check_int(s, "sizes", "sbm", low=1) for s in sizes]
    p_in = check_prob(p_in, "p_in", "sbm")
    p_out = check_prob(p_out, "p_out", "sbm")
    probs = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
    g = nx.stochastic_block_model(sizes, probs, seed=seed)
    return random_walk(g, lazy=lazy, teleport=teleport, name="sbm")


@register_world("sticky")
def sticky(n_states: int = 64, stickiness: float = 0.9, seed: int = 0) -> MarkovWorld:
    """A = s I + (1 - s) 11^T / N: stay with probability s, else a uniform state."""
    n = check_int(n_states, "n_states", "sticky", low=1)
    s = check_prob(stickiness, "stickiness", "sticky", open_high=True)
    return MarkovWorld(s * np.eye(n) + (1 - s) / n, name="sticky")


@register_world("dirichlet")
def dirichlet(n_states: int = 64, alpha: float = 1.0, seed: int = 0) -> MarkovWorld:
    """Rows drawn i.i.d. from Dirichlet(alpha 1): a random dense chain."""
    n = check_int(n_states, "n_states", "dirichlet", low=1)
    if not alpha > 0:
        raise ValueError(f"The 'alpha' parameter of dirichlet must be > 0. Got {alpha!r} instead.")
    a = np.random.default_rng(seed).dirichlet(np.full(n, float(alpha)), size=n)
    a /= a.sum(axis=1, keepdims=True)
    return MarkovWorld(a, name="dirichlet")


@register_world("product")
def product(first: str = "ring", second: str = "ring", first_kw: dict | None = None, second_kw: dict | None = None,
            seed: int = 0) -> MarkovWorld:
    """Two independent factors (e.g. shape x colour) evolving together: A = A_1 kron A_2.

    State i encodes (i // n_2, i % n_2); `factor_sizes` = (n_1, n_2). Defaults: two 8-state rings.
    """
    first_kw = {"n_states": 8} if first_kw is None and first == "ring" else (first_kw or {})
    second_kw = {"n_states": 8} if second_kw is None and second == "ring" else (second_kw or {})
    w1 = make_world(first, seed=seed, **first_kw)
    w2 = make_world(second, seed=seed + 1, **second_kw)
    return product_world(w1, w2)


def product_world(w1: MarkovWorld, w2: MarkovWorld) -> MarkovWorld:
    """The product of two worlds whose factors evolve independently."""
    for i, w in enumerate((w1, w2)):
        if not isinstance(w, MarkovWorld):
            raise TypeError(f"Argument {i} of product_world must be a MarkovWorld. Got {type(w).__name__}.")
    if w1.is_sparse or w2.is_sparse:
        a = sp.kron(w1.transition, w2.transition, format="csr")
    else:
        a = np.kron(w1.transition, w2.transition)
    return MarkovWorld(a, name=f"{w1.name}x{w2.name}", factor_sizes=(w1.n_states, w2.n_states))
