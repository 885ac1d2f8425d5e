"""Optional dependencies: the metrics (`alignment`) need only numpy and torch; the simulation, the real-model side
and faiss are extras of the platonic-toolkit distribution (pyproject.toml lists the same distributions, without
pins: those live in constraints.txt). `require` turns a missing one into a one-line ImportError naming the extra."""
from __future__ import annotations

import importlib.util
import sys

DIST = "platonic-toolkit"
# extra -> {distribution: the top-level module it installs}
EXTRAS = {
    "sim": {"scipy": "scipy", "networkx": "networkx", "pytorch-lightning": "pytorch_lightning",
            "hypothesis": "hypothesis", "matplotlib": "matplotlib", "tqdm": "tqdm", "threadpoolctl": "threadpoolctl"},
    "empirical": {"transformers": "transformers", "timm": "timm", "datasets": "datasets",
                  "huggingface-hub": "huggingface_hub", "safetensors": "safetensors", "pillow": "PIL"},
    "faiss": {"faiss-cpu": "faiss"},
}


def hint(extra: str) -> str:
    """The command that installs `extra`."""
    return f"pip install '{DIST}[{extra}]'"


def require(who: str, extra: str) -> None:
    """ModuleNotFoundError "`who` needs the `extra` extra: pip install ..." unless every module of `extra` is
    installed. Modules are looked up, not imported, so a light import stays light."""
    missing = [m for m in EXTRAS[extra].values() if not _installed(m)]
    if missing:
        raise ModuleNotFoundError(f"{who} needs the '{extra}' extra: {hint(extra)} (missing: {', '.join(missing)})",
                                  name=missing[0])


def _installed(module: str) -> bool:
    if module in sys.modules:  # imported (find_spec refuses a module without __spec__, e.g. a stand-in) or blocked
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None
