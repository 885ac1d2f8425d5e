"""The simulations behind `python -m worlds.run NAME`: one module per experiment, each following the experiment
contract of platonic_core.experiment (a one-line description, DEFAULTS, optional TYPES and check, run(cfg, out)).
Helpers shared by them live in `_common`. Module-level imports stay light: listing experiments imports no torch.
"""
