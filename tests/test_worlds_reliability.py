"""Reliability of `worlds`: inputs are validated before any work, nearly reducible chains get the right stationary
distribution (or a clear error), and huge windows cost O(N^3 log W) instead of running for ever."""
import json
import subprocess
import sys
import time

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import worlds
import worlds.chain as chain
from worlds import MarkovWorld


@pytest.fixture(scope="module")
def sticky():
    return worlds.make_world("sticky", n_states=4, stickiness=0.6)


@pytest.fixture(scope="module")
def P(sticky):
    return sticky.cooccurrence(2)


# ---- 1. information measures take distributions only ----------------------------------------------------------

@pytest.mark.parametrize("p, err, message", [
    ([1.5, -0.5], ValueError, r"'p' parameter of entropy must have non-negative entries. Got minimum -0.5 instead"),
    ([0.5, np.nan, 0.5], ValueError, r"'p' parameter of entropy must have finite entries. Got 1 NaN"),
    ([0.5, np.inf], ValueError, r"must have finite entries"),
    ([0.2, 0.2], ValueError, r"must sum to 1 within 1e-08 \(a probability distribution\). Got a sum of 0.4 instead"),
    ([], ValueError, r"must be a non-empty distribution"),
    (["0.5", "0.5"], TypeError, r"'p' parameter of entropy must be an array of real numbers"),
])
def test_entropy_rejects_what_is_not_a_distribution(p, err, message):
    # Before: entropy([1.5, -0.5]) = -0.608 (negative) and NaN entries were dropped silently.
    with pytest.raises(err, match=message):
        worlds.entropy(p)


def test_entropy_of_distributions_is_unchanged():
    assert worlds.entropy([0.5, 0.5]) == pytest.approx(np.log(2), abs=1e-15)
    assert worlds.entropy([[0.25, 0.0], [0.25, 0.5]]) == pytest.approx(1.5 * np.log(2), abs=1e-15)
    assert worlds.entropy([1.0]) == 0.0
    assert worlds.entropy(np.array([0.3, 0.7 + 5e-9])) == pytest.approx(0.6108643020548935, rel=1e-7)


@pytest.mark.parametrize("fn", [worlds.mutual_information, worlds.chi2_information])
@pytest.mark.parametrize("joint, message", [
    (np.array([[0.5, np.nan], [0.0, 0.5]]), "must have finite entries"),
    (np.array([[0.75, -0.25], [0.0, 0.5]]), "must have non-negative entries"),
    (np.array([[0.2, 0.2], [0.2, 0.2]]), r"must sum to 1 within 1e-08 \(a joint distribution\). Got a sum of 0.8"),
    (np.full((2, 3), 1 / 6), r"must be a non-empty square matrix. Got shape \(2, 3\)"),
])
def test_information_measures_reject_bad_joints(fn, joint, message):
    with pytest.raises(ValueError, match=f"'P' parameter of {fn.__name__} {message}"):
        fn(joint)


def test_predicted_lossy_alignment_names_the_bad_argument(P):
    bad = P.copy()
    bad[0, 0] = np.nan
    # Before: "The 'P' parameter of chi2_information must have finite entries" (the wrong function and name).
    with pytest.raises(ValueError, match="'P_observed' parameter of predicted_lossy_alignment must have finite"):
        worlds.predicted_lossy_alignment(P, bad)
    with pytest.raises(ValueError, match="'P_world' parameter of predicted_lossy_alignment must sum to 1"):
        worlds.predicted_lossy_alignment(P * 2, P)
    big = worlds.make_world("sticky", n_states=5).cooccurrence(2)
    with pytest.raises(ValueError, match=r"'P_observed' .* at most as many states as P_world \(4.*shape \(5, 5\)"):
        worlds.predicted_lossy_alignment(P, big)
    indep = np.full((4, 4), 1 / 16)
    with pytest.raises(ValueError, match="'P_world' parameter of predicted_lossy_alignment must have positive chi"):
        worlds.predicted_lossy_alignment(indep, indep)
    merged = worlds.Merge([0, 0, 1, 1]).pushforward(P)
    assert 0 < worlds.predicted_lossy_alignment(P, merged) < 1


# ---- 2. booleans are booleans ---------------------------------------------------------------------------------

