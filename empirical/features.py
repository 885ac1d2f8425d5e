"""Per-layer features of real models, and a resumable on-disk cache of them.

- Vision (paper App. C.2): the output of every block, pooled per sample — the class token for ViTs with one
  ("cls"), the global average over positions otherwise ("avg") — then the model's pooled pre-logits embedding.
- Language: every hidden state (embeddings, then each layer), averaged over the tokens the attention mask keeps.

`extract(model, inputs)` returns a list with one float32 CPU tensor (N x D_l) per layer.
`cached(name, dataset)` does the same for a `PairedDataset` through a cache keyed by (model, dataset name and
content fingerprint, sample ids, pooling, dtype, max_length, FEATURE_VERSION): chunks of samples are written
atomically as they finish, so an interrupted run resumes where it stopped; `force=True` recomputes.
Both validate every option (model name, pooling, dtype, device, batch_size, max_length, chunk_size, force) before
any model is loaded or any image decoded.

A cache file that cannot be read (a truncated or garbage chunk, a damaged key.json) is never an error and never
used: it is recomputed and overwritten, with a `CorruptCacheWarning` naming the file.
"""
import json
import re
from pathlib import Path

import torch
from torch import nn

from empirical import models
from empirical.models import CorruptCacheWarning  # noqa: F401 - re-exported: the warning for damaged cache files
from platonic_core import runio
from platonic_core.checks import check_bool, check_int, check_out_dir, fail, param

FEATURE_VERSION = 1  # bump when extraction changes what it returns: old cache entries are then ignored
VISION_POOLING = ("auto", "cls", "avg")
LANGUAGE_POOLING = ("auto", "mean")


def default_cache_dir():
    """$PLATONIC_CACHE/features or ~/.cache/platonic/features."""
    return models.cache_root() / "features"


def vision_blocks(net):
    """The blocks whose outputs are features: ViT/EfficientNet `blocks` (stages flattened), ResNet `layer1..4`
    blocks, or else the modules timm lists in `feature_info`."""
    if isinstance(getattr(net, "blocks", None), nn.Sequential):
        groups = list(net.blocks)
    elif all(hasattr(net, f"layer{i}") for i in range(1, 5)):
        groups = [getattr(net, f"layer{i}") for i in range(1, 5)]
    elif getattr(net, "feature_info", None):
        groups = [net.get_submodule(f["module"]) for f in net.feature_info]
    else:
        raise ValueError(f"Cannot find the blocks of {type(net).__name__}: expected timm's `blocks`, `layer1..4` "
                         "or `feature_info`.")
    return [b for g in groups for b in (g if isinstance(g, nn.Sequential) else [g])]


def _pool(x, pooling):
    if x.ndim == 4:  # B x C x H x W
        return x.mean(dim=(2, 3))
    if x.ndim == 3:  # B x T x D tokens
        return x[:, 0] if pooling == "cls" else x.mean(dim=1)
    raise ValueError(f"Block output of shape {tuple(x.shape)} is neither B x C x H x W nor B x T x D.")


def _vision_batch(m, images, pooling):
    net = m.model
    if pooling == "auto":
        pooling = "cls" if getattr(net, "cls_token", None) is not None else "avg"
    outs = []
    hooks = [b.register_forward_hook(lambda mod, inp, out: outs.append(_pool(out, pooling)))
             for b in vision_blocks(net)]
    try:
        x = torch.stack([m.transform(im) for im in images]).to(m.device, m.dtype)
        head = net.forward_head(net.forward_features(x), pre_logits=True)
    finally:
        for h in hooks:
            h.remove()
    return outs + [head]


def _language_batch(m, texts, max_length):
    enc = m.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(m.device) for k, v in enc.items()}
    # The base model gives every hidden state without computing next-token logits over the whole vocabulary.
    out = m.model.base_model(**enc, output_hidden_states=True)
    mask = enc["attention_mask"].unsqueeze(-1).to(out.hidden_states[0].dtype)
    return [(h * mask).sum(1) / mask.sum(1) for h in out.hidden_states]


def _check_options(owner, modality, pooling, batch_size, device, dtype, max_length, progress):
    """Validate the options shared by extract and cached (cheap: nothing is loaded)."""
    allowed = VISION_POOLING if modality == "vision" else LANGUAGE_POOLING
    if not isinstance(pooling, str) or pooling not in allowed:
        fail(param("pooling", owner), f"be one of {', '.join(allowed)} for a {modality} model", repr(pooling))
    check_int(batch_size, "batch_size", owner, 1)
    check_int(max_length, "max_length", owner, 1)
    models.check_dtype(dtype, owner)
    models.resolve_device(device, owner)
    check_bool(progress, "progress", owner)


