"""Thread counts for a block: one OpenBLAS thread (on the small matrices of the population optimum, extra BLAS threads
only spin-wait: 20x slower measured on 2 busy cores; Linux /proc lookup of the loaded OpenBLAS builds, a no-op
elsewhere), and torch's CPU threads (fit's setting), each restored afterwards."""
from __future__ import annotations

import ctypes
from contextlib import contextmanager

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


def _openblas_handles():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1]}
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre in _PREFIXES:
            for suf in _SUFFIXES:
                get = getattr(lib, f"{pre}_get_num_threads{suf}", None)
                put = getattr(lib, f"{pre}_set_num_threads{suf}", None)
                if get is not None and put is not None:
                    out.append((get, put))
    return out


@contextmanager
def single_thread_blas():
    handles = _openblas_handles()
    saved = [get() for get, _ in handles]
    for _, put in handles:
        put(1)
    try:
        yield
    finally:
        for (_, put), n in zip(handles, saved):
            put(n)


@contextmanager
def torch_threads(n: int):
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)  # the caller's setting is theirs
