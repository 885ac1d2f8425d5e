"""Sparse vs dense exact cooccurrence on a large sparse world.

    python benchmarks/bench_worlds.py [--side 100] [--window 16]

World: lazy random walk on a side x side periodic grid (default N = 10^4 states), no teleport, W = 16.
Sparse path: MarkovWorld.cooccurrence on the CSR transition (W sparse products D A^d).
Baseline: the same formula with dense matrix powers, A^d = A^(d-1) @ A on the dense N x N transition.
Prints both times, the ratio (goal >= 10x) and the largest difference between the two (must be <= 1e-10).
"""
from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np
import scipy.sparse as sp

import worlds


def dense_power_cooccurrence(a: np.ndarray, pi: np.ndarray, window: int) -> np.ndarray:
    """P_coor(W) from explicit dense matrix powers: [D + sum_d (D A^d + (D A^d)^T)] / (2W + 1)."""
    total = np.zeros_like(a)
    power = np.eye(a.shape[0])
    for _ in range(window):
        power = power @ a
        total += pi[:, None] * power
    return (np.diag(pi) + total + total.T) / (2 * window + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=100, help="grid side; N = side^2 (default %(default)s)")
    parser.add_argument("--window", type=int, default=16, help="W (default %(default)s)")
    args = parser.parse_args()

    graph = nx.convert_node_labels_to_integers(nx.grid_2d_graph(args.side, args.side, periodic=True))
    world = worlds.random_walk(graph, lazy=0.5, sparse=True)
    pi = world.stationary
    print(f"world: lazy torus walk, N = {world.n_states}, W = {args.window}, nnz(A) = {world.transition.nnz}")

    t0 = time.perf_counter()
    p_sparse = world.cooccurrence(args.window)
    t_sparse = time.perf_counter() - t0
    print(f"sparse path:       {t_sparse:9.3f} s  (nnz(P_coor) = {p_sparse.nnz})")

    dense_a = world.transition.toarray()
    t0 = time.perf_counter()
    p_dense = dense_power_cooccurrence(dense_a, pi, args.window)
    t_dense = time.perf_counter() - t0
    print(f"dense matrix power: {t_dense:9.3f} s")

    diff = np.abs(sp.csr_matrix(p_sparse) - sp.csr_matrix(p_dense)).max()
    print(f"max |difference|:   {diff:.2e}  ({'OK' if diff <= 1e-10 else 'FAIL'}: tolerance 1e-10)")
    print(f"speed-up (dense / sparse): {t_dense / t_sparse:.1f}x  (goal >= 10x)")
    if diff > 1e-10:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
