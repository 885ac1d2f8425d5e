"""Pairs for the learners, fed by a world and an observation.

Three sources: 'stream' (fresh i.i.d. draws from the exact P_coor over observed values: the infinite-data limit),
'pairs' (a finite pool of such draws), 'trajectory' (every pair within the window of one sampled, observed
trajectory). Each batch is a function of (seed, global step, rank) only, so the data order is deterministic, DDP
ranks see disjoint data, and a run resumed from a checkpoint continues with exactly the batches it would have seen.
"""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from platonic_core.checks import check_bool, check_choice, check_int
from worlds import exact_pairs, trajectory_pairs
from worlds.observations import check_observation

from ._checks import check_cooccurrence

SOURCES = ("stream", "pairs", "trajectory")


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


class ExactSource:
    """I.i.d. pairs from a joint P (N, N); negatives from its marginal."""

    def __init__(self, P: np.ndarray):
        self.n = P.shape[0]
        self.pair_cdf = np.cumsum(P.ravel())
        self.neg_cdf = np.cumsum(P.sum(axis=1))

    def batch(self, rng: np.random.Generator, step: int, rank: int, world_size: int, size: int, negatives: int):
        idx = _draw(self.pair_cdf, rng.random(size))
        out = {"a": idx // self.n, "b": idx % self.n}
        if negatives:
            out["neg"] = _draw(self.neg_cdf, rng.random((size, negatives)))
        return out


class PoolSource:
    """A finite pool of pairs (M, 2), visited in epochs without replacement (one permutation per epoch, shared by
    the ranks, which take interleaved batches); negatives from the pool's own marginal (its second column)."""

    def __init__(self, pairs: np.ndarray, seed: int):
        self.pairs, self.seed = pairs, seed
        self._epoch, self._perm = -1, None

    def batch(self, rng: np.random.Generator, step: int, rank: int, world_size: int, size: int, negatives: int):
        m = len(self.pairs)
        per_epoch = m // size
        j = step * world_size + rank
        epoch, k = divmod(j, per_epoch)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(m)
        rows = self.pairs[self._perm[k * size:(k + 1) * size]]
        out = {"a": rows[:, 0], "b": rows[:, 1]}
        if negatives:
            out["neg"] = self.pairs[rng.integers(m, size=(size, negatives)), 1]
        return out


class PairBatches(IterableDataset):
    """An endless stream of batches (dicts of int64 tensors a (B,), b (B,), neg (B, K)) for one rank."""

    def __init__(self, source, size: int, negatives: int, seed: int, rank: int = 0, world_size: int = 1,
                 start_step: int = 0):
        self.source, self.size, self.negatives = source, size, negatives
        self.seed, self.rank, self.world_size, self.start_step = seed, rank, world_size, start_step

    def __iter__(self):
        step = self.start_step
        while True:
            rng = np.random.default_rng([self.seed, step, self.rank])
            batch = self.source.batch(rng, step, self.rank, self.world_size, self.size, self.negatives)
            yield {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.int64)) for k, v in batch.items()}
            step += 1


class PairDataModule(pl.LightningDataModule):
    """Pairs of observed values from `world` seen through `observation` within `window`.

    data: 'stream' | 'pairs' (n_pairs i.i.d. exact draws) | 'trajectory' (a sampled trajectory of `length`).
    batch_size is global (split over DDP ranks); negatives = K explicit negatives per pair (0: in-batch).
    `.cooccurrence` is the exact P_coor over observed values; `.pairs` the finite pool (None when streaming).
    """

    def __init__(self, world, observation, window: int, data: str = "stream", batch_size: int = 512,
                 negatives: int = 0, n_pairs: int | None = None, length: int | None = None,
                 include_self: bool = True, seed: int = 0):
        super().__init__()
        owner = "PairDataModule"
        check_observation(observation, world.n_states, owner)
        self.data = check_choice(data, "data", owner, SOURCES)
        self.window = check_int(window, "window", owner, low=0)
        self.batch_size = check_int(batch_size, "batch_size", owner, low=2)
        self.negatives = check_int(negatives, "negatives", owner, low=0)
        self.seed = check_int(seed, "seed", owner, low=0)
        include_self = check_bool(include_self, "include_self", owner)
        if n_pairs is not None:
            check_int(n_pairs, "n_pairs", owner, low=1)
        if length is not None:
            check_int(length, "length", owner, low=2)
        P_world = world.cooccurrence(self.window, include_self)
        self.cooccurrence = check_cooccurrence(observation.pushforward(P_world, self.window, include_self), owner)
        self.pairs = None
        if self.data == "pairs":
            if n_pairs is None:
                raise ValueError(f"The 'n_pairs' parameter of {owner} is required with data='pairs'.")
            self.pairs = exact_pairs(self.cooccurrence, check_int(n_pairs, "n_pairs", owner, low=1), seed=seed)
        elif self.data == "trajectory":
            if length is None:
                raise ValueError(f"The 'length' parameter of {owner} is required with data='trajectory'.")
            z = world.sample(check_int(length, "length", owner, low=2), seed=seed)
            self.pairs = trajectory_pairs(observation.observe(z, seed=seed), self.window, include_self)
        if self.pairs is not None and len(self.pairs) < self.batch_size:
            raise ValueError(f"The 'batch_size' parameter of {owner} must be <= the number of pairs in the pool "
                             f"({len(self.pairs)}). Got {self.batch_size}.")
        self.source = ExactSource(self.cooccurrence) if self.pairs is None else PoolSource(self.pairs, self.seed)

    def train_dataloader(self):
        world_size = self.trainer.world_size if self.trainer else 1
        rank = self.trainer.global_rank if self.trainer else 0
        start = self.trainer.global_step if self.trainer else 0  # restored before this is called on resume
        if self.batch_size % world_size:
            raise ValueError(f"The 'batch_size' parameter of PairDataModule must be divisible by the number of "
                             f"processes ({world_size}). Got {self.batch_size}.")
        batches = PairBatches(self.source, self.batch_size // world_size, self.negatives, self.seed, rank,
                              world_size, start)
        return DataLoader(batches, batch_size=None, num_workers=0)
