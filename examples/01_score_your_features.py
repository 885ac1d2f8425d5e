"""Score two feature arrays of your own: the alignment score, and how it compares with chance (calibrated p).

Two representations of the same N samples (rows paired: row i of A and row i of B describe the same input) are
scored with a metric (mutual k-NN and CKA here); `alignment.calibrate` permutes the rows of B to get the score's
null distribution, a p-value and the calibrated score (0 at the chance threshold, 1 at the metric's maximum).

    python examples/01_score_your_features.py --a feats_a.npy --b feats_b.npy   # your arrays, N x D_a and N x D_b
    python examples/01_score_your_features.py            # a demo: two views of one latent, and an unrelated array
    python examples/01_score_your_features.py --tiny     # the demo at a small size (seconds)

Needs only the core install (numpy and torch): pip install platonic-toolkit.
"""
import argparse

import numpy as np

import alignment


def demo(n, seed=0):
    """Two nonlinear views of one latent (related) and an array independent of it (unrelated), n rows each."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 8))
    a = z @ rng.standard_normal((8, 32)) + 0.3 * rng.standard_normal((n, 32))
    b = np.tanh(z @ rng.standard_normal((8, 16))) + 0.3 * rng.standard_normal((n, 16))
    return a, {"related": b, "unrelated": rng.standard_normal((n, 16))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", help="features A, an N x D .npy file")
    p.add_argument("--b", help="features B, an N x D .npy file (the same N rows, in the same order)")
    p.add_argument("--k", type=int, default=10, help="neighbours of mutual k-NN")
    p.add_argument("--n-perm", type=int, default=None, help="permutations of the null (default 999; 99 with --tiny)")
    p.add_argument("--tiny", action="store_true", help="the demo at a small size")
    args = p.parse_args(argv)
    if (args.a is None) != (args.b is None):
        p.error("give both --a and --b, or neither (the demo)")
    n_perm = args.n_perm if args.n_perm is not None else (99 if args.tiny else 999)
    try:  # a user error (no such file, rows that differ, k too large) is one line
        if args.a:
            a, pairs = np.load(args.a), {"b": np.load(args.b)}
        else:
            a, pairs = demo(200 if args.tiny else 2000)
        for name, b in pairs.items():
            for metric in ("mutual_knn", "cka"):
                c = alignment.calibrate(a, b, metric, n_perm=n_perm, **alignment.metric_kwargs(metric, k=args.k))
                show(name, metric, c)
    except (ValueError, OSError) as e:
        p.error(str(e))


def show(name, metric, c):
    """One line: the score, its p-value against the permutation null, and the calibrated score."""
    print(f"{name:<10} {metric:<11} score={c.score:.6f} p={c.p_value:.6f} calibrated={c.calibrated_score:.6f} "
          f"null_mean={c.null_mean:.6f} threshold={c.threshold:.6f}")


if __name__ == "__main__":
    main()
