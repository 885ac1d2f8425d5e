"""Run output shared by every experiment: runs/<name>/results.json (config, seed, versions, numbers) and
PNG plots, each written to a temporary file in the same folder and renamed, so nothing is ever half-written."""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

_PACKAGES = ("platonic-toolkit", "numpy", "scipy", "networkx", "torch", "pytorch-lightning", "transformers", "timm",
             "matplotlib")


def versions() -> dict[str, str]:
    """Installed versions of Python and the main dependencies (missing ones omitted)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # JSON has no inf/nan: "inf", "-inf", "nan"
    if isinstance(obj, Path):
        return str(obj)
    return obj


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it over `path` (atomic on POSIX).

    On any error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Atomically write `obj` as indented JSON (numpy values converted; non-finite floats as strings)."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Atomically save a matplotlib figure as PNG and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_results(out_dir: str | os.PathLike, config: dict, results: dict, seed: int | None = None) -> Path:
    """Write out_dir/results.json holding the resolved config, seed, package versions and the numbers."""
    return write_json(Path(out_dir) / "results.json",
                      {"config": config, "seed": seed, "versions": versions(), "results": results})