def _bool_calls():
    w = worlds.make_world("sticky", n_states=4, stickiness=0.6)
    P = w.cooccurrence(2)
    x = w.sample(50, seed=0)
    return [
        ("include_self", "MarkovWorld.cooccurrence", lambda v: w.cooccurrence(2, include_self=v)),
        ("sparse", "MarkovWorld.cooccurrence", lambda v: w.cooccurrence(2, sparse=v)),
        ("include_self", "MarkovWorld.pmi", lambda v: w.pmi(2, include_self=v)),
        ("include_self", "Permutation.pushforward", lambda v: worlds.Permutation(4).pushforward(P, 2, v)),
        ("include_self", "NoisyChannel.pushforward",
         lambda v: worlds.NoisyChannel(0.1, n_states=4).pushforward(P, 2, v)),
        ("include_self", "trajectory_pairs", lambda v: worlds.trajectory_pairs(x, 2, include_self=v)),
        ("symmetric", "plugin_pmi", lambda v: worlds.plugin_pmi(worlds.trajectory_pairs(x, 2), 4, symmetric=v)),
        ("sparse", "random_walk", lambda v: worlds.random_walk(nx.cycle_graph(5), lazy=0.5, sparse=v)),
        ("replace", "register_world", lambda v: worlds.register_world("never_registered", replace=v)),
    ]


@pytest.mark.parametrize("value", ["no", 0, 1, None, 1.0])
@pytest.mark.parametrize("index", range(len(_bool_calls())))
def test_boolean_parameters_refuse_truthy_values(index, value):
    name, owner, call = _bool_calls()[index]
    if value is None and name == "sparse":  # sparse=None means "follow the transition"
        call(value)
        return
    # Before: include_self="no" computed *with* self pairs (a non-empty string is truthy).
    with pytest.raises(TypeError, match=rf"The '{name}' parameter of {owner} must be a bool \(True or False\). "
                                        rf"Got {value!r} \({type(value).__name__}\) instead."):
        call(value)


def test_numpy_bools_are_accepted(sticky):
    np.testing.assert_array_equal(sticky.cooccurrence(2, np.False_), sticky.cooccurrence(2, include_self=False))
    assert sp.issparse(sticky.cooccurrence(2, sparse=np.True_))


# ---- 3. pushforward takes a cooccurrence matrix ---------------------------------------------------------------

def test_pushforward_rejects_what_is_not_a_cooccurrence(P):
    perm = worlds.Permutation(4, seed=1)
    owner = "The 'P_coor' parameter of Permutation.pushforward"
    asym = P.copy()
    asym[0, 1] += 1e-3
    asym[1, 0] -= 1e-3
    # Before: all of these were pushed forward without a word.
    with pytest.raises(ValueError, match=f"{owner} must be symmetric within 1e-12 \\(a cooccurrence matrix\\). "
                                         f"Got max \\|P - P\\^T\\| = 0.002 instead."):
        perm.pushforward(asym)
    with pytest.raises(ValueError, match=f"{owner} must sum to 1 within 1e-08 \\(a cooccurrence matrix\\). "
                                         f"Got a sum of 2.0 instead."):
        perm.pushforward(2 * P)
    nan = P.copy()
    nan[2, 2] = np.nan
    with pytest.raises(ValueError, match=f"{owner} must have finite entries. Got 1 NaN or infinite entries"):
        perm.pushforward(nan)
    neg = P.copy()
    neg[0, 0] = -neg[0, 0]
    with pytest.raises(ValueError, match=f"{owner} must have non-negative entries"):
        perm.pushforward(neg)
    with pytest.raises(ValueError, match=f"{owner} must be 4 x 4 \\(the observation's n_states\\). "
                                         f"Got shape \\(3, 3\\) instead."):
        perm.pushforward(np.full((3, 3), 1 / 9))
    with pytest.raises(TypeError, match=f"{owner} must be an array of real numbers"):
        perm.pushforward(P.astype(complex))


