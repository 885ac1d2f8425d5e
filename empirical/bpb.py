"""Bits-per-byte of causal language models (the paper's competence axis, 1 - bpb).

bpb = (sum over every token of the texts of -log2 p(token | previous tokens)) / (UTF-8 bytes of the texts).
Each text is tokenised without special tokens and prefixed by the BOS token (EOS when there is none), so every
text token is predicted. Texts longer than `max_length` tokens are cut into windows that overlap by one token: the
last token of a window is the context of the first prediction of the next, so each token is scored exactly once.
"""
import math

import torch
import torch.nn.functional as F

from empirical import models

LOGIT_BUDGET = 1 << 27  # floats of logits per forward pass (512 MiB): batch x length x vocabulary


def windows(ids, max_length):
    """Token windows of at most max_length covering ids, consecutive windows sharing one token."""
    step = max_length - 1
    return [ids[s:s + max_length] for s in range(0, max(len(ids) - 1, 1), step)]


def token_bits(model, texts, *, max_length=512, device="auto", dtype="float32"):
    """Per text: (bits summed over its tokens, UTF-8 bytes, tokens scored)."""
    m = models.load(model, device=device, dtype=dtype) if isinstance(model, str) else model
    if not isinstance(m, models.Loaded) or not m.causal:
        raise ValueError(f"The 'model' parameter of bits_per_byte must be a causal language model. "
                         f"Got {getattr(m, 'name', m)!r} instead.")
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise ValueError("The 'texts' parameter of bits_per_byte must be a non-empty string or list of non-empty "
                         "strings.")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"The 'max_length' parameter of bits_per_byte must be an int >= 2. "
                         f"Got {max_length!r} instead.")
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
    with torch.inference_mode():
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
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:].to(m.device), reduction="none")
            nll = (nll * mask[:, 1:].to(m.device)).sum(1).cpu()
            for r, (i, w) in enumerate(batch):
                bits[i] += float(nll[r]) / math.log(2)
                count[i] += len(w) - 1
    return [(b, len(t.encode("utf-8")), c) for b, t, c in zip(bits, texts, count)]


def bits_per_byte(model, texts, *, max_length=512, device="auto", dtype="float32"):
    """Total bits over total UTF-8 bytes of `texts` (a string or a list of strings) under causal LM `model`
    (a name for `empirical.models.load` or a Loaded model)."""
    rows = token_bits(model, texts, max_length=max_length, device=device, dtype=dtype)
    return sum(r[0] for r in rows) / sum(r[1] for r in rows)


BPB_VERSION = 1  # bump when the computation changes: old cached values are then ignored


def cached(model, texts, *, max_length=512, device="auto", dtype="float32", cache_dir=None, force=False,
           loaded=None):
    """`bits_per_byte` through a JSON cache keyed by (model, texts, max_length, dtype, BPB_VERSION).

    Returns the stored record: bits_per_byte, bits, bytes, tokens and the key. The model is loaded only on a miss
    (or pass `loaded`)."""
    import hashlib
    import json
    import re
    from pathlib import Path

    from empirical import features
    from platonic_core import runio

    texts = [texts] if isinstance(texts, str) else list(texts)
    key = {"model": model, "texts": hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16], "n": len(texts),
           "max_length": max_length, "dtype": dtype, "version": BPB_VERSION}
    root = Path(cache_dir) if cache_dir is not None else features.default_cache_dir()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", model) / f"bpb-{digest}.json"
    if path.is_file() and not force:
        return json.loads(path.read_text())
    rows = token_bits(loaded or model, texts, max_length=max_length, device=device, dtype=dtype)
    bits, nbytes, tokens = (sum(r[i] for r in rows) for i in range(3))
    record = {"bits_per_byte": bits / nbytes, "bits": bits, "bytes": nbytes, "tokens": tokens, "key": key}
    runio.write_json(path, record)
    return record
