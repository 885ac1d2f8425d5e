"""The real-model experiments behind `python -m empirical.run NAME`: one module per experiment, each following the
experiment contract of platonic_core.experiment (a one-line description, DEFAULTS, optional TYPES and check,
run(cfg, out)). Helpers shared by them live in `_common`. Module-level imports stay light: listing experiments and
`--help NAME` import no torch.
"""
