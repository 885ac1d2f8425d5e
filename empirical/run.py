"""Real models, end to end: `python -m empirical.run [NAME] [--set KEY=VALUE ...] [--seed N] [--out DIR]`.

NAME defaults to `cross_modal`; `--help` lists the experiments and `--help NAME` shows one's settings. Each run
writes <out>/results.json (resolved config, seed, versions, numbers) and its figures; <out> defaults to runs/NAME.
The experiments live in empirical.experiments; the runner and the command line are platonic_core.experiment's,
shared with `python -m worlds.run`.
"""
import sys

from platonic_core.experiment import main as _main


def main(argv=None) -> int:
    return _main(argv, kind="empirical")


if __name__ == "__main__":
    sys.exit(main())
