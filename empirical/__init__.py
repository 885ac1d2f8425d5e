"""Empirical validator: real vision and language models, paired data, cached features, bits-per-byte.

Modules (import them directly; this package imports nothing heavy):
- `empirical.models`: `load(name)` for timm / transformers models and the packaged offline weights.
- `empirical.data`: paired image-caption datasets (Tux Paint stamps, local folders, JSONL manifests).
- `empirical.features`: per-layer features, and `cached(...)`, the resumable on-disk feature cache.
- `empirical.bpb`: bits-per-byte of causal language models; `empirical.corpus`: English text for it.
- `empirical.experiments`: the experiment registry behind `python -m empirical.run NAME`.
"""
import os

# Never reach a hub at run time: weights must be on local disk (set before transformers/timm are imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
