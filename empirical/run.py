"""Command line: `python -m empirical.run EXPERIMENT [options]`; `--help` lists the experiments."""
import argparse
import json
import sys
from pathlib import Path

from empirical.experiments import EXPERIMENTS, summary


def _names(values):
    """Accept both `--models a b` and `--models a,b`."""
    if values is None:
        return None
    return [v for item in values for v in item.split(",") if v]


def _option(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--opt expects KEY=VALUE. Got {text!r} instead.")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parser():
    listing = "\n".join(f"  {name:<16} {summary(name)}" for name in sorted(EXPERIMENTS))
    p = argparse.ArgumentParser(
        prog="python -m empirical.run",
        description="Run an empirical experiment on real models; writes runs/<experiment>/results.json and plots.",
        epilog=f"experiments:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", choices=sorted(EXPERIMENTS), metavar="EXPERIMENT", help="one of the experiments below")
    p.add_argument("--out", type=Path, help="run directory (default runs/<experiment>)")
    p.add_argument("--n-samples", type=int, help="number of paired samples (default: the experiment's)")
    p.add_argument("--models", nargs="+", help="model names (comma or space separated; default: the experiment's)")
    p.add_argument("--metrics", nargs="+", default=["mutual_knn"], help="alignment metrics (default mutual_knn)")
    p.add_argument("--k", type=int, default=10, help="neighbours for k-NN metrics (default 10)")
    p.add_argument("--dataset", default="tuxpaint", help="tuxpaint, a folder of image+caption files, or a .jsonl")
    p.add_argument("--force", action="store_true", help="recompute cached features")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, ...")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--permutations", type=int, default=100, help="permutations for the null calibration")
    p.add_argument("--cache-dir", type=Path, help="feature cache root (default $PLATONIC_CACHE or ~/.cache/platonic)")
    p.add_argument("--opt", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="experiment-specific option (repeatable)")
    return p


def config(args):
    """The cfg dict an experiment receives (see empirical.experiments)."""
    return {
        "experiment": args.experiment,
        "out": args.out if args.out is not None else Path("runs") / args.experiment,
        "n_samples": args.n_samples,
        "models": _names(args.models),
        "metrics": _names(args.metrics),
        "k": args.k,
        "dataset": args.dataset,
        "force": args.force,
        "seed": args.seed,
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "permutations": args.permutations,
        "cache_dir": args.cache_dir,
        "options": dict(args.opt),
    }


def main(argv=None):
    args = parser().parse_args(argv)
    cfg = config(args)
    EXPERIMENTS[args.experiment](cfg)
    print(f"wrote {Path(cfg['out']) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
