"""World constructors: random walks on graphs and a registry of named world families.

Every registered family is a function `f(seed=0, **kw) -> MarkovWorld`; `make_world(name, **kw)` builds one and
`list_worlds()` names them all, so tests can loop over every family. Every family validates its parameters (seed
included: an int >= 0) before it builds anything.
"""
from __future__ import annotations

import inspect
from typing import Callable

import networkx as nx
import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_bool, check_int, check_positive, check_prob, check_real, fail, param

from ._checks import check_name, check_seed, check_sizes
from .chain import MarkovWorld

WORLDS: dict[str, Callable[..., MarkovWorld]] = {}

# Beyond this many states a graph walk without teleport stays sparse by default.
SPARSE_ABOVE = 2000


def register_world(name: str, *, replace: bool = False):
    """Decorator registering `fn(seed=0, **kw) -> MarkovWorld` as the family `name`.

    A name already taken by another function is refused unless `replace=True`."""
    name = check_name(name, "name", "register_world")
    replace = check_bool(replace, "replace", "register_world")

    def deco(fn):
        if not callable(fn):
            fail(param("fn", f"register_world({name!r})"), "be callable", type(fn).__name__, TypeError)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = None
        if params is not None and "seed" not in params and not any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            fail(param("fn", f"register_world({name!r})"), "take a 'seed' keyword (every family does)",
                 f"parameters ({', '.join(params)})", TypeError)
        if name in WORLDS and WORLDS[name] is not fn and not replace:
            fail(param("name", "register_world"), "not be registered already (pass replace=True to replace it)",
                 repr(name))
        WORLDS[name] = fn
        return fn
    return deco


def list_worlds() -> list[str]:
    return sorted(WORLDS)


def make_world(name: str, **kwargs) -> MarkovWorld:
    """Build the registered world `name` with keyword overrides of its defaults."""
    if not isinstance(name, str) or name not in WORLDS:
        fail(param("name", "make_world"), f"be one of {list_worlds()}", repr(name))
    fn = WORLDS[name]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            fail(param("kwargs", "make_world"), f"name parameters of the {name!r} world ({', '.join(params)})",
                 ", ".join(map(repr, unknown)), TypeError)
    return fn(**kwargs)


def random_walk(graph: nx.Graph, lazy: float = 0.0, teleport: float = 0.0, sparse: bool | None = None,
                name: str = "random_walk") -> MarkovWorld:
    """Random walk on `graph`: A = (1 - t) [l I + (1 - l) Deg^-1 W] + t 11^T / N.

    Edge weights (attribute 'weight') are honoured; directed graphs walk along edge direction. `lazy` is the
    probability of staying put, `teleport` of jumping to a uniform state. Teleport makes A dense; without it the
    walk is sparse when `sparse` is True or (default) the graph has more than SPARSE_ABOVE nodes.
    """
    if not isinstance(graph, nx.Graph):
        fail(param("graph", "random_walk"), "be a networkx graph", type(graph).__name__, TypeError)
    n = graph.number_of_nodes()
    if n == 0:
        fail(param("graph", "random_walk"), "have at least one node", "0 nodes")
    lazy = check_prob(lazy, "lazy", "random_walk", open_high=True)
    teleport = check_prob(teleport, "teleport", "random_walk")
    sparse = None if sparse is None else check_bool(sparse, "sparse", "random_walk")
    name = check_name(name, "name", "random_walk")
    w = nx.to_scipy_sparse_array(graph, nodelist=list(graph.nodes), weight="weight", format="csr", dtype=float)
    w = sp.csr_matrix(w)
    if w.nnz and not np.all(np.isfinite(w.data)):
        fail(param("graph", "random_walk"), "have finite edge weights",
             f"{int((~np.isfinite(w.data)).sum())} NaN or infinite weights")
    if w.nnz and w.data.min() < 0:
        fail(param("graph", "random_walk"), "have non-negative edge weights", f"minimum {w.data.min():.3g}")
    deg = np.asarray(w.sum(axis=1)).ravel()
    if np.any(deg == 0) and teleport == 0 and lazy == 0:
        fail(param("graph", "random_walk"), "give every node an out-edge (or add lazy or teleport moves)",
             f"{int((deg == 0).sum())} nodes without out-edges")
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    walk = sp.diags(inv) @ w
    # Nodes without edges stay put (only reachable with lazy/teleport > 0).
    walk = (lazy * sp.identity(n) + (1 - lazy) * walk + (1 - lazy) * sp.diags((deg == 0).astype(float))).tocsr()
    sparse = (n > SPARSE_ABOVE) if sparse is None else sparse
    if teleport > 0:
        return MarkovWorld((1 - teleport) * walk.toarray() + teleport / n, name=name)
    return MarkovWorld(walk if sparse else walk.toarray(), name=name)


