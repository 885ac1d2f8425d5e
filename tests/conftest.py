"""Shared pytest configuration: one thread per test process, hypothesis profiles, and the hub kept offline.

`ci` (default) is deterministic and quick; `thorough` runs many more examples.
Select with HYPOTHESIS_PROFILE=thorough.
"""
import os

# `make test` runs one pytest worker per core (pytest-xdist): a second thread per worker only spins on a core the
# other worker holds (L-BFGS probes ran 64x slower so), so torch and BLAS get one thread each, in the commands the
# tests start too. The variables act on libraries not yet loaded; threadpool_limits on those already loaded.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy  # noqa: E402
import scipy.linalg  # noqa: E402, F401  (loads scipy's own BLAS, so that the limit below reaches it)
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

torch.set_num_threads(1)
threadpool_limits(1)
del numpy


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test starts with one torch thread, whatever the test before it set."""
    torch.set_num_threads(1)

# The tests never reach the Hugging Face hub (the toolkit honours the user's own setting; CI has no hub access).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
