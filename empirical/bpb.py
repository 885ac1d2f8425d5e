"""Bits-per-byte of causal language models (the paper's competence axis, 1 - bpb).

bpb = (sum over every token of the texts of -log2 p(token | previous tokens)) / (UTF-8 bytes of the texts).
Each text is tokenised without special tokens and prefixed by the BOS token (EOS when there is none), so every
text token is predicted. Texts longer than `max_length` tokens are cut into windows that overlap by one token: the
last token of a window is the context of the first prediction of the next, so each token is scored exactly once.

Every function validates its options (model, texts, max_length >= 2, dtype, device, force) before it loads a model.
A cache entry that cannot be read (truncated or garbage JSON, missing fields, another key) is recomputed and
overwritten, with a `CorruptCacheWarning` naming the file.
"""
import json
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from empirical import models
from empirical.models import CorruptCacheWarning  # noqa: F401 - re-exported: the warning for damaged cache files
from platonic_core import runio
from platonic_core.progress import progress
from platonic_core.checks import check_bool, check_int, check_out_dir, fail, param

LOGIT_BUDGET = 1 << 27  # floats of logits per forward pass (512 MiB): batch x length x vocabulary


def windows(ids, max_length):
    """Token windows of at most max_length (>= 2) covering ids, consecutive windows sharing one token."""
    step = check_int(max_length, "max_length", "windows", 2) - 1
    return [ids[s:s + max_length] for s in range(0, max(len(ids) - 1, 1), step)]


def _check_texts(texts, owner):
    """`texts` (a string or an iterable of strings) as a non-empty list of non-empty strings."""
    who = param("texts", owner)
    must = "be a non-empty string or list of non-empty strings"
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, bytes):
        fail(who, must + " (decode bytes first)", "bytes", TypeError)
    else:
        try:
            texts = list(texts)
        except TypeError:
            fail(who, must, f"{texts!r:.60} ({type(texts).__name__})", TypeError)
    if not texts:
        fail(who, must, "[]")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            fail(who, must, f"{t!r:.60} ({type(t).__name__}) at position {i}", TypeError)
        if not t:
            fail(who, must, f"an empty string at position {i}")
    return texts


def _check_model(model, owner):
    """A causal language model name (checked cheaply: packaged names, or the config of an `hf:` model) or a Loaded
    causal model."""
    if isinstance(model, models.Loaded):
        causal, name = model.causal, model.name
    elif isinstance(model, str):
        models.check_name(model, owner)
        causal, name = models.is_causal(model), model
    else:
        fail(param("model", owner), "be a model name or a Loaded model", type(model).__name__, TypeError)
    if not causal:
        raise ValueError(f"The 'model' parameter of {owner} must be a causal language model. Got {name!r} instead.")


def check_options(owner, max_length, device, dtype):
    check_int(max_length, "max_length", owner, 2)
    models.check_dtype(dtype, owner)
    models.resolve_device(device, owner)


def clip_bytes(texts, n_bytes):
    """The leading `texts` holding at most `n_bytes` UTF-8 bytes in all, the last one cut at a character boundary:
    a budget of text, since scoring time grows with the bytes, not with the number of texts."""
    n_bytes = check_int(n_bytes, "n_bytes", "clip_bytes", 1)
    out = []
    for t in texts:
        data = t.encode("utf-8")[:n_bytes]
        n_bytes -= len(data)
        text = data.decode("utf-8", errors="ignore")  # a character cut in two is dropped
        if text:
            out.append(text)
        if n_bytes <= 0:
            break
    return out


def token_bits(model, texts, *, max_length=512, device="auto", dtype="float32"):
    """Per text: (bits summed over its tokens, UTF-8 bytes, tokens scored). On a terminal a bar counts the
    windows scored (`platonic_core.progress`).

    model: a causal LM name for `empirical.models.load` or a Loaded causal model (then device and dtype are only
    checked). texts: a non-empty string or list of non-empty strings. max_length >= 2 tokens per window. Everything
    is validated before the model is loaded."""
    owner = "bits_per_byte"
    _check_model(model, owner)
    texts = _check_texts(texts, owner)
    check_options(owner, max_length, device, dtype)
    m = models.load(model, device=device, dtype=dtype) if isinstance(model, str) else model
    tok = m.tokenizer
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    jobs = []  # (text index, window)
    for i, t in enumerate(texts):
        ids = [start] + tok(t, add_special_tokens=False)["input_ids"]
        jobs += [(i, w) for w in windows(ids, max_length)]
    jobs.sort(key=lambda j: -len(j[1]))  # similar lengths together: little padding
    vocab = m.model.get_output_embeddings().weight.shape[0]
    bits = [0.0] * len(texts)
    count = [0] * len(texts)
    bar = progress(total=len(jobs), desc=f"bits-per-byte {m.name}", unit="window")
    with torch.inference_mode(), bar:
        s = 0
        while s < len(jobs):
            size = max(1, LOGIT_BUDGET // (vocab * len(jobs[s][1])))
            batch = jobs[s:s + size]
            s += size
            width = len(batch[0][1])
            ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (_, w) in enumerate(batch):
                ids[r, :len(w)] = torch.tensor(w)
                mask[r, :len(w)] = 1
            logits = m.model(input_ids=ids.to(m.device), attention_mask=mask.to(m.device)).logits.float()
            out = logits.device  # the last GPU of a model spread by a device_map, not the embeddings' one
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:].to(out), reduction="none")
            nll = (nll * mask[:, 1:].to(out)).sum(1).cpu()
            for r, (i, w) in enumerate(batch):
                bits[i] += float(nll[r]) / math.log(2)
                count[i] += len(w) - 1
            bar.update(len(batch))
    return [(b, len(t.encode("utf-8")), c) for b, t, c in zip(bits, texts, count)]