@register_world("ring")
def ring(n_states: int = 64, lazy: float = 0.5, teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a cycle of `n_states` nodes (deterministic: `seed` is validated and unused)."""
    n = check_int(n_states, "n_states", "ring", low=3)
    lazy = check_prob(lazy, "lazy", "ring", open_high=True)
    teleport = check_prob(teleport, "teleport", "ring")
    check_seed(seed, "seed", "ring")
    return random_walk(nx.cycle_graph(n), lazy=lazy, teleport=teleport, name="ring")


@register_world("torus")
def torus(side: int = 8, lazy: float = 0.5, teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a side x side periodic grid (N = side^2). The default world of `python -m worlds.run`.
    (Deterministic: `seed` is validated and unused.)"""
    s = check_int(side, "side", "torus", low=3)
    lazy = check_prob(lazy, "lazy", "torus", open_high=True)
    teleport = check_prob(teleport, "teleport", "torus")
    check_seed(seed, "seed", "torus")
    return random_walk(_torus_graph(s), lazy=lazy, teleport=teleport, name="torus")


def _torus_graph(side):
    return nx.convert_node_labels_to_integers(nx.grid_2d_graph(side, side, periodic=True), ordering="sorted")


def _weighted(g, spread, seed):
    """g with edge weights exp(spread x standard normal), drawn in edge order from `seed`: the walk keeps the graph's
    shape but loses its symmetries, so no two entries of a PMI row are equal by symmetry (no exact k-NN ties)."""
    rng = np.random.default_rng(seed)
    for u, v in g.edges:
        g[u][v]["weight"] = float(np.exp(spread * rng.standard_normal()))
    return g


@register_world("weighted_torus")
def weighted_torus(side: int = 8, lazy: float = 0.5, teleport: float = 0.01, edge_noise: float = 0.25,
                   seed: int = 0) -> MarkovWorld:
    """The torus walk with log-normal edge weights of spread `edge_noise` (seeded): the torus's shape without its
    symmetries, whose exact ties decide k-NN metrics on the plain torus. Lazy (1/2) and reversible, so P_coor is PSD
    and K_PMI PSD-able at W = 16 for seeds 0-15 (C* 0.66-0.74; edge_noise 0.5 is not). The default world of the
    experiments that compare objectives."""
    s = check_int(side, "side", "weighted_torus", low=3)
    lazy = check_prob(lazy, "lazy", "weighted_torus", open_high=True)
    teleport = check_prob(teleport, "teleport", "weighted_torus")
    spread = check_real(edge_noise, "edge_noise", "weighted_torus", 0, 5)
    seed = check_seed(seed, "seed", "weighted_torus")
    g = _weighted(_torus_graph(s), spread, seed)
    return random_walk(g, lazy=lazy, teleport=teleport, name="weighted_torus")


@register_world("weighted_ring")
def weighted_ring(n_states: int = 64, lazy: float = 0.5, teleport: float = 0.01, edge_noise: float = 0.25,
                  seed: int = 0) -> MarkovWorld:
    """The ring walk with log-normal edge weights of spread `edge_noise` (seeded), as weighted_torus."""
    n = check_int(n_states, "n_states", "weighted_ring", low=3)
    lazy = check_prob(lazy, "lazy", "weighted_ring", open_high=True)
    teleport = check_prob(teleport, "teleport", "weighted_ring")
    spread = check_real(edge_noise, "edge_noise", "weighted_ring", 0, 5)
    seed = check_seed(seed, "seed", "weighted_ring")
    return random_walk(_weighted(nx.cycle_graph(n), spread, seed), lazy=lazy, teleport=teleport,
                       name="weighted_ring")


@register_world("sbm")
def sbm(sizes: tuple[int, ...] = (16, 16, 16, 16), p_in: float = 0.5, p_out: float = 0.02, lazy: float = 0.2,
        teleport: float = 0.01, seed: int = 0) -> MarkovWorld:
    """Walk on a stochastic block model graph (communities of the given sizes)."""
    sizes = list(check_sizes(sizes, "sizes", "sbm", low=1))
    p_in = check_prob(p_in, "p_in", "sbm")
    p_out = check_prob(p_out, "p_out", "sbm")
    lazy = check_prob(lazy, "lazy", "sbm", open_high=True)
    teleport = check_prob(teleport, "teleport", "sbm")
    seed = check_seed(seed, "seed", "sbm")
    probs = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
    g = nx.stochastic_block_model(sizes, probs, seed=seed)
    return random_walk(g, lazy=lazy, teleport=teleport, name="sbm")


@register_world("sticky")
def sticky(n_states: int = 64, stickiness: float = 0.9, seed: int = 0) -> MarkovWorld:
    """A = s I + (1 - s) 11^T / N: stay with probability s, else a uniform state (`seed` validated, unused)."""
    n = check_int(n_states, "n_states", "sticky", low=1)
    s = check_prob(stickiness, "stickiness", "sticky", open_high=True)
    check_seed(seed, "seed", "sticky")
    return MarkovWorld(s * np.eye(n) + (1 - s) / n, name="sticky")


@register_world("dirichlet")
def dirichlet(n_states: int = 64, alpha: float = 1.0, seed: int = 0) -> MarkovWorld:
    """Rows drawn i.i.d. from Dirichlet(alpha 1): a random dense chain."""
    n = check_int(n_states, "n_states", "dirichlet", low=1)
    alpha = check_positive(alpha, "alpha", "dirichlet")
    seed = check_seed(seed, "seed", "dirichlet")
    a = np.random.default_rng(seed).dirichlet(np.full(n, alpha), size=n)
    a /= a.sum(axis=1, keepdims=True)
    return MarkovWorld(a, name="dirichlet")


@register_world("product")
def product(first: str = "ring", second: str = "ring", first_kw: dict | None = None, second_kw: dict | None = None,
            seed: int = 0) -> MarkovWorld:
    """Two independent factors (e.g. shape x colour) evolving together: A = A_1 kron A_2.

    State i encodes (i // n_2, i % n_2); `factor_sizes` = (n_1, n_2). Defaults: two 8-state rings. The factors
    get seeds `seed` and `seed + 1` (so the kw dicts may not hold 'seed').
    """
    for label, value in (("first", first), ("second", second)):
        if not isinstance(value, str) or value not in WORLDS:
            fail(param(label, "product"), f"be one of {list_worlds()}", repr(value))
    for label, value in (("first_kw", first_kw), ("second_kw", second_kw)):
        if value is not None and not isinstance(value, dict):
            fail(param(label, "product"), "be a dict of keyword arguments or None",
                 f"{value!r} ({type(value).__name__})", TypeError)
        if value is not None and "seed" in value:
            fail(param(label, "product"), "not hold 'seed' (the factors get seed and seed + 1)", repr(value))
    seed = check_seed(seed, "seed", "product")
    first_kw = {"n_states": 8} if first_kw is None and first == "ring" else (first_kw or {})
    second_kw = {"n_states": 8} if second_kw is None and second == "ring" else (second_kw or {})
    w1 = make_world(first, seed=seed, **first_kw)
    w2 = make_world(second, seed=seed + 1, **second_kw)
    return product_world(w1, w2)


def product_world(w1: MarkovWorld, w2: MarkovWorld) -> MarkovWorld:
    """The product of two worlds whose factors evolve independently."""
    for label, w in (("w1", w1), ("w2", w2)):
        if not isinstance(w, MarkovWorld):
            fail(param(label, "product_world"), "be a MarkovWorld", type(w).__name__, TypeError)
    if w1.is_sparse or w2.is_sparse:
        a = sp.kron(w1.transition, w2.transition, format="csr")
    else:
        a = np.kron(w1.transition, w2.transition)
    return MarkovWorld(a, name=f"{w1.name}x{w2.name}", factor_sizes=(w1.n_states, w2.n_states))
