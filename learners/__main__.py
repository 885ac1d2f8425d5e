"""`python -m learners [--set KEY=VALUE ...]`: one learner, the same as `python -m worlds.run fit` (see
learners/experiments/fit.py for its settings, or `python -m learners --help fit`)."""
import sys

from platonic_core.experiment import main


def _argv(argv):
    """`fit` is the experiment unless the first argument names one (e.g. `--help fit`)."""
    return argv if argv and not argv[0].startswith("-") else ["fit", *argv]


if __name__ == "__main__":
    sys.exit(main(_argv(sys.argv[1:]), kind="simulation", prog="python -m learners"))