def bits_per_byte(model, texts, *, max_length=512, device="auto", dtype="float32"):
    """Total bits over total UTF-8 bytes of `texts` (a string or a list of strings) under causal LM `model`
    (a name for `empirical.models.load` or a Loaded model)."""
    rows = token_bits(model, texts, max_length=max_length, device=device, dtype=dtype)
    return sum(r[0] for r in rows) / sum(r[1] for r in rows)


BPB_VERSION = 1  # bump when the computation changes: old cached values are then ignored


def _read_record(path, key):
    """The cached record at `path` when it is whole and holds `key`; raises otherwise."""
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("key") != runio.jsonable(key):
        raise ValueError("it does not hold this entry's key")
    for field in ("bits_per_byte", "bits", "bytes", "tokens"):
        v = record.get(field)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"its field {field!r} is {v!r}, not a finite number")
    return record


def cached(model, texts, *, max_length=512, device="auto", dtype="float32", cache_dir=None, force=False,
           loaded=None, device_map=None, quantization=None):
    """`bits_per_byte` through a JSON cache keyed by (model, texts, max_length, dtype, quantization, BPB_VERSION).

    model is a causal LM name; `loaded` (optional) is that model already loaded in `dtype` with `quantization`.
    device_map and quantization place a big model as `models.load` does (the device map changes where the model
    runs, not its numbers, so it is not part of the key). Returns the stored record: bits_per_byte, bits, bytes,
    tokens and the key. Everything is validated first; the model is loaded only on a miss (or pass `loaded`).
    `force=True` recomputes. A cache file that cannot be read or does not hold this
    key's record is recomputed and overwritten, with a CorruptCacheWarning naming it."""
    owner = "bpb.cached"
    if not isinstance(model, str):
        fail(param("model", owner), "be a model name (pass a Loaded model as `loaded`)", type(model).__name__,
             TypeError)
    _check_model(model, owner)
    texts = _check_texts(texts, owner)
    check_options(owner, max_length, device, dtype)
    force = check_bool(force, "force", owner)
    if cache_dir is not None:
        check_out_dir(cache_dir, "cache_dir", owner)
    models.check_placement(model, device, device_map, quantization, owner)
    models.check_loaded(loaded, model, dtype, owner, quantization)
    from empirical import features

    dtype = models.resolve_dtype(dtype, device if loaded is None else loaded.device, owner)  # 'auto' -> the one used
    key = {"model": model, "texts": runio.digest(texts, length=16), "n": len(texts),
           "max_length": max_length, "dtype": dtype, "version": BPB_VERSION}
    if quantization is not None:  # keyed only when set: entries of full-precision models keep their keys
        key["quantization"] = quantization
    root = Path(cache_dir) if cache_dir is not None else features.default_cache_dir()
    path = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", model) / f"bpb-{runio.digest(key)}.json"
    if path.is_file() and not force:
        try:
            return _read_record(path, key)
        except (ValueError, OSError) as e:  # garbage, truncated JSON, bad UTF-8, missing fields
            models.warn_corrupt(path, e, "bits-per-byte entry",
                                "it is recomputed now (force=True, --force on the command line, recomputes all)")
    if loaded is None and (device_map is not None or quantization is not None):
        loaded = models.load(model, device=device, dtype=dtype, device_map=device_map, quantization=quantization)
    rows = token_bits(loaded or model, texts, max_length=max_length, device=device, dtype=dtype)
    bits, nbytes, tokens = (sum(r[i] for r in rows) for i in range(3))
    record = {"bits_per_byte": bits / nbytes, "bits": bits, "bytes": nbytes, "tokens": tokens, "key": key}
    runio.write_json(path, record)
    return record
