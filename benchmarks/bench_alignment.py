"""Layer-sweep speed of alignment.layerwise against the straightforward per-pair computation.

Two random "models" share a latent: N = 1024 samples, 25 layers of width 768 against 33 layers of width 1024
(825 layer pairs). For mutual_knn and cknna (k = 10) it times

  sweep:    alignment.layerwise (the paper's pipeline; k-NN lists / kernels computed once per layer), all pairs;
  baseline: what the paper's released code does: clamp each layer once, then for every pair L2-normalise both
            layers, recompute both similarity matrices, full argsort (mutual_knn) or top-k + dense N x N masks and
            dense unbiased HSIC with an N x N x N matmul (cknna).

The baseline is timed on --baseline-pairs pairs spread over the grid and extrapolated per pair to all pairs (said
so in the output); scores are compared on the pairs it computed and must agree to 1e-6 (exit code 1 otherwise).
Wall-clock and process CPU time are both reported: on a shared machine the CPU time of a --threads 1 run is the
steadier measure of work.

Calibration cost: alignment.calibrate with --n-perm permutations (default 100) on a 12 x 12 layer stack (N = 1024,
widths 768 / 1024; --quick: N = 256, 6 x 6 of width 128 / 192) against the plain alignment.layerwise sweep of the
same stack, both timed in this run, for mutual_knn and cknna: the ratio calibrate / layerwise (goal <= 3x at the
full size; when every permutation recomputed the k-NN lists of every b layer it was 51x for mutual_knn and 65x for
cknna in CPU time, --threads 1). The first two permutations are checked
against a recomputing sweep (alignment.layerwise on the permuted layers) outside the timing: equal to 1e-9.

    python benchmarks/bench_alignment.py                    # the issue's size, sweep and calibration
    python benchmarks/bench_alignment.py --quick            # N = 256, 6 x 8 layers of width 128 / 192
    python benchmarks/bench_alignment.py --only calibrate   # the calibration ratio alone
    python benchmarks/bench_alignment.py --quick --device cuda
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import the checkout's alignment
import alignment as al  # noqa: E402


def features(gen, n, layers, width, latent):
    """layers x n x width float32: a shared latent z (n x 64) mixed in with a depth-dependent weight, plus noise."""
    out = torch.empty(layers, n, width)
    for i in range(layers):
        w = 0.3 + 0.7 * np.sin(np.pi * (i + 1) / (layers + 1))  # most shared in the middle layers
        out[i] = w * latent @ torch.randn(latent.shape[1], width, generator=gen) / 8 + torch.randn(n, width,
                                                                                                 generator=gen)
    return out


def base_knn(x, k):
    """Paper-style k-NN: full descending argsort of the similarity with the diagonal pushed down."""
    return (x @ x.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :k]


def base_mutual(x, y, k):
    a, b = base_knn(x, k), base_knn(y, k)
    n = x.shape[0]
    rows = torch.arange(n, device=x.device)[:, None]
    ma, mb = x.new_zeros(n, n), x.new_zeros(n, n)
    ma[rows, a] = 1.0
    mb[rows, b] = 1.0
    return ((ma * mb).sum(1) / k).mean().item()


def base_hsic_u(K, L):
    """Song et al.'s unbiased HSIC, dense, with the N x N x N product."""
    m = K.shape[0]
    K, L = K.clone().fill_diagonal_(0), L.clone().fill_diagonal_(0)
    t = (K * L.T).sum() + K.sum() * L.sum() / ((m - 1) * (m - 2)) - 2 * (K @ L).sum() / (m - 2)
    return t / (m * (m - 3))


def base_cknna(x, y, k):
    K, L = x @ x.T, y @ y.T
    n = K.shape[0]

    def masked(P, Q):
        ip = P.clone().fill_diagonal_(-torch.inf).topk(k, dim=1).indices
        iq = Q.clone().fill_diagonal_(-torch.inf).topk(k, dim=1).indices
        mask = P.new_zeros(n, n).scatter_(1, ip, 1.0) * P.new_zeros(n, n).scatter_(1, iq, 1.0)
        return base_hsic_u(mask * P, mask * Q)
    return (masked(K, L) / torch.sqrt(masked(K, K) * masked(L, L))).item()


BASELINES = {"mutual_knn": base_mutual, "cknna": base_cknna}


