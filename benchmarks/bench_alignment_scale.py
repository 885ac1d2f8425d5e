"""Memory and time of the alignment metrics at large N (one run).

1. N = 16384, D = 768: cka and unbiased_cka through the N x N Gram path (what they did before: both centred linear
   kernels formed, then HSIC) against the feature path they take now that D < N (HSIC from X^T Y, X^T X, Y^T Y and row
   norms), both timed and measured in this run; the two values must agree to 1e-6 (exit code 1 otherwise; float32,
   the default dtype, so the agreement is to float32 rounding; tests check 1e-12 in float64).
2. N = 65536, D = 768: cka, unbiased_cka, mutual_knn and cknna (k = 10, exact neighbour search) on the feature path:
   time and peak extra memory, goal < 2 GB each.

Peak extra memory: on the CPU the growth of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs, freed heap returned with malloc_trim first) over its size before the call; on CUDA
torch.cuda.max_memory_allocated over the memory allocated before it. The inputs themselves (2 x N x D float32) are
allocated before and not counted.

    python benchmarks/bench_alignment_scale.py                  # both parts (~8 min on 2 cores, most of it k-NN)
    python benchmarks/bench_alignment_scale.py --quick          # N = 4096 and 8192
    python benchmarks/bench_alignment_scale.py --quick --device cuda
"""
import argparse
import ctypes
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import the checkout's alignment
import alignment as al  # noqa: E402
from alignment import _hsic  # noqa: E402

GB = 1 << 30


def features(seed, n, d, device):
    """Two N x D float32 inputs sharing a 64-dimensional latent."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 64, generator=gen)
    a = z @ torch.randn(64, d, generator=gen) / 8 + torch.randn(n, d, generator=gen)
    b = z @ torch.randn(64, d, generator=gen) / 8 + torch.randn(n, d, generator=gen)
    return a.to(device), b.to(device)


def _rss_kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def measured(device, f, *args):
    """(result, wall seconds, peak extra bytes) of f(*args)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak resident set to the current one
        base = _rss_kb("VmRSS:") * 1024
    t0 = time.perf_counter()
    out = f(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _rss_kb("VmHWM:") * 1024 - base
    return out, time.perf_counter() - t0, peak


def gram_path(X, unbiased):
    """The state cka used for every input before the feature form: the N x N centred kernel."""
    Xc = _hsic.centre(X)
    return _hsic._finish(Xc @ Xc.T, unbiased, True)


def gram_cka(A, B, unbiased):
    return _hsic.cka(gram_path(A, unbiased), gram_path(B, unbiased))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 4096 (Gram vs feature) and 8192 (feature path)")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--device", default="cpu", help="where the features live and everything runs (e.g. cuda)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_gram, n_big = (4096, 8192) if args.quick else (16384, 65536)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = True

    A, B = features(0, n_gram, args.dim, device)
    print(f"\n1. N = {n_gram}, D = {args.dim}: the N x N Gram path against the feature path")
    for name, unbiased in (("cka", False), ("unbiased_cka", True)):
        gram, t_gram, m_gram = measured(device, gram_cka, A, B, unbiased)
        feat, t_feat, m_feat = measured(device, al.measure, name, A, B)
        diff = abs(gram - feat)
        ok &= diff <= 1e-6
        print(f"{name}:\n  Gram path    {t_gram:7.2f} s  peak extra {m_gram / GB:6.2f} GB  value {gram:.7f}\n"
              f"  feature path {t_feat:7.2f} s  peak extra {m_feat / GB:6.2f} GB  value {feat:.7f}\n"
              f"  ratio Gram / feature: time {t_gram / t_feat:.1f}x, memory {m_gram / max(m_feat, 1):.1f}x; "
              f"|diff| {diff:.1e}: {'OK' if diff <= 1e-6 else 'FAIL (> 1e-6)'}")
    del A, B

    A, B = features(1, n_big, args.dim, device)
    print(f"\n2. N = {n_big}, D = {args.dim}: the feature path (goal: peak extra memory < 2 GB each)")
    for name in ("cka", "unbiased_cka", "mutual_knn", "cknna"):
        value, t, m = measured(device, al.measure, name, A, B)
        good = m < 2 * GB
        ok &= good
        print(f"{name:13s} {t:8.2f} s  peak extra {m / GB:6.2f} GB  value {value:.6f}  {'OK' if good else 'FAIL'}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
