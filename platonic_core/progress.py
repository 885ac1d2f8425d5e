"""One progress helper for every step that can take more than a few seconds: a tqdm bar (with the time left) on a
terminal, nothing when stderr is not a terminal or the run is quiet. Bars go to stderr and vanish when done, so the
final summary on stdout is never in their way."""
from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager

_quiet = False


def enabled() -> bool:
    """Whether bars and announcements are shown: stderr is a terminal and no run asked for quiet."""
    return not _quiet and sys.stderr.isatty()


@contextmanager
def quiet(flag: bool = True):
    """Silence bars and announcements inside the block (the runner's --quiet)."""
    global _quiet
    before, _quiet = _quiet, bool(flag) or _quiet
    try:
        yield
    finally:
        _quiet = before


def progress(iterable=None, *, total: int | None = None, desc: str | None = None, unit: str = "it",
             delay: float = 0):
    """`iterable` wrapped in a tqdm bar when `enabled()`, else returned as it is (no tqdm import). With `delay`
    (seconds) the bar appears only if the loop is still running by then: library loops that are usually quick."""
    if not enabled():
        return iterable if iterable is not None else _Silent()
    from tqdm.auto import tqdm

    # a terminal that reports no size (a fresh pseudo-terminal) gets $COLUMNS x $LINES or 80 x 24, not a bar of
    # zero width hidden below a screen of zero rows
    size = shutil.get_terminal_size()
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, ncols=size.columns,
                nrows=size.lines, delay=delay)


def announce(message: str) -> None:
    """Say what is about to happen (models, datasets, sweeps, permutations), on stderr, when `enabled()`."""
    if enabled():
        print(message, file=sys.stderr, flush=True)


class _Silent:
    """What `progress(total=...)` returns when bars are off: update() and close() do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