def test_noisy_pushforward_needs_the_self_term_it_corrects():
    ring = worlds.make_world("ring", n_states=8, lazy=0.0, teleport=0.0)  # returns only after an even lag
    noisy = worlds.NoisyChannel(0.3, n_states=8)
    # Before: both went through silently. P_coor's diagonal holds pi / (2W+1) from the d = 0 term alone.
    with pytest.raises(ValueError, match=r"'P_coor' parameter of NoisyChannel.pushforward must hold at least "
                                         r"pi / \(2W\+1\) on its diagonal .* Got P_coor\[0, 0\] = 0.0 < pi\[0\] / 3"):
        noisy.pushforward(ring.cooccurrence(1, include_self=False), window=1)  # no self pairs at all
    with pytest.raises(ValueError, match="must hold at least pi / "):
        noisy.pushforward(ring.cooccurrence(5), window=1)  # computed with another window: diag = pi / 4 < pi / 3
    ok = noisy.pushforward(ring.cooccurrence(1), window=1)
    assert ok.min() > 0 and ok.sum() == pytest.approx(1, abs=1e-15)


def test_pushforward_validates_window_and_accepts_sparse(P):
    perm = worlds.Permutation(4, seed=1)
    with pytest.raises(ValueError, match="'window' parameter of Permutation.pushforward must be >= 0. Got -1"):
        perm.pushforward(P, window=-1)  # before: ignored for deterministic maps
    with pytest.raises(ValueError, match="'window' parameter of Permutation.pushforward must be >= 1 when"):
        perm.pushforward(P, window=0, include_self=False)
    np.testing.assert_array_equal(perm.pushforward(sp.csr_matrix(P)), perm.pushforward(P))


# ---- 4. nearly reducible chains -------------------------------------------------------------------------------

def _two_uniform_blocks(k, out_eps, back_eps):
    """Two uniform k-state blocks; state 0 leaves for state k with out_eps, state k returns with back_eps."""
    a = np.zeros((2 * k, 2 * k))
    a[:k, :k] = a[k:, k:] = 1 / k
    a[0, 0] -= out_eps
    a[0, k] = out_eps
    a[k, k] -= back_eps
    a[k, 0] = back_eps
    return a


@pytest.mark.parametrize("out_eps, back_eps", [(1e-17, 3e-17), (1e-15, 3e-15), (1e-13, 3e-13), (3e-14, 1e-14)])
def test_nearly_reducible_chain_gets_the_exact_stationary_distribution(out_eps, back_eps):
    # Detailed balance: uniform inside each block and (mass_1 / k) out_eps = (mass_2 / k) back_eps.
    k = 4
    mass_1 = back_eps / (out_eps + back_eps)
    exact = np.r_[np.full(k, mass_1 / k), np.full(k, (1 - mass_1) / k)]
    pi = MarkovWorld(_two_uniform_blocks(k, out_eps, back_eps)).stationary
    # Before: (1e-17, 3e-17) gave block 1 no mass at all, (1e-15, 3e-15) was 23% off, (1e-13, 3e-13) 0.3% off.
    np.testing.assert_allclose(pi, exact, rtol=1e-12)


@pytest.mark.parametrize("seed, out_eps, back_eps", [(0, 1e-17, 3e-17), (1, 1e-14, 5e-15), (2, 2e-13, 1e-13)])
def test_nearly_reducible_random_blocks(seed, out_eps, back_eps):
    """Random blocks joined only through states 0 and k: each block's share is exactly its own stationary
    distribution (the return always enters the exit state), and the cut balances: m1 s1[0] eps1 = m2 s2[0] eps2."""
    k = 5
    rng = np.random.default_rng(seed)
    b1, b2 = rng.dirichlet(np.ones(k), size=k), rng.dirichlet(np.ones(k), size=k)
    s1, s2 = MarkovWorld(b1).stationary, MarkovWorld(b2).stationary
    a = np.zeros((2 * k, 2 * k))
    a[:k, :k], a[k:, k:] = b1, b2
    a[0, 0] -= out_eps
    a[0, k] = out_eps
    a[k, k] -= back_eps
    a[k, 0] = back_eps
    m1 = s2[0] * back_eps / (s1[0] * out_eps + s2[0] * back_eps)
    exact = np.r_[m1 * s1, (1 - m1) * s2]
    pi = MarkovWorld(a).stationary
    np.testing.assert_allclose(pi, exact, rtol=1e-10)
    np.testing.assert_allclose(MarkovWorld(sp.csr_matrix(a)).stationary, exact, rtol=1e-10)


