"""Training throughput (pairs/s) of the Lightning learner against a bare PyTorch loop doing the same steps.

Both run the same encoder, loss, batches (the DataModule's deterministic stream), AdamW and schedule, on one CPU
thread (or the GPU when present), interleaved, best of --repeats. Three timings:
  bare       a hand-written loop: batch -> embed -> loss -> backward -> step
  trainer    pl.Trainer with logging every 50 steps, no checkpoints, no kernel tracking
  fit        learners.fit as users call it (CSV logs, 20 kernel evaluations, checkpoints, result extraction)
Goal: trainer / bare <= 1.25. Also checks that bare and trainer end at the same kernel (same numbers).

  .venv/bin/python benchmarks/bench_learners.py [--steps 1500] [--batch-size 512] [--encoder embedding]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, whatever the install state

import worlds  # noqa: E402
from learners import ContrastiveModule, PairDataModule, fit, make_encoder  # noqa: E402


def build(args, world, obs):
    pl.seed_everything(0, verbose=False)
    dm = PairDataModule(world, obs, args.window, batch_size=args.batch_size)
    module = ContrastiveModule(make_encoder(obs, args.dim, args.encoder), lr=args.lr, warmup=50,
                               max_steps=args.steps)
    return dm, module


def bare(args, world, obs, device):
    dm, module = build(args, world, obs)
    module = module.to(device)
    opt_cfg = module.configure_optimizers()
    opt, sched = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    stream = iter(dm.train_dataloader())
    t = time.perf_counter()
    for step in range(args.steps):
        batch = {k: v.to(device) for k, v in next(stream).items()}
        loss = module.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, module


def trainer(args, world, obs, device):
    dm, module = build(args, world, obs)
    tr = pl.Trainer(max_steps=args.steps, max_epochs=-1, accelerator=device.type, devices=1, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False,
                    log_every_n_steps=50)
    t = time.perf_counter()
    tr.fit(module, datamodule=dm)
    return time.perf_counter() - t, module


def full_fit(args, world, obs, device):
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fit(world, obs, dim=args.dim, window=args.window, encoder=args.encoder, batch_size=args.batch_size,
            lr=args.lr, warmup=50, max_steps=args.steps, run_dir=tmp, accelerator=device.type)
    return time.perf_counter() - t, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--encoder", default="embedding", choices=["embedding", "mlp"])
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    world = worlds.make_world("torus")
    obs = worlds.VectorCode(world.n_states) if args.encoder == "mlp" else worlds.Permutation(world.n_states)

    best = {"bare": np.inf, "trainer": np.inf, "fit": np.inf}
    modules = {}
    for _ in range(args.repeats):  # interleaved, so load changes hit all three alike
        for name, fn in (("bare", bare), ("trainer", trainer), ("fit", full_fit)):
            seconds, module = fn(args, world, obs, device)
            best[name] = min(best[name], seconds)
            if module is not None:
                modules[name] = module
    with torch.no_grad():
        kb, kt = (modules[n].cpu().embed_all().numpy() for n in ("bare", "trainer"))
    same = float(np.abs(kb @ kb.T - kt @ kt.T).max())
    pairs = args.steps * args.batch_size
    print(f"device {device}, {args.encoder} encoder, dim {args.dim}, batch {args.batch_size}, {args.steps} steps, "
          f"threads {args.threads}, best of {args.repeats}")
    for name, seconds in best.items():
        print(f"  {name:>8}: {seconds:7.2f} s  {pairs / seconds:12,.0f} pairs/s  "
              f"ratio to bare {seconds / best['bare']:.3f}")
    print(f"  max |kernel(bare) - kernel(trainer)| = {same:.2e}")
    ratio = best["trainer"] / best["bare"]
    print(f"Lightning overhead (trainer / bare): {ratio:.3f}x  goal <= 1.25x: {'met' if ratio <= 1.25 else 'NOT met'}")


if __name__ == "__main__":
    main()
