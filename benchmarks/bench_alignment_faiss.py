"""Neighbour search at large N: exact against faiss (knn="faiss", a flat index; knn="faiss-approx", an HNSW graph).

1. Approximate: mutual_knn (k = 10) at N = 10^5 (--n), D = 256 (--dim), exact against knn="faiss-approx": wall time
   of each (both inputs' lists; the score from them takes milliseconds), the recall@k of the graph against exact
   neighbours on its 1000-row sample (as reported by ApproximateKnnWarning) and on every row (from the exact lists
   computed here), and |Δ score|. The features have neighbours to find: a 16-dimensional latent shared by both
   inputs plus noise (a nearest-neighbour cosine of about 0.7); isotropic noise has none, and there no index beats
   the exhaustive search.
2. Flat: at N = 16384 (--flat-n), the lists of knn="faiss" against the exact lists of one input: time, rows whose
   ordered lists differ (near-ties within float rounding, see alignment/_faiss.py), and |Δ score| of mutual_knn.

    python benchmarks/bench_alignment_faiss.py                  # ~10 min on 2 cores, most of it the exact search
    python benchmarks/bench_alignment_faiss.py --quick          # N = 8192 and 4096
    python benchmarks/bench_alignment_faiss.py --quick --device cuda
"""
import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import the checkout's alignment
import alignment as al  # noqa: E402
from alignment import _knn  # noqa: E402


def features(seed, n, d, device):
    """Two N x D float32 inputs sharing a 16-dimensional latent (each its own map of it), plus noise."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 16, generator=gen)
    a = z @ torch.randn(16, d, generator=gen) / 4 + 0.5 * torch.randn(n, d, generator=gen)
    b = z @ torch.randn(16, d, generator=gen) / 4 + 0.5 * torch.randn(n, d, generator=gen)
    return a.to(device), b.to(device)


def timed(f, *args):
    """(f(*args), wall seconds)."""
    t0 = time.perf_counter()
    out = f(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def lists(X, k, backend, who=None):
    return [_knn.knn_from_features(x, k, backend=backend, who=w) for x, w in zip(X, who or [None] * len(X))]


def recall(found, exact):
    """Mean over rows of |found ∩ exact| / k (N x k lists)."""
    return (found.sidx[:, :, None] == exact.sidx[:, None, :]).any(-1).double().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 8192 (approximate) and 4096 (flat)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--flat-n", type=int, default=16384)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch (and faiss) threads (0: torch default)")
    ap.add_argument("--device", default="cpu", help="where the features live (e.g. cuda; the HNSW graph is on the CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, n_flat = (8192, 4096) if args.quick else (args.n, args.flat_n)
    k = args.k
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    approximate(features(0, n, args.dim, args.device), n, k, args.dim)
    flat(features(1, n_flat, args.dim, args.device), n_flat, k, args.dim)


def approximate(AB, n, k, dim):
    print(f"\n1. mutual_knn, N = {n}, D = {dim}, k = {k}: exact against knn='faiss-approx'")
    exact_lists, t_exact = timed(lists, AB, k, "exact")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphs, t_approx = timed(lists, AB, k, "faiss-approx", ["A", "B"])
    reports = [w.message for w in caught if isinstance(w.message, al.ApproximateKnnWarning)]
    exact, approx = (_knn.mutual(_knn.stack([a]), b)[0] for a, b in (exact_lists, graphs))
    full = [recall(g, e) for g, e in zip(graphs, exact_lists)]
    print(f"  exact         {t_exact:8.1f} s  score {exact:.5f}   (lists of both inputs, then the score)\n"
          f"  faiss-approx  {t_approx:8.1f} s  score {approx:.5f}   ({t_exact / t_approx:.1f}x faster; graph "
          f"build, efSearch tuning, search)\n"
          f"  recall@{k} on the 1000-row sample: A {reports[0].recall:.4f}, B {reports[1].recall:.4f} "
          f"(efSearch {reports[0].ef}, {reports[1].ef}); on all {n} rows: A {full[0]:.4f}, B {full[1]:.4f}\n"
          f"  |Δ score| {abs(exact - approx):.5f}")


def flat(XY, n, k, dim):
    X, Y = XY
    print(f"\n2. N = {n}, D = {dim}, k = {k}: exact against knn='faiss' (flat index)")
    (exact,), t_exact = timed(lists, [X], k, "exact")
    (found,), t_flat = timed(lists, [X], k, "faiss")
    differ = int((exact.idx != found.idx).any(1).sum())
    sets = int((exact.sidx != found.sidx).any(1).sum())
    d = abs(al.mutual_knn(X, Y, k=k) - al.mutual_knn(X, Y, k=k, knn="faiss"))
    print(f"  lists of one input: exact {t_exact:.1f} s, faiss {t_flat:.1f} s\n"
          f"  rows whose ordered lists differ: {differ} of {n} (as sets: {sets}); mutual_knn |Δ score| {d:.1e}")

if __name__ == "__main__":
    main()
