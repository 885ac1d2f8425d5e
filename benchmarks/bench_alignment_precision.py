"""float32 against float64 for every registered metric (alignment.METRICS) at large N.

Two float32 inputs (the same numbers for both dtypes, so input rounding is shared) of N samples and D features share a
64-dimensional latent and carry a common offset (real features have a large mean). Every metric is computed with
dtype=torch.float32 (the default) and dtype=torch.float64; the table lists both values and |diff|, and the exit code is
1 when any |diff| exceeds --tol (1e-5). Metrics that form N x N matrices (rbf_cka, rsa) run at --n-square samples
(the first rows of the same inputs): at N = 65536 one such float64 matrix is 34 GB.

States with the same parameters (the k-NN lists of the five k-NN metrics) are computed once per dtype, as
alignment.layerwise does.

    python benchmarks/bench_alignment_precision.py            # N = 65536, D = 768, N x N metrics at 8192
    python benchmarks/bench_alignment_precision.py --quick    # N = 4096, D = 256, N x N metrics at 2048
    python benchmarks/bench_alignment_precision.py --metrics mutual_knn,cknna --dim 96   # a subset, narrower
"""
import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import the checkout's alignment
import alignment as al  # noqa: E402
from alignment import metrics  # noqa: E402

SQUARE = ("rbf_cka", "rsa")  # form N x N matrices


def features(seed, n, d, offset):
    """Two N x D float32 inputs sharing a 64-dimensional latent, plus a common offset."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 64, generator=gen)
    a = z @ torch.randn(64, d, generator=gen) / 8 + torch.randn(n, d, generator=gen) + offset
    b = z @ torch.randn(64, d, generator=gen) / 8 + torch.randn(n, d, generator=gen) + offset
    return a, b


def scores(names, A, B, dtype):
    """{name: (score, seconds)}: what alignment.measure(name, A, B, dtype=dtype) returns, each side's state computed
    once for metrics that share it (the same feature function and parameters)."""
    firsts = list(dict.fromkeys(metrics.spec(n, "name").feat for n in names))
    out, last = {}, (None, None)
    # sharers adjacent; the k-NN searches (most of the time) last
    for name in sorted(names, key=lambda n: ("k" in al.PARAMS[n], firsts.index(metrics.spec(n, "name").feat))):
        t0 = time.perf_counter()
        s, p, ts, whos = metrics.pair_setup(name, A, B, {}, dtype, name)
        key = (s.feat, sorted(p.items()))
        if last[0] != key:
            last = key, None  # free the previous states first
            last = key, [s.feat(t, p, who) for t, who in zip(ts, whos)]
        sa, sb = last[1]
        out[name] = s.pair(s.stack([sa]), sb)[0], time.perf_counter() - t0
        print(f"  {name} {dtype}: {out[name][0]:.8f} in {out[name][1]:.1f} s", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 4096, D = 256, N x N metrics at 2048")
    ap.add_argument("--n", type=int, default=65536)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--n-square", type=int, default=8192, help="N for the metrics that form N x N matrices")
    ap.add_argument("--offset", type=float, default=1.0, help="common offset added to every feature")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--metrics", default=",".join(al.METRICS), help="comma-separated names (default: all)")
    args = ap.parse_args()
    chosen = args.metrics.split(",")
    if not set(chosen) <= set(al.METRICS):
        ap.error(f"--metrics: unknown {', '.join(sorted(set(chosen) - set(al.METRICS)))}")
    if args.quick:
        args.n, args.dim, args.n_square = 4096, 256, 2048
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; D = {args.dim}, offset {args.offset}, tol {args.tol:g}", flush=True)
    A, B = features(0, args.n, args.dim, args.offset)
    got = {}
    square = [m for m in chosen if m in SQUARE]
    for n, names in ((args.n, [m for m in chosen if m not in SQUARE]), (args.n_square, square)):
        for dtype in (torch.float32, torch.float64) if names else ():
            for name, v in scores(names, A[:n], B[:n], dtype).items():
                got.setdefault(name, {"n": n})[dtype] = v
    ok = True
    print(f"{'metric':18s} {'N':>6s} {'float32':>12s} {'float64':>12s} {'|diff|':>9s} {'s f32':>7s} {'s f64':>7s}")
    for name in chosen:
        g = got[name]
        (v32, t32), (v64, t64) = g[torch.float32], g[torch.float64]
        diff = abs(v32 - v64)
        ok &= diff <= args.tol
        print(f"{name:18s} {g['n']:6d} {v32:12.8f} {v64:12.8f} {diff:9.2e} {t32:7.1f} {t64:7.1f}"
              f"{'' if diff <= args.tol else '  FAIL'}")
    print("OK" if ok else f"FAIL: |diff| > {args.tol:g}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
