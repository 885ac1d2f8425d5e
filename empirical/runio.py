"""Atomic writes and run metadata for empirical/ (write to a temporary file in the same folder, then rename)."""
import json
import os
import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write):
    """Call `write(file_path)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(path, obj):
    """Write `obj` as indented JSON to `path` atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")
    return atomic_write(path, write)


def versions():
    """Versions of the libraries that change the numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("torch", "timm", "transformers", "numpy", "platonic-toolkit"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
