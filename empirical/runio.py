"""Run output for empirical/: the toolkit's one set of atomic writers (temporary file beside the target, then
rename), from worlds.runio."""
from worlds.runio import atomic_write, versions, write_json

__all__ = ["atomic_write", "versions", "write_json"]