def test_nearly_reducible_large_sparse_chain_fails_clearly():
    n = 1500  # two rings of 1500 states: 3000 > DENSE_MAX, so no exact fallback
    ring = worlds.random_walk(nx.cycle_graph(n), lazy=0.5, sparse=True).transition
    a = sp.block_diag([ring, ring]).tolil()
    a[0, 0] -= 1e-14
    a[0, n] = 1e-14
    a[n, n] -= 1e-14
    a[n, 0] = 1e-14
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"'transition' parameter of MarkovWorld must not be numerically reducible"
                                         r".* add teleport .* Got condition estimate x eps = .* with N=3000 instead"):
        MarkovWorld(a.tocsr())
    assert time.perf_counter() - start < 30


def test_well_conditioned_chains_keep_the_plain_solve():
    """Same numbers as before for ordinary chains: the LU solve, bit for bit."""
    a = np.random.default_rng(3).dirichlet(np.full(12, 0.5), size=12)
    m = a.T - np.eye(12)
    m[-1, :] = 1.0
    rhs = np.zeros(12)
    rhs[-1] = 1.0
    pi = np.clip(np.linalg.solve(m, rhs), 0, None)
    assert np.array_equal(MarkovWorld(a).stationary, pi / pi.sum())


def test_gth_agrees_with_the_solve_on_ordinary_chains():
    for seed in range(5):
        a = np.random.default_rng(seed).dirichlet(np.full(20, 0.3), size=20)
        np.testing.assert_allclose(chain._gth(a), MarkovWorld(a).stationary, rtol=1e-12)


# ---- 5. large windows -----------------------------------------------------------------------------------------

def _with_loop_limits(limit, world, window, include_self):
    saved = chain.LOOP_WINDOW_MAX, chain.SPARSE_LOOP_WINDOW_MAX
    chain.LOOP_WINDOW_MAX = chain.SPARSE_LOOP_WINDOW_MAX = limit
    try:
        return world.cooccurrence(window, include_self)
    finally:
        chain.LOOP_WINDOW_MAX, chain.SPARSE_LOOP_WINDOW_MAX = saved


LARGE_WINDOW_WORLDS = {
    "dirichlet": lambda: worlds.make_world("dirichlet", n_states=30, alpha=0.3, seed=1),
    "torus": lambda: worlds.make_world("torus", side=5),
    "periodic_ring": lambda: worlds.make_world("ring", n_states=6, lazy=0.0, teleport=0.0),  # eigenvalue -1
    "sticky": lambda: worlds.make_world("sticky", n_states=8, stickiness=0.95),
    "sparse_walk": lambda: worlds.random_walk(nx.path_graph(9), lazy=0.2, sparse=True),
    # Slow mixing: entries span many orders of magnitude, and pairs farther apart than W never cooccur.
    "long_path": lambda: worlds.random_walk(nx.path_graph(150), lazy=0.3, sparse=False),
}


@pytest.mark.parametrize("name", LARGE_WINDOW_WORLDS)
@pytest.mark.parametrize("window, include_self", [(1, True), (7, False), (50, True), (300, False)])
def test_doubling_agrees_with_the_loop_entry_by_entry(name, window, include_self):
    world = LARGE_WINDOW_WORLDS[name]()
    loop = _with_loop_limits(10 ** 12, world, window, include_self)
    doubled = _with_loop_limits(0, world, window, include_self)
    assert sp.issparse(loop) == sp.issparse(doubled) == world.is_sparse
    loop, doubled = (m.toarray() if sp.issparse(m) else m for m in (loop, doubled))
    assert np.abs(doubled - loop).max() <= 1e-12
    # Relative accuracy in every entry, the tiny ones included (the deflated closed form
    # W 1 pi^T + (I - B)^-1 B (I - B^W) gets such entries wrong by many orders of magnitude, some negative).
    assert np.array_equal(doubled == 0, loop == 0)
    positive = loop > 0
    assert np.max(np.abs(doubled[positive] / loop[positive] - 1)) < 1e-12
    assert np.array_equal(doubled, doubled.T)
    np.testing.assert_allclose(doubled.sum(axis=1), loop.sum(axis=1), rtol=1e-12, atol=0)


