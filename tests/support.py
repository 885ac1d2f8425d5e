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
