"""The simulations, end to end: `python -m worlds.run [NAME] [--set KEY=VALUE ...] [--seed N] [--out DIR]`.

NAME defaults to `convergence`; `--help` lists the experiments and `--help NAME` shows one's settings. Each run
writes <out>/results.json (resolved config, seed, versions, numbers) and its figures; <out> defaults to runs/NAME.
The experiments live in learners.experiments; the runner and the command line are platonic_core.experiment's,
shared with `python -m empirical.run`.
"""
import sys

from platonic_core.experiment import main as _main


def main(argv=None) -> int:
    return _main(argv, kind="simulation")


if __name__ == "__main__":
    sys.exit(main())