def _check_inputs(inputs, modality, owner="extract"):
    """`inputs` as a list of PIL images (vision) or non-empty strings (language), at least one."""
    from PIL import Image

    who = param("inputs", owner)
    kind = "PIL images" if modality == "vision" else "strings"
    if isinstance(inputs, (str, bytes, Image.Image)):
        fail(who, f"be a list of {kind} (wrap a single sample in a list)", f"a single {type(inputs).__name__}",
             TypeError)
    try:
        inputs = list(inputs)
    except TypeError:
        fail(who, f"be a list of {kind}", f"{type(inputs).__name__}", TypeError)
    if not inputs:
        fail(who, "hold at least one sample", 0)
    want = Image.Image if modality == "vision" else str
    bad = next((i for i, x in enumerate(inputs) if not isinstance(x, want)), None)
    if bad is not None:
        x = inputs[bad]
        fail(who, f"be {kind} for a {modality} model", f"{x!r:.60} ({type(x).__name__}) at position {bad}", TypeError)
    if modality == "language":
        bad = next((i for i, x in enumerate(inputs) if not x.strip()), None)
        if bad is not None:
            fail(who, "be non-empty strings (an empty text has no token to average)", f"{inputs[bad]!r} at position "
                 f"{bad}")
    return inputs


def extract(model, inputs, *, pooling="auto", batch_size=16, device="auto", dtype="float32", max_length=256,
            progress=False):
    """Per-layer features of `inputs` (a list of PIL images for a vision model, of strings for a language model).

    model: a name for `empirical.models.load` or a `Loaded` model (then `device` and `dtype` are only checked: the
    loaded model's own are used). Every argument is validated before the model is loaded: pooling (VISION_POOLING or
    LANGUAGE_POOLING), batch_size >= 1, max_length >= 1 (tokens per text, language models), dtype, device.
    Returns a list of float32 CPU tensors, one per layer, each len(inputs) x D_layer, in the order of `inputs`.
    """
    if isinstance(model, str):
        modality = models.modality(model)
    elif isinstance(model, models.Loaded):
        modality = model.modality
    else:
        fail(param("model", "extract"), "be a model name or a Loaded model", type(model).__name__, TypeError)
    _check_options("extract", modality, pooling, batch_size, device, dtype, max_length, progress)
    inputs = _check_inputs(inputs, modality)
    m = models.load(model, device=device, dtype=dtype) if isinstance(model, str) else model
    from tqdm.auto import tqdm

    parts = []
    with torch.inference_mode():
        for s in tqdm(range(0, len(inputs), batch_size), desc=m.name, disable=not progress, leave=False):
            batch = inputs[s:s + batch_size]
            feats = (_vision_batch(m, batch, pooling) if m.modality == "vision"
                     else _language_batch(m, batch, max_length))
            parts.append([f.float().cpu() for f in feats])
    return [torch.cat(layer) for layer in zip(*parts)]


def _check_dataset(dataset, owner):
    from empirical import data

    if not isinstance(dataset, data.PairedDataset):
        fail(param("dataset", owner), "be an empirical.data.PairedDataset", type(dataset).__name__, TypeError)
    if not len(dataset):
        fail(param("dataset", owner), "hold at least one sample", f"the empty dataset {dataset.name!r}")


def cache_key(model, dataset, pooling="auto", dtype="float32", max_length=256):
    """Everything that changes cached features, as a dict (its digest names the cache entry)."""
    modality = models.modality(model)
    _check_dataset(dataset, "cache_key")
    _check_options("cache_key", modality, pooling, 1, "cpu", dtype, max_length, False)
    return {
        "model": model,
        "dataset": dataset.name,
        "content": dataset.fingerprint(modality),
        "ids": runio.digest(list(dataset.ids), length=16),
        "n": len(dataset),
        "pooling": pooling,
        "dtype": dtype,
        "max_length": max_length if modality == "language" else None,
        "version": FEATURE_VERSION,
    }


def entry_dir(key, cache_dir=None):
    """Cache folder of a key: <cache>/<model>/<runio.digest of the key>."""
    if not isinstance(key, dict) or not isinstance(key.get("model"), str):
        fail(param("key", "entry_dir"), "be a dict from cache_key", repr(key)[:80], TypeError)
    root = check_out_dir(cache_dir, "cache_dir", "entry_dir") if cache_dir is not None else default_cache_dir()
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", key["model"]) / runio.digest(key)


def chunk_path(where, start, stop):
    """File of the cached features of samples [start, stop) in the entry folder `where`."""
    return Path(where) / f"chunk-{start:06d}-{stop:06d}.pt"


