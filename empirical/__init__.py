"""Empirical validator: real vision and language models, paired data, cached features, bits-per-byte.

Modules (import them directly; this package imports nothing heavy):
- `empirical.models`: `load(name)` for timm / transformers models and the packaged offline weights.
- `empirical.data`: paired image-caption datasets (Tux Paint stamps, local folders, JSONL manifests, Hugging Face
  datasets `hf:NAME[@REVISION][:SPLIT]`).
- `empirical.features`: per-layer features, and `cached(...)`, the resumable on-disk feature cache.
- `empirical.distributed`: the same cache filled by several processes or GPUs (Lightning, DDP).
- `empirical.bank`: feature files in the released format of the paper's code, reference banks, and `score`.
- `empirical.bpb`: bits-per-byte of causal language models; `empirical.corpus`: English text for it.
- `empirical.hub`: whether the Hugging Face hub may be used now (the user's settings, and a quick probe).
- `empirical.experiments`: the experiment registry behind `python -m empirical.run NAME`.

The hub is used as the user has it: this package no longer forces HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE. Set them
yourself to stay offline; with no network, a model or dataset that is not on local disk fails at once with a
message naming it and how to provide it.

The modules that load models and data (`models`, `data` and those built on them) need the 'empirical' extra;
importing one without it says so in one line. This package and its experiment registry import without it.
"""
from platonic_core import __version__ as __version__  # re-exported: one version for the project


def score(features_or_model, references, metric="mutual_knn", k=10, **kw):
    """Score a model's features against reference feature files: see `empirical.bank.score`."""
    from empirical import bank

    return bank.score(features_or_model, references, metric=metric, k=k, **kw)
