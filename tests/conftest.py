"""Shared pytest configuration: hypothesis profiles, and the hub kept offline.

`ci` (default) is deterministic and quick; `thorough` runs many more examples.
Select with HYPOTHESIS_PROFILE=thorough.
"""
import os

from hypothesis import HealthCheck, settings

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