def test_huge_window_returns_promptly_and_converges():
    code = """if True:
        import json, time
        import numpy as np
        import worlds
        w = worlds.make_world("torus")
        w.stationary
        start = time.perf_counter()
        P = w.cooccurrence(10**9)
        Pn = w.cooccurrence(10**9, include_self=False)
        seconds = time.perf_counter() - start
        limit = np.outer(w.stationary, w.stationary)
        print(json.dumps({"seconds": seconds, "err": float(np.abs(P - limit).max()),
                          "err_n": float(np.abs(Pn - limit).max()), "sym": float(np.abs(P - P.T).max()),
                          "rows": float(np.abs(P.sum(axis=1) - w.stationary).max())}))
    """
    # Before: 10**9 products with A (hours); the subprocess timeout turns a regression into a failure.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["seconds"] < 5
    # P_coor(W) = pi pi^T + O(1/W): 64 states, terms of order 1/N / (2W+1).
    assert out["err"] < 1e-9 and out["err_n"] < 1e-9
    assert out["sym"] == 0.0 and out["rows"] < 1e-14


def test_huge_window_on_a_large_sparse_world_fails_promptly():
    w = worlds.random_walk(nx.cycle_graph(3000), lazy=0.5, teleport=0.0)  # sparse: 3000 > SPARSE_ABOVE
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"'window' parameter of MarkovWorld.cooccurrence must be <= 1024 for a "
                                         r"sparse P_coor of N=3000 > 2000 states .* pass sparse=False for that, "
                                         r"O\(N\^3 log W\)\). Got 1000000000 instead."):
        w.cooccurrence(10 ** 9)
    assert time.perf_counter() - start < 1


def test_huge_window_on_a_small_sparse_world_is_dense_doubling():
    w = worlds.random_walk(nx.cycle_graph(40), lazy=0.5, sparse=True)
    P = w.cooccurrence(10 ** 9)
    assert sp.issparse(P)
    np.testing.assert_allclose(P.toarray(), np.full((40, 40), 1 / 1600), rtol=1e-6)
    K = w.pmi(10 ** 9)
    assert np.abs(K).max() < 1e-6


def test_windows_up_to_the_loop_limit_give_the_same_numbers():
    w = worlds.make_world("dirichlet", n_states=10, seed=4)
    a, D = w.transition, np.diag(w.stationary)
    lag, total = D, np.zeros_like(a)
    for _ in range(chain.LOOP_WINDOW_MAX):
        lag = lag @ a
        total = total + lag
    total = total + total.T
    expected = (total + D) / (2 * chain.LOOP_WINDOW_MAX + 1)
    assert np.array_equal(w.cooccurrence(chain.LOOP_WINDOW_MAX), expected)


# ---- 6. seeds and sizes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", worlds.list_worlds())
def test_every_family_validates_its_seed(name):
    # Before: dirichlet ended in numpy's "expected non-negative integer", sbm in networkx, the others ignored it.
    with pytest.raises(ValueError, match=f"The 'seed' parameter of {name} must be >= 0. Got -1 instead."):
        worlds.make_world(name, seed=-1)
    with pytest.raises(TypeError, match=f"The 'seed' parameter of {name} must be an int >= 0. Got 1.5"):
        worlds.make_world(name, seed=1.5)
    with pytest.raises(TypeError, match=f"The 'seed' parameter of {name} must be an int >= 0. Got None"):
        worlds.make_world(name, seed=None)
    assert worlds.make_world(name, seed=np.int64(3)).n_states > 0


def test_seeded_observations_and_samplers_validate_their_seed(sticky, P):
    calls = {
        "Permutation": lambda s: worlds.Permutation(4, seed=s),
        "VectorCode": lambda s: worlds.VectorCode(4, seed=s),
        "TokenCode": lambda s: worlds.TokenCode(4, seed=s),
        "NoisyChannel.observe": lambda s: worlds.NoisyChannel(0.2, n_states=4).observe(np.arange(4), seed=s),
        "MarkovWorld.sample": lambda s: sticky.sample(10, seed=s),
        "exact_pairs": lambda s: worlds.exact_pairs(P, 10, seed=s),
        "negatives": lambda s: worlds.negatives(sticky.stationary, 10, seed=s),
    }
    for owner, call in calls.items():
        with pytest.raises(ValueError, match=f"The 'seed' parameter of {owner} must be >= 0. Got -1 instead."):
            call(-1)
        with pytest.raises(TypeError, match=f"The 'seed' parameter of {owner} must be an int >= 0"):
            call("7")
    assert sticky.sample(10, seed=None).shape == (10,)  # None (OS entropy) stays allowed where documented


