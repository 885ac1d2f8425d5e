"""Per-layer features of real models, and a resumable on-disk cache of them.

- Vision (paper App. C.2): the output of every block, pooled per sample — the class token for ViTs with one
  ("cls"), the global average over positions otherwise ("avg") — then the model's pooled pre-logits embedding.
- Language: every hidden state (embeddings, then each layer), averaged over the tokens the attention mask keeps.

`extract(model, inputs)` returns a list with one float32 CPU tensor (N x D_l) per layer.
`cached(name, dataset)` does the same for a `PairedDataset` through a cache keyed by (model, dataset name and
content fingerprint, sample ids, pooling, dtype, max_length, FEATURE_VERSION): chunks of samples are written
atomically as they finish, so an interrupted run resumes where it stopped; `force=True` recomputes.
"""
import hashlib
import json
import re
from pathlib import Path

import torch
from torch import nn

from empirical import models
from platonic_core import runio

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


def extract(model, inputs, *, pooling="auto", batch_size=16, device="auto", dtype="float32", max_length=256,
            progress=False):
    """Per-layer features of `inputs` (PIL images for a vision model, strings for a language model).

    model: a name for `empirical.models.load` or a `Loaded` model. Returns a list of float32 CPU tensors, one per
    layer, each len(inputs) x D_layer, in the order of `inputs`.
    """
    m = models.load(model, device=device, dtype=dtype) if isinstance(model, str) else model
    if not isinstance(m, models.Loaded):
        raise TypeError(f"The 'model' parameter of extract must be a model name or a Loaded model. "
                        f"Got {type(model).__name__} instead.")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("The 'inputs' parameter of extract must hold at least one sample. Got 0 instead.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"The 'batch_size' parameter of extract must be a positive int. Got {batch_size!r} instead.")
    allowed = VISION_POOLING if m.modality == "vision" else LANGUAGE_POOLING
    if pooling not in allowed:
        raise ValueError(f"The 'pooling' parameter of extract must be one of {allowed} for a {m.modality} model. "
                         f"Got {pooling!r} instead.")
    if m.modality == "language" and not all(isinstance(t, str) for t in inputs):
        raise TypeError("The 'inputs' parameter of extract must be strings for a language model.")
    from tqdm.auto import tqdm

    parts = []
    with torch.inference_mode():
        for s in tqdm(range(0, len(inputs), batch_size), desc=m.name, disable=not progress, leave=False):
            batch = inputs[s:s + batch_size]
            feats = (_vision_batch(m, batch, pooling) if m.modality == "vision"
                     else _language_batch(m, batch, max_length))
            parts.append([f.float().cpu() for f in feats])
    return [torch.cat(layer) for layer in zip(*parts)]


def cache_key(model, dataset, pooling="auto", dtype="float32", max_length=256):
    """Everything that changes cached features, as a dict (its hash names the cache entry)."""
    modality = models.modality(model)
    return {
        "model": model,
        "dataset": dataset.name,
        "content": dataset.fingerprint(modality),
        "ids": hashlib.sha256("\0".join(dataset.ids).encode()).hexdigest()[:16],
        "n": len(dataset),
        "pooling": pooling,
        "dtype": dtype,
        "max_length": max_length if modality == "language" else None,
        "version": FEATURE_VERSION,
    }


def entry_dir(key, cache_dir=None):
    """Cache folder of a key: <cache>/<model>/<hash of the key>."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", key["model"]) / digest


def cached(model, dataset, *, pooling="auto", dtype="float32", device="auto", batch_size=16, max_length=256,
           cache_dir=None, force=False, chunk_size=64, progress=False, loaded=None):
    """Features of `dataset` (images or captions, by the model's modality) through the on-disk cache.

    The model is loaded only when something is missing (or pass `loaded` to reuse one). Samples are computed in
    chunks of `chunk_size`; each finished chunk is saved atomically, so a run interrupted midway recomputes only
    the unfinished chunks. `force=True` ignores and overwrites existing chunks. Returns `extract`'s list.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"The 'chunk_size' parameter of cached must be a positive int. Got {chunk_size!r} instead.")
    key = cache_key(model, dataset, pooling, dtype, max_length)
    where = entry_dir(key, cache_dir)
    if not (where / "key.json").is_file():
        runio.write_json(where / "key.json", key)
    vision = key["max_length"] is None
    chunks = []
    for c, s in enumerate(range(0, len(dataset), chunk_size)):
        path = where / f"chunk-{c:05d}.pt"
        if path.is_file() and not force:
            chunks.append(torch.load(path, weights_only=True))
            continue
        if loaded is None:
            loaded = models.load(model, device=device, dtype=dtype)
        idx = range(s, min(s + chunk_size, len(dataset)))
        inputs = [dataset.image(i) for i in idx] if vision else [dataset.captions[i] for i in idx]
        feats = extract(loaded, inputs, pooling=pooling, batch_size=batch_size, max_length=max_length,
                        progress=progress)
        runio.atomic_write(path, lambda tmp, f=feats: torch.save(f, tmp))
        chunks.append(feats)
    return [torch.cat(layer) for layer in zip(*chunks)]
