"""Helpers shared by the test modules."""
import re

import numpy as np
import pytest


def raises(exc, match, f, *args, **kw):
    """f(*args, **kw) raises exc with `match` in its message, taken literally."""
    with pytest.raises(exc, match=re.escape(match)):
        f(*args, **kw)


def related(seed, n, da, db, shared=3):
    """Two N x da / N x db Gaussian feature sets whose first `shared` columns share a component."""
    rs = np.random.RandomState(seed)
    A, B = rs.randn(n, da), rs.randn(n, db)
    B[:, :shared] += A[:, :shared]
    return A, B


def counter(seed):
    """perm_fn for calibrated_similarity: the p-th call returns alignment's p-th permutation."""
    import alignment as al

    state = {"p": 0}

    def perm_fn(n, device):
        state["p"] += 1
        return al.permutation(n, seed + state["p"] - 1, device)
    return perm_fn


def cli(argv, kind, capsys):
    """(exit status, stdout, stderr) of one kind's command line run in-process."""
    from platonic_core.experiment import main

    try:
        code = main(argv, kind=kind)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
