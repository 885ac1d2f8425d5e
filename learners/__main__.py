"""One learner from the command line: `python -m learners --world torus --observation vector --loss infonce ...`.

Writes <run-dir>/results.json (config, comparison report) beside the checkpoints and CSV logs, and prints the
report. Trainer options pass through, so `--accelerator cpu --devices 2 --strategy ddp` runs DDP (Lightning
relaunches this command once per extra process; only rank 0 writes).
"""
from __future__ import annotations

import argparse
import sys

import torch
from pytorch_lightning.utilities import rank_zero_only

from platonic_core.runio import write_results
from worlds import Permutation, TokenCode, VectorCode, list_worlds, make_world

from .fit import fit

OBSERVATIONS = {"permutation": Permutation, "vector": VectorCode, "token": TokenCode}


def _devices(text: str):
    return text if text == "auto" else int(text)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m learners", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="torus", choices=list_worlds())
    ap.add_argument("--observation", default="permutation", choices=sorted(OBSERVATIONS))
    ap.add_argument("--loss", default="infonce", choices=["infonce", "nce"])
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--data", default="stream", choices=["stream", "pairs", "trajectory"])
    ap.add_argument("--n-pairs", type=int, default=None)
    ap.add_argument("--length", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--negatives", type=int, default=0, help="K explicit negatives (0: in-batch)")
    ap.add_argument("--learn-bias", action="store_true")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", default="runs/fit")
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--devices", type=_devices, default=1)
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--num-nodes", type=int, default=1)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--no-resume", dest="resume", action="store_false")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)  # more threads only spin on small matrices and shared cores

    world = make_world(args.world, seed=args.seed)
    obs = OBSERVATIONS[args.observation](world.n_states, seed=args.seed)
    result = fit(world, obs, args.loss, args.dim, args.window, data=args.data, n_pairs=args.n_pairs,
                 length=args.length, batch_size=args.batch_size, negatives=args.negatives,
                 learn_bias=args.learn_bias, lr=args.lr, max_steps=args.max_steps, seed=args.seed,
                 run_dir=args.run_dir, resume=args.resume, accelerator=args.accelerator, devices=args.devices,
                 strategy=args.strategy, num_nodes=args.num_nodes, precision=args.precision)
    report = result.report(population=False)
    if rank_zero_only.rank == 0:
        learned = report["learned"]
        print(f"pearson_offdiag {learned['pearson_offdiag']:.5f}  rel_error {learned['rel_error']:.5f}  "
              f"plugin rel_error {report['plugin'].get('rel_error', float('nan')):.5f}  "
              f"pairs {report['pair_budget']}")
        path = write_results(args.run_dir, {**result.config, "run_dir": args.run_dir},
                             {**report, "history": result.history}, seed=args.seed)
        print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
