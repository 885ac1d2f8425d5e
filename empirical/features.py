"""Per-layer features of real models, and a resumable on-disk cache of them.

- Vision (paper App. C.2): the output of every block, pooled per sample — the class token for ViTs with one
  ("cls"), the global average over positions otherwise ("avg") — then the model's pooled pre-logits embedding.
- Language: every hidden state (embeddings, then each layer), averaged in float32 over the tokens the attention
  mask keeps. Whatever side the tokenizer pads (right, or left as the paper's code does), each batch is fed to the
  model with every text's tokens first and its padding after (`right_padded`), so a text's positions and its masked
  mean are those it has alone, for every architecture (absolute, learned or rotary positions); padded positions
  never enter the mean, even where the model leaves NaN there.
- Datasets with several captions per image (`PairedDataset.caption_sets`, caption mode 'all'): every caption is a
  text; the language features of an image are the mean of its captions' features, layer by layer (see
  empirical.data).

`extract(model, inputs)` returns a list with one float32 CPU tensor (N x D_l) per layer; `layers=[...]` keeps only
those layers (indices into the full list). Out of memory, a batch is retried at half the batch size (down to 1)
and the smaller size is kept for the rest of the run; `report` (a dict) receives the batch size used and the
number of retries.
`cached(name, dataset)` does the same for a `PairedDataset` through a cache keyed by (model, dataset name and
content fingerprint, sample ids, caption mode, pooling, precision (dtype, quantization), batch size, max_length,
layers, clamp, FEATURE_VERSION): chunks of samples are written atomically as they finish, so an interrupted run
resumes where it stopped; `force=True` recomputes. Features are cached raw: the key's clamp is None, and the
q-quantile clamp of the layer pipeline is applied when scoring (experiments record it in results.json).
Both validate every option (model name, pooling, dtype, device, placement, batch_size, max_length, layers,
chunk_size, force) before any model is loaded or any image decoded. `record(...)` is the dict experiments write
into results.json for each model's features.

A cache file that cannot be read (a truncated or garbage chunk, a damaged key.json) is never an error and never
used: it is recomputed and overwritten, with a `CorruptCacheWarning` naming the file.
"""
import json
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from empirical import models
from empirical.models import CorruptCacheWarning  # noqa: F401 - re-exported: the warning for damaged cache files
from platonic_core import runio
from platonic_core.checks import check_bool, check_int, check_ints, check_out_dir, fail, param

FEATURE_VERSION = 2  # bump when extraction changes what it returns: old cache entries are then ignored
# 2: float32 masked means, padding normalised to the right, batch size / layers / precision / clamp in the key
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


def right_padded(enc):
    """The tokenizer's batch `enc` (input_ids, attention_mask, ...) with every row's kept tokens moved first, in
    their order, and its padding after: left padding (or any other) becomes right padding, which every
    architecture reads with the positions a text has alone. Tensors of another shape are returned as they are."""
    mask = enc["attention_mask"]
    if not bool((mask[:, :-1] < mask[:, 1:]).any()):  # already right-padded: kept tokens never follow padding
        return dict(enc)
    order = torch.argsort((mask == 0).to(torch.int8), dim=1, stable=True)
    return {k: v.gather(1, order) if torch.is_tensor(v) and v.shape == mask.shape else v for k, v in enc.items()}


def _language_batch(m, texts, max_length):
    enc = m.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(m.device) for k, v in right_padded(enc).items()}
    # The base model gives every hidden state without computing next-token logits over the whole vocabulary.
    out = m.model.base_model(**enc, output_hidden_states=True)
    mask = enc["attention_mask"]
    keep = mask.bool().unsqueeze(-1)
    count = mask.sum(1, keepdim=True).to(torch.float32)
    # float32 sums (a bfloat16 sum over hundreds of tokens loses digits); where, not a product: 0 * NaN is NaN
    return [torch.where(keep.to(h.device), h.float(), 0.0).sum(1) / count.to(h.device) for h in out.hidden_states]


def check_options(owner, modality, pooling, batch_size, device, dtype, max_length, progress, layers=None):
    """Validate the options shared by extract and cached (cheap: nothing is loaded)."""
    allowed = VISION_POOLING if modality == "vision" else LANGUAGE_POOLING
    if not isinstance(pooling, str) or pooling not in allowed:
        fail(param("pooling", owner), f"be one of {', '.join(allowed)} for a {modality} model", repr(pooling))
    check_int(batch_size, "batch_size", owner, 1)
    check_int(max_length, "max_length", owner, 1)
    models.check_dtype(dtype, owner)
    models.resolve_device(device, owner)
    check_bool(progress, "progress", owner)
    check_layers(layers, owner)