def spread(n_pairs, la, lb):
    """n_pairs (i, j) spread evenly over the la x lb grid, row-major."""
    idx = np.unique(np.linspace(0, la * lb - 1, min(n_pairs, la * lb)).round().astype(int))
    return [(int(t // lb), int(t % lb)) for t in idx]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=256, 6 x 8 layers of width 128 / 192")
    ap.add_argument("--baseline-pairs", type=int, default=24,
                    help="pairs the baseline computes (extrapolated per pair to all pairs); 0 = all")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads for both sides (0: torch default)")
    ap.add_argument("--only", choices=("sweep", "calibrate"), help="run one of the two benchmarks")
    ap.add_argument("--n-perm", type=int, default=100, help="permutations of the calibration benchmark")
    ap.add_argument("--device", default="cpu", help="where the features live and everything runs (e.g. cuda)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ok = True
    if args.only != "calibrate":
        ok &= bench_sweep(args)
    if args.only != "sweep":
        ok &= bench_calibrate(args)
    raise SystemExit(0 if ok else 1)


def timed(f):
    """(result, [wall s, process CPU s]) of f()."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = f()
    return out, np.array([time.perf_counter() - t0, time.process_time() - c0])


def bench_calibrate(args):
    """calibrate (n_perm permutations) against one layerwise sweep of the same 12 x 12 stack."""
    n, L, wa, wb = (256, 6, 128, 192) if args.quick else (1024, 12, 768, 1024)
    gen = torch.Generator().manual_seed(args.seed + 1)
    z = torch.randn(n, 64, generator=gen)
    fa, fb = (list(features(gen, n, L, w, z).to(args.device)) for w in (wa, wb))
    print(f"calibrate: N={n}, {L} x {L} layers (widths {wa} / {wb}), k={args.k}, n_perm={args.n_perm}, "
          f"device {args.device}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    ok = True
    for metric in BASELINES:
        res, sweep = timed(lambda: al.layerwise(fa, fb, metric, k=args.k))
        cal, total = timed(lambda: al.calibrate(fa, fb, metric, n_perm=args.n_perm, k=args.k))
        ratio = total / sweep
        want = [al.layerwise(fa, [b[al.permutation(n, p, b.device)] for b in fb], metric, k=args.k).best_score
                for p in range(min(2, args.n_perm))]
        diff = max(abs(w - g) for w, g in zip(want, cal.null))
        good = diff <= 1e-9 and cal.score == res.best_score
        ok &= good
        print(f"{metric}:\n  layerwise wall {sweep[0]:7.2f} s  cpu {sweep[1]:7.2f} s  (one sweep, {L * L} pairs)\n"
              f"  calibrate wall {total[0]:7.2f} s  cpu {total[1]:7.2f} s  (observed sweep + {args.n_perm} permuted)\n"
              f"  ratio calibrate / layerwise: wall {ratio[0]:.2f}x  cpu {ratio[1]:.2f}x  "
              f"(goal <= 3x at N = 1024, 12 x 12)\n"
              f"  null vs recomputed sweeps: max |diff| {diff:.1e} on {len(want)} permutations: "
              f"{'OK' if good else 'FAIL'}; score {cal.score:.4f}, p = {cal.p_value:.4f}, "
              f"calibrated {cal.calibrated_score:.4f}")
    return ok


def bench_sweep(args):
    """layerwise against the paper-style per-pair baseline on the 25 x 33 stack."""
    n, la, lb, wa, wb = (256, 6, 8, 128, 192) if args.quick else (1024, 25, 33, 768, 1024)

    gen = torch.Generator().manual_seed(args.seed)
    z = torch.randn(n, 64, generator=gen)
    fa, fb = features(gen, n, la, wa, z).to(args.device), features(gen, n, lb, wb, z).to(args.device)
    pairs = spread(args.baseline_pairs or la * lb, la, lb)
    print(f"N={n}, {la} x {lb} layers (widths {wa} / {wb}) = {la * lb} pairs, k={args.k}, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = True
    for metric, base in BASELINES.items():
        t0, c0 = time.perf_counter(), time.process_time()
        res = al.layerwise(list(fa), list(fb), metric, k=args.k)
        sweep = np.array([time.perf_counter() - t0, time.process_time() - c0])

        t0, c0 = time.perf_counter(), time.process_time()
        ca = [al.prepare(x, normalize=False) for x in fa]  # the paper clamps once per model, outside the pair loop
        cb = [al.prepare(x, normalize=False) for x in fb]
        clamp = np.array([time.perf_counter() - t0, time.process_time() - c0])
        t0, c0 = time.perf_counter(), time.process_time()
        got = [base(F.normalize(ca[i], dim=1), F.normalize(cb[j], dim=1), args.k) for i, j in pairs]
        per_pair = np.array([time.perf_counter() - t0, time.process_time() - c0]) / len(pairs)
        total = clamp + per_pair * la * lb
        ratio = total / sweep
        diff = max(abs(g - res.scores[i, j]) for g, (i, j) in zip(got, pairs))
        ok &= diff <= 1e-6
        how = "all pairs" if len(pairs) == la * lb else f"{len(pairs)} pairs timed, extrapolated to {la * lb}"
        print(f"{metric}:\n  sweep    wall {sweep[0]:7.2f} s  cpu {sweep[1]:7.2f} s  (alignment.layerwise, all pairs)\n"
              f"  baseline wall {total[0]:7.1f} s  cpu {total[1]:7.1f} s  ({per_pair[0] * 1e3:.0f} ms/pair wall; "
              f"{how})\n  ratio    wall {ratio[0]:6.1f}x   cpu {ratio[1]:6.1f}x   (goal >= 50x)\n"
              f"  scores   max |diff| {diff:.1e} on {len(pairs)} pairs: {'OK' if diff <= 1e-6 else 'FAIL (> 1e-6)'}; "
              f"best {res.best_score:.4f} at layers {res.best_layers}")
    return ok


if __name__ == "__main__":
    main()
