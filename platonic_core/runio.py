"""Run output shared by the whole toolkit: atomic files and folders, the one results schema, figures, cache keys.

Every file is written to a temporary sibling and renamed over its target, so nothing is ever half-written; a
temporary file left by a killed writer (its process gone) is removed the next time its target is written.
results.json has one schema: {"config", "seed", "versions", "results", "timings"}.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

_PACKAGES = ("platonic-toolkit", "numpy", "scipy", "networkx", "torch", "pytorch-lightning", "transformers", "timm",
             "matplotlib", "accelerate")


def versions() -> dict[str, str]:
    """Installed versions of Python and the main dependencies (missing ones omitted)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def jsonable(obj):
    """obj with numpy values, tuples and paths turned into JSON types; non-finite floats as "inf", "-inf", "nan"."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


_UMASK = os.umask(0)
os.umask(_UMASK)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(path: Path) -> None:
    """Remove temporary siblings of `path` whose writer process is gone (".NAME.PID.XXXX.tmp")."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _fsync(path) -> None:
    """Flush `path` (a file, or a folder's entries) to disk, where the system lets a folder be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a folder cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, flush it to disk, then rename it over `path` and
    flush the folder (atomic and durable on POSIX: after a crash `path` is the old file or the whole new one).

    On any error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Atomically write `obj` as indented JSON (see `jsonable`)."""
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def publish_dir(path: str | os.PathLike, fill) -> Path:
    """Create the folder `path` whole: `fill(tmp_dir)` writes into a temporary sibling, which is then renamed to
    `path`. If `path` appeared meanwhile (a concurrent run), that copy is kept and ours discarded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        fill(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def legend_outside(ax, **kw):
    """The legend of `ax` to the right of its axes, where it covers no data and no annotation; the figure's
    constrained layout makes room for it beside the next axes."""
    ax.figure.set_layout_engine("constrained")
    return ax.legend(**{"fontsize": 7, "loc": "upper left", "bbox_to_anchor": (1.02, 1), "borderaxespad": 0, **kw})


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Atomically save a matplotlib figure as PNG (tight bounding box) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def git_commit(where: str | os.PathLike = Path(__file__).parent) -> str | None:
    """The commit of the git checkout holding `where` (this package's source by default), with " dirty" when its
    work tree has changes; None outside git or without git (never an error: it only labels a run)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        return commit + (" dirty" if git("status", "--porcelain").strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_results(out_dir: str | os.PathLike, config: dict, results: dict, seed: int | None = None,
                  timings: dict | None = None, summary: str | None = None, command: str | None = None) -> Path:
    """Write out_dir/results.json in the one schema: resolved config, seed, package versions, the numbers, the
    timings (when the run was started, how many seconds it took), and what a person reads first: the summary the
    terminal printed, the command that made the run and the git commit of the code (readers treat the last three
    as optional: older files lack them)."""
    return write_json(Path(out_dir) / "results.json", {"config": config, "seed": seed, "versions": versions(),
                                                       "results": results, "timings": timings or {},
                                                       "summary": summary, "command": command,
                                                       "commit": git_commit()})


def digest(*parts, length: int = 20) -> str:
    """A hex digest of everything that defines a cached or saved thing: JSON-able values (dict keys sorted),
    strings, and numpy arrays (dtype, shape and bytes). Used for every cache key and resume key."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"array {a.dtype.str} {a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(json.dumps(jsonable(part), sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()[:length]