def test_sizes_are_validated():
    with pytest.raises(ValueError, match=r"'sizes' parameter of sbm must hold at least 1 size. Got \(\) instead"):
        worlds.make_world("sbm", sizes=())
    with pytest.raises(TypeError, match="'sizes' parameter of sbm must be a sequence of ints. Got 16"):
        worlds.make_world("sbm", sizes=16)
    with pytest.raises(ValueError, match="'sizes' parameter of sbm must be >= 1. Got 0 instead"):
        worlds.make_world("sbm", sizes=(4, 0))
    with pytest.raises(TypeError, match=r"'factor_sizes' parameter of MarkovWorld must be an int. Got 2.5"):
        MarkovWorld(np.full((4, 4), 0.25), factor_sizes=(2.5, 2))  # before: int(2.5) = 2, silently
    with pytest.raises(ValueError, match=r"'factor_sizes' parameter of MarkovWorld must multiply to N=4. Got \(2, 3\)"):
        MarkovWorld(np.full((4, 4), 0.25), factor_sizes=(2, 3))
    with pytest.raises(TypeError, match="'factor_sizes' parameter of DropFactor must be a sequence of ints"):
        worlds.DropFactor(6)
    with pytest.raises(TypeError, match="'n_states' parameter of NoisyChannel must be an int. Got 2.0"):
        worlds.NoisyChannel(np.eye(2), n_states=2.0)  # before: accepted (2.0 == 2)
    with pytest.raises(TypeError, match="'n_states' parameter of Merge must be an int"):
        worlds.Merge([0, 1], n_states="2")


# ---- 8. the rest of the public API ----------------------------------------------------------------------------

def test_make_world_names_unknown_parameters():
    # Before: Python's "ring() got an unexpected keyword argument 'sides'".
    with pytest.raises(TypeError, match=r"The 'kwargs' parameter of make_world must name parameters of the 'ring' "
                                        r"world \(n_states, lazy, teleport, seed\). Got 'sides' instead."):
        worlds.make_world("ring", sides=4)
    with pytest.raises(ValueError, match=r"'name' parameter of make_world must be one of .* Got \['ring'\] instead"):
        worlds.make_world(["ring"])  # before: TypeError: unhashable type: 'list'


def test_register_world_validates_its_arguments():
    def demo(n_states: int = 3, seed: int = 0):
        return worlds.make_world("sticky", n_states=n_states, seed=seed)

    try:
        worlds.register_world("demo_reliability")(demo)
        assert worlds.make_world("demo_reliability", n_states=5).n_states == 5
        with pytest.raises(ValueError, match="'name' parameter of register_world must not be registered already"):
            worlds.register_world("demo_reliability")(lambda seed=0: None)
        worlds.register_world("demo_reliability")(demo)  # the same function again is harmless
        with pytest.raises(ValueError, match="must not be registered already"):
            worlds.register_world("ring")(demo)  # before: silently replaced the built-in family
    finally:
        worlds.WORLDS.pop("demo_reliability", None)
    assert worlds.WORLDS["ring"].__name__ == "ring"
    with pytest.raises(TypeError, match="'name' parameter of register_world must be a non-empty string"):
        worlds.register_world("")
    with pytest.raises(TypeError, match=r"'fn' parameter of register_world\('x'\) must take a 'seed' keyword"):
        worlds.register_world("x")(lambda n=3: None)
    with pytest.raises(TypeError, match=r"'fn' parameter of register_world\('x'\) must be callable"):
        worlds.register_world("x")(3)
    assert "x" not in worlds.WORLDS


def test_product_validates_its_factors():
    with pytest.raises(ValueError, match=r"'first' parameter of product must be one of .* Got 'cube' instead"):
        worlds.make_world("product", first="cube")
    with pytest.raises(ValueError, match=r"'second_kw' parameter of product must not hold 'seed'"):
        worlds.make_world("product", second_kw={"n_states": 4, "seed": 3})
    with pytest.raises(TypeError, match=r"'first_kw' parameter of product must be a dict"):
        worlds.make_world("product", first_kw=[("n_states", 4)])
    with pytest.raises(TypeError, match="'w2' parameter of product_world must be a MarkovWorld. Got ndarray"):
        worlds.product_world(worlds.make_world("ring", n_states=4), np.eye(2))