def _read_chunk(path, rows):
    """The features saved in `path` (a list of float32 tensors with `rows` rows each); raises on anything else."""
    feats = torch.load(path, map_location="cpu", weights_only=True)
    if (not isinstance(feats, list) or not feats
            or not all(isinstance(f, torch.Tensor) and f.ndim == 2 and f.shape[0] == rows and f.dtype == torch.float32
                       for f in feats)):
        raise ValueError(f"expected a list of float32 tensors with {rows} rows each")
    return feats


def _check_key_file(where, key):
    """Write <entry>/key.json when missing; a damaged one is rewritten with a warning. Returns False when it holds
    another key (the entry's chunks are then recomputed)."""
    path = where / "key.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:  # garbage, truncated JSON, bad UTF-8
            models.warn_corrupt(path, e, "feature cache key", "it is rewritten now")
        else:
            if stored == runio.jsonable(key):
                return True
            models.warn_corrupt(path, ValueError(f"it holds another key: {str(stored)[:120]}"),
                                "feature cache key", "it is rewritten and every chunk of the entry recomputed now")
            runio.write_json(path, key)
            return False
    runio.write_json(path, key)
    return True


def cached(model, dataset, *, pooling="auto", dtype="float32", device="auto", batch_size=16, max_length=256,
           cache_dir=None, force=False, chunk_size=64, progress=False, loaded=None):
    """Features of `dataset` (images or captions, by the model's modality) through the on-disk cache.

    The model is loaded only when something is missing (or pass `loaded`, the Loaded model of the same name and
    dtype, to reuse one). Samples are computed in chunks of `chunk_size` (files chunk-START-STOP.pt); each
    finished chunk is saved atomically, so a run interrupted midway recomputes only the unfinished chunks.
    `force=True` ignores and overwrites existing chunks. Every option is validated before anything is loaded.

    Damaged cache files are recomputed, not fatal: a chunk that does not load (truncated, garbage) or does not hold
    what it should (its rows, float32 layers consistent with the other chunks), and a key.json that does not parse,
    are overwritten with fresh values, and a `CorruptCacheWarning` names each such file. Returns `extract`'s list.
    """
    owner = "features.cached"
    modality = models.modality(model)
    _check_dataset(dataset, owner)
    _check_options(owner, modality, pooling, batch_size, device, dtype, max_length, progress)
    check_int(chunk_size, "chunk_size", owner, 1)
    force = check_bool(force, "force", owner)
    if cache_dir is not None:
        check_out_dir(cache_dir, "cache_dir", owner)
    models.check_loaded(loaded, model, dtype, owner)
    key = cache_key(model, dataset, pooling, dtype, max_length)
    where = entry_dir(key, cache_dir)
    if not _check_key_file(where, key):
        force = True
    vision = modality == "vision"
    chunks = []
    for s in range(0, len(dataset), chunk_size):
        stop = min(s + chunk_size, len(dataset))
        path = chunk_path(where, s, stop)
        if path.is_file() and not force:
            try:
                feats = _read_chunk(path, stop - s)
                if chunks and [f.shape[1] for f in feats] != [f.shape[1] for f in chunks[0]]:
                    first = chunk_path(where, 0, min(chunk_size, len(dataset))).name
                    raise ValueError(f"its layer widths differ from those of {first}")
                chunks.append(feats)
                continue
            except Exception as e:  # noqa: BLE001 - torch.load raises RuntimeError, EOFError, UnpicklingError ...
                models.warn_corrupt(path, e, "features chunk",
                                    "it is recomputed now (force=True, --force on the command line, recomputes all)")
        if loaded is None:
            loaded = models.load(model, device=device, dtype=dtype)
        idx = range(s, stop)
        inputs = [dataset.image(i) for i in idx] if vision else [dataset.captions[i] for i in idx]
        feats = extract(loaded, inputs, pooling=pooling, batch_size=batch_size, max_length=max_length,
                        progress=progress)
        if chunks and [f.shape[1] for f in feats] != [f.shape[1] for f in chunks[0]]:
            # the first chunk was read from the cache and disagrees with what the model computes now
            models.warn_corrupt(chunk_path(where, 0, min(chunk_size, len(dataset))),
                                ValueError("its layer widths differ from the model's"), "features chunk",
                                "the whole entry is recomputed now")
            return cached(model, dataset, pooling=pooling, dtype=dtype, device=device, batch_size=batch_size,
                          max_length=max_length, cache_dir=cache_dir, force=True, chunk_size=chunk_size,
                          progress=progress, loaded=loaded)
        runio.atomic_write(path, lambda tmp, f=feats: torch.save(f, tmp))
        chunks.append(feats)
    return [torch.cat(layer) for layer in zip(*chunks)]