def check_layers(layers, owner="extract"):
    """None (every layer) or a non-empty list of distinct layer indices >= 0 (into the model's full list), as a
    sorted list."""
    if layers is None:
        return None
    if isinstance(layers, tuple):
        layers = list(layers)
    out = check_ints(layers, "layers", owner, 0)
    if len(set(out)) < len(out):
        fail(param("layers", owner), "hold distinct layer indices", repr(layers))
    return sorted(out)


def _select(feats, layers, name):
    if layers is None:
        return feats
    if layers[-1] >= len(feats):
        fail(param("layers", "extract"), f"hold indices in [0, {len(feats) - 1}] ({name} has {len(feats)} layers)",
             repr(layers))
    return [feats[i] for i in layers]


def is_oom(err):
    """Whether `err` is an accelerator's out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(err, oom) or (isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


class BatchSizeReduced(UserWarning):
    """A batch ran out of accelerator memory and was retried at a smaller batch size."""


def _free(device):
    import gc

    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


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
            progress=False, layers=None, device_map=None, quantization=None, report=None):
    """Per-layer features of `inputs` (a list of PIL images for a vision model, of strings for a language model).

    model: a name for `empirical.models.load` or a `Loaded` model (then `device`, `dtype`, `device_map` and
    `quantization` are only checked: the loaded model's own are used). Every argument is validated before the model
    is loaded: pooling (VISION_POOLING or LANGUAGE_POOLING), batch_size >= 1, max_length >= 1 (tokens per text,
    language models), dtype (float32 by default; 'auto': bfloat16 on a GPU that supports it), device, device_map
    and quantization (see
    `models.load`), layers (None: all; else indices into the full list, checked against it after the first batch).

    A batch that runs out of accelerator memory is retried at half the size, down to 1 (a `BatchSizeReduced`
    warning says so); the smaller size is kept for the rest. `report`, when a dict, receives 'batch_size' (the
    size of the last batches) and 'oom_retries'.
    Returns a list of float32 CPU tensors, one per layer, each len(inputs) x D_layer, in the order of `inputs`.
    """
    if isinstance(model, str):
        modality = models.modality(model)
    elif isinstance(model, models.Loaded):
        modality = model.modality
    else:
        fail(param("model", "extract"), "be a model name or a Loaded model", type(model).__name__, TypeError)
    check_options("extract", modality, pooling, batch_size, device, dtype, max_length, progress, layers)
    layers = check_layers(layers)
    if report is not None and not isinstance(report, dict):
        fail(param("report", "extract"), "be None or a dict", type(report).__name__, TypeError)
    inputs = _check_inputs(inputs, modality)
    if isinstance(model, str):
        models.check_placement(model, device, device_map, quantization, "extract")
        m = models.load(model, device=device, dtype=dtype, device_map=device_map, quantization=quantization)
    else:
        m = model
    from platonic_core.progress import progress as progress_bar
    from platonic_core.progress import quiet

    parts, size, s, retries = [], batch_size, 0, 0
    with quiet(not progress):  # progress=True: a bar when on a terminal (the one progress helper)
        bar = progress_bar(total=len(inputs), desc=m.name, unit="sample")
    with torch.inference_mode():
        while s < len(inputs):
            batch = inputs[s:s + size]
            try:
                feats = (_vision_batch(m, batch, pooling) if m.modality == "vision"
                         else _language_batch(m, batch, max_length))
                parts.append([f.float().cpu() for f in _select(feats, layers, m.name)])
            except Exception as e:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
                if not is_oom(e):
                    raise
                if size == 1:
                    raise RuntimeError(
                        f"{m.name} runs out of memory on {m.device} even one sample at a time ({e}). Spread it over "
                        "more GPUs (device_map='auto'), load it in 4 bits (quantization='4bit'), lower its precision "
                        "(dtype='bfloat16') or max_length.") from e
                retry = True
            else:
                retry = False
            if retry:  # outside the except block: the traceback no longer pins the batch's tensors
                feats = None
                _free(m.device)
                size, retries = max(1, size // 2), retries + 1
                warnings.warn(f"{m.name} ran out of memory on {m.device} at batch size {len(batch)}; retrying at "
                              f"{size}.", BatchSizeReduced, stacklevel=2)
                continue
            s += len(batch)
            bar.update(len(batch))
    bar.close()
    if report is not None:
        report.update(batch_size=size, oom_retries=retries)
    return [torch.cat(layer) for layer in zip(*parts)]


def _check_dataset(dataset, owner):
    from empirical import data

    if not isinstance(dataset, data.PairedDataset):
        fail(param("dataset", owner), "be an empirical.data.PairedDataset", type(dataset).__name__, TypeError)
    if not len(dataset):
        fail(param("dataset", owner), "hold at least one sample", f"the empty dataset {dataset.name!r}")


def cache_key(model, dataset, pooling="auto", dtype="float32", max_length=256, *, batch_size=16, layers=None,
              quantization=None, device="auto"):
    """Everything that changes cached features, as a dict (its digest names the cache entry). `dtype` 'auto' is
    resolved on `device` (the key holds the precision used); clamp is None: features are cached before the clamp."""
    modality = models.modality(model)
    _check_dataset(dataset, "cache_key")
    check_options("cache_key", modality, pooling, batch_size, device, dtype, max_length, False, layers)
    models.check_placement(model, "auto", None, quantization, "cache_key")
    return {
        "model": model,
        "dataset": dataset.name,
        "content": dataset.fingerprint(modality),
        "ids": runio.digest(list(dataset.ids), length=16),
        "n": len(dataset),
        "captions": dataset.caption_mode if modality == "language" else None,
        "pooling": pooling,
        "dtype": models.resolve_dtype(dtype, device, "cache_key"),
        "quantization": quantization,
        "batch_size": batch_size,
        "max_length": max_length if modality == "language" else None,
        "layers": check_layers(layers, "cache_key"),
        "clamp": None,
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


def chunk_inputs(dataset, modality, start, stop):
    """The model inputs of samples [start, stop): images, captions, or (caption mode 'all') every caption of each
    sample, with the number of captions per sample (None unless caption sets)."""
    idx = range(start, stop)
    if modality == "vision":
        return [dataset.image(i) for i in idx], None
    if dataset.caption_sets is None:
        return [dataset.captions[i] for i in idx], None
    sets = [dataset.caption_sets[i] for i in idx]
    return [c for group in sets for c in group], [len(g) for g in sets]


def group_means(feats, counts):
    """Per-layer means of consecutive row groups of the given sizes (the caption sets of 'all' mode)."""
    if counts is None:
        return feats
    bounds = torch.tensor([0, *counts]).cumsum(0).tolist()
    return [torch.stack([f[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])]) for f in feats]


def compute_chunk(loaded, dataset, start, stop, *, pooling, batch_size, max_length, layers, progress=False,
                  report=None):
    """Features of samples [start, stop) of `dataset` with a Loaded model (what one cache chunk holds)."""
    inputs, counts = chunk_inputs(dataset, loaded.modality, start, stop)
    feats = extract(loaded, inputs, pooling=pooling, batch_size=batch_size, max_length=max_length, progress=progress,
                    layers=layers, report=report)
    return group_means(feats, counts)


def _meta_path(chunk):
    return chunk.with_name(chunk.name[:-len(".pt")] + ".meta.json")


def write_chunk(path, feats, requested, report):
    """Save a chunk atomically; a sidecar CHUNK.meta.json records a batch size reduced on out-of-memory."""
    runio.atomic_write(path, lambda tmp: torch.save(feats, tmp))
    meta = _meta_path(path)
    if report.get("batch_size", requested) != requested:
        runio.write_json(meta, {"batch_size": report["batch_size"], "oom_retries": report.get("oom_retries", 0)})
    elif meta.exists():
        meta.unlink(missing_ok=True)


def _chunk_batch_size(path, requested):
    try:
        return int(json.loads(_meta_path(path).read_text(encoding="utf-8"))["batch_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return requested


def cached(model, dataset, *, pooling="auto", dtype="float32", device="auto", batch_size=16, max_length=256,
           cache_dir=None, force=False, chunk_size=64, progress=False, loaded=None, layers=None, device_map=None,
           quantization=None, report=None):
    """Features of `dataset` (images or captions, by the model's modality) through the on-disk cache.

    The model is loaded only when something is missing (or pass `loaded`, the Loaded model of the same name,
    precision and quantization, to reuse one). Samples are computed in chunks of `chunk_size` (files
    chunk-START-STOP.pt); each finished chunk is saved atomically, so a run interrupted midway recomputes only the
    unfinished chunks. `force=True` ignores and overwrites existing chunks. Every option is validated before
    anything is loaded. dtype 'auto' is bfloat16 on a GPU that supports it (the key holds the precision used);
    device_map and quantization place big language models (see `models.load`); layers keeps only those layers.

    A batch size reduced on out-of-memory (see `extract`) carries over to the next chunks and is recorded beside
    each chunk it computed; `report`, when a dict, receives the cache key fields, 'effective_batch_size' (the
    smallest batch size any chunk used) and 'computed' (how many samples were computed rather than read).

    Damaged cache files are recomputed, not fatal: a chunk that does not load (truncated, garbage) or does not hold
    what it should (its rows, float32 layers consistent with the other chunks), and a key.json that does not parse,
    are overwritten with fresh values, and a `CorruptCacheWarning` names each such file. Returns `extract`'s list.
    """
    owner = "features.cached"
    modality = models.modality(model)
    _check_dataset(dataset, owner)
    check_options(owner, modality, pooling, batch_size, device, dtype, max_length, progress, layers)
    models.check_placement(model, device, device_map, quantization, owner)
    check_int(chunk_size, "chunk_size", owner, 1)
    force = check_bool(force, "force", owner)
    if cache_dir is not None:
        check_out_dir(cache_dir, "cache_dir", owner)
    if report is not None and not isinstance(report, dict):
        fail(param("report", owner), "be None or a dict", type(report).__name__, TypeError)
    models.check_loaded(loaded, model, dtype, owner, quantization)
    key = cache_key(model, dataset, pooling, dtype, max_length, batch_size=batch_size, layers=layers,
                    quantization=quantization, device=device if loaded is None else loaded.device)
    layers = key["layers"]
    where = entry_dir(key, cache_dir)
    if not _check_key_file(where, key):
        force = True
    chunks, size, used, computed = [], batch_size, batch_size, 0
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
                used = min(used, _chunk_batch_size(path, batch_size))
                continue
            except Exception as e:  # noqa: BLE001 - torch.load raises RuntimeError, EOFError, UnpicklingError ...
                models.warn_corrupt(path, e, "features chunk",
                                    "it is recomputed now (force=True, --force on the command line, recomputes all)")
        if loaded is None:
            loaded = models.load(model, device=device, dtype=dtype, device_map=device_map, quantization=quantization)
        rep = {}
        feats = compute_chunk(loaded, dataset, s, stop, pooling=pooling, batch_size=size, max_length=max_length,
                              layers=layers, progress=progress, report=rep)
        size = rep.get("batch_size", size)  # a size reduced on out-of-memory carries over to the next chunks
        used, computed = min(used, size), computed + stop - s
        if chunks and [f.shape[1] for f in feats] != [f.shape[1] for f in chunks[0]]:
            # the first chunk was read from the cache and disagrees with what the model computes now
            models.warn_corrupt(chunk_path(where, 0, min(chunk_size, len(dataset))),
                                ValueError("its layer widths differ from the model's"), "features chunk",
                                "the whole entry is recomputed now")
            return cached(model, dataset, pooling=pooling, dtype=dtype, device=device, batch_size=batch_size,
                          max_length=max_length, cache_dir=cache_dir, force=True, chunk_size=chunk_size,
                          progress=progress, loaded=loaded, layers=layers, device_map=device_map,
                          quantization=quantization, report=report)
        write_chunk(path, feats, batch_size, {"batch_size": size, "oom_retries": rep.get("oom_retries", 0)})
        chunks.append(feats)
    out = [torch.cat(layer) for layer in zip(*chunks)]
    if report is not None:
        report.update(record(key, out, effective_batch_size=used, device_map=device_map,
                             padding=getattr(getattr(loaded, "tokenizer", None), "padding_side", None)))
        report["computed"] = computed
    return out


def record(key, feats=None, *, effective_batch_size=None, device_map=None, padding=None, q=None):
    """What results.json records of one model's features: precision (dtype, quantization), batch size (requested
    and effective), pooling, layers (indices kept, count and widths), max_length, caption mode, clamp (None in the
    cache; `q`, the clamp quantile applied when scoring, when given), device map, and the cache key's digest."""
    out = {k: key[k] for k in ("model", "dtype", "quantization", "batch_size", "pooling", "max_length", "layers",
                               "captions")}
    out["effective_batch_size"] = key["batch_size"] if effective_batch_size is None else effective_batch_size
    if feats is not None:
        out["n_layers"] = len(feats)
        out["widths"] = [int(f.shape[1]) for f in feats]
    out["clamp"] = {"cached": key["clamp"], "q": q}
    out["device_map"] = device_map if not isinstance(device_map, dict) else "custom"
    if padding is not None:
        out["padding"] = f"{padding} (fed right-padded)"
    out["key"] = runio.digest(key)
    return out
