"""A simulation from scratch in Python: a world, two observations of it, a contrastive learner on each, and the
learned kernels compared with the world's K_PMI and with each other.

The world is a random walk on a torus (a stationary Markov chain); positive pairs are events within a window W.
InfoNCE is minimised by <f(a), f(b)> = K_PMI(a, b) + c(a), so a learner trained on any bijective observation (a
relabelling, a vector code) learns the same kernel over world states: its Pearson correlation with K_PMI approaches
1, and the two learners' representations align.

    python examples/02_simulation_from_scratch.py            # 1000 training steps per learner
    python examples/02_simulation_from_scratch.py --tiny     # 150 steps (seconds)

Needs the 'sim' extra: pip install 'platonic-toolkit[sim]'.
"""
import argparse

import numpy as np

import alignment
import learners
import worlds


def offdiag_pearson(k, l):
    """Pearson correlation of the off-diagonal entries of two N x N kernels."""
    mask = ~np.eye(len(k), dtype=bool)
    return float(np.corrcoef(k[mask], l[mask])[0, 1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a short training run")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    window = 4
    world = worlds.make_world("torus", side=4)  # 16 states
    k_pmi = world.pmi(window)
    steps = 150 if args.tiny else 1000
    fits = {}
    print("Off-diagonal Pearson correlation of each learned state kernel with K_PMI, at the last and first step:")
    views = {"relabelled": (worlds.Permutation(16, seed=args.seed), 0.01),  # (observation, learning rate)
             "vector_code": (worlds.VectorCode(16, seed=args.seed), 0.003)}
    for name, (obs, lr) in views.items():
        r = learners.fit(world, obs, "infonce", dim=16, window=window, max_steps=steps, batch_size=128, lr=lr,
                         seed=args.seed)
        fits[name] = r
        print(f"{name:<12} pearson={offdiag_pearson(r.state_kernel, k_pmi):.6f} "
              f"first={r.history['pearson']['value'][0]:.6f}")
    (na, a), (nb, b) = fits.items()
    c = alignment.calibrate(a.state_embeddings, b.state_embeddings, "cka", n_perm=99, seed=args.seed)
    print(f"{na} vs {nb} cka={c.score:.6f} p={c.p_value:.6f} calibrated={c.calibrated_score:.6f}")


if __name__ == "__main__":
    main()