def test_random_walk_and_markov_world_validate_the_rest():
    g = nx.cycle_graph(4)
    g[0][1]["weight"] = np.nan
    # Before: "The 'transition' parameter of MarkovWorld must have finite entries" (not what the user passed).
    with pytest.raises(ValueError, match="'graph' parameter of random_walk must have finite edge weights. Got 2 NaN"):
        worlds.random_walk(g)
    with pytest.raises(TypeError, match="'name' parameter of random_walk must be a non-empty string. Got 3"):
        worlds.random_walk(nx.cycle_graph(4), lazy=0.5, name=3)
    with pytest.raises(TypeError, match="'name' parameter of MarkovWorld must be a non-empty string. Got None"):
        MarkovWorld(np.full((2, 2), 0.5), name=None)
    with pytest.raises(TypeError, match="'transition' parameter of MarkovWorld must be an array of real numbers. "
                                        "Got dtype <U3 instead"):
        MarkovWorld([["0.5", "0.5"], ["0.5", "0.5"]])  # before: the strings were parsed as numbers
    with pytest.raises(TypeError, match="'graph' parameter of random_walk must be a networkx graph. Got ndarray"):
        worlds.random_walk(np.eye(3))


def test_observations_validate_the_rest():
    v = worlds.VectorCode(5, dim=3, seed=0)
    # Before: encode([-1]) returned the last state's vector (numpy wrap-around).
    with pytest.raises(ValueError, match=r"'values' parameter of VectorCode.encode must hold values in \[0, 4\]. "
                                         r"Got range \[-1, 2\] instead."):
        v.encode([-1, 2])
    with pytest.raises(ValueError, match="'values' parameter of VectorCode.encode must be a non-empty integer"):
        v.encode([0.5])
    np.testing.assert_array_equal(v.encode([[1, 2]]), v.vectors[[[1, 2]]])
    # Before: OverflowError "Python int too large to convert to C long" from numpy.
    with pytest.raises(ValueError, match=r"'length' parameter of TokenCode must keep vocab_size\^length below 2\^63 "
                                         r"\(vocab_size=26\). Got 14 \(26\^14 = 64509974703297150976\) instead."):
        worlds.TokenCode(5, length=14, vocab_size=26)
    assert worlds.TokenCode(5, length=13, vocab_size=26).token_ids.shape == (5, 13)
    with pytest.raises(TypeError, match="'channel' parameter of NoisyChannel must be an array of real numbers"):
        worlds.NoisyChannel(np.eye(2) * (1 + 0j))


def test_kernels_and_pairs_validate_the_rest(sticky, P):
    K = sticky.pmi(2)
    # Before: a negative or NaN tolerance was used as given.
    with pytest.raises(ValueError, match="'tol' parameter of min_shift must be >= 0. Got -1.0 instead."):
        worlds.min_shift(K, tol=-1)
    with pytest.raises(ValueError, match="'tol' parameter of min_shift must be finite. Got nan instead."):
        worlds.is_psd_able(K, tol=float("nan"))
    with pytest.raises(ValueError, match=r"'K' parameter of min_shift must be symmetric. Got max \|K - K\^T\| = 1"):
        worlds.min_shift(np.array([[0.0, 1.0], [0.0, 0.0]]))
    # Before: counts were normalised silently; a joint or marginal must be one.
    with pytest.raises(ValueError, match=r"'P_coor' parameter of exact_pairs must sum to 1 within 1e-08 .* 3.0"):
        worlds.exact_pairs(3 * P, 10)
    with pytest.raises(ValueError, match=r"'marginal' parameter of negatives must sum to 1 within 1e-08 .* 2.0"):
        worlds.negatives([1.0, 1.0], 10)
    with pytest.raises(ValueError, match=r"'marginal' parameter of negatives must be 1-D. Got shape \(2, 2\)"):
        worlds.negatives(np.full((2, 2), 0.25), 10)


def test_trajectory_pairs_refuses_windows_that_would_exhaust_memory():
    x = np.zeros(100_000, dtype=np.int64)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"'window' parameter of trajectory_pairs must give at most 1073741824 pairs"
                                         r" .* Got 1000000000 \(10000000000 pairs\) instead."):
        worlds.trajectory_pairs(x, 10 ** 9)
    assert time.perf_counter() - start < 1
    assert len(worlds.trajectory_pairs(x[:10], 10 ** 9)) == 100  # lags beyond the trajectory give no pairs
