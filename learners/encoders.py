"""Encoders f: observed value index -> R^dim, one per modality, and the critic <f(a), f(b)>.

Every encoder maps an integer index tensor (any shape) to (..., dim) and keeps the modality's content (vectors,
token ids) as buffers, so the learned kernel over all N_x values is one call on arange(N_x).
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from platonic_core.checks import check_bool, check_choice, check_int, check_positive, fail, param
from worlds.observations import Observation, TokenCode, VectorCode

ENCODERS = ("auto", "embedding", "mlp", "text")


class EmbeddingEncoder(nn.Module):
    """A free embedding table: the tabular learner for discrete observations (Permutation, Merge, noisy...)."""

    def __init__(self, n_inputs: int, dim: int, init_std: float = 0.1):
        super().__init__()
        self.n_inputs = check_int(n_inputs, "n_inputs", "EmbeddingEncoder", low=1)
        self.table = nn.Embedding(self.n_inputs, check_int(dim, "dim", "EmbeddingEncoder", low=1))
        nn.init.normal_(self.table.weight, std=check_positive(init_std, "init_std", "EmbeddingEncoder"))

    def forward(self, idx):
        return self.table(idx)


class MLPEncoder(nn.Module):
    """An MLP reading the fixed vector of each value (VectorCode.vectors, (N, D_in))."""

    def __init__(self, vectors, dim: int, hidden: int = 256, depth: int = 2):
        super().__init__()
        v = torch.as_tensor(vectors, dtype=torch.float32)
        if v.ndim != 2:
            raise ValueError(f"The 'vectors' parameter of MLPEncoder must be (N, D). Got shape {tuple(v.shape)}.")
        dim = check_int(dim, "dim", "MLPEncoder", low=1)
        hidden = check_int(hidden, "hidden", "MLPEncoder", low=1)
        depth = check_int(depth, "depth", "MLPEncoder", low=1)
        self.n_inputs = v.shape[0]
        self.register_buffer("vectors", v * v.shape[1] ** 0.5)  # unit-variance inputs
        layers, width = [], v.shape[1]
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, idx):
        return self.net(self.vectors[idx])


class TextEncoder(nn.Module):
    """A tiny transformer over each value's token string (TokenCode.token_ids, (N, L)): token + position
    embeddings, `layers` encoder layers (0: a bag of (token, position) embeddings), mean pool, linear head."""

    def __init__(self, token_ids, vocab_size: int, dim: int, width: int = 64, layers: int = 1, heads: int = 4):
        super().__init__()
        t = torch.as_tensor(token_ids, dtype=torch.long)
        if t.ndim != 2:
            raise ValueError(f"The 'token_ids' parameter of TextEncoder must be (N, L). Got shape {tuple(t.shape)}.")
        vocab = check_int(vocab_size, "vocab_size", "TextEncoder", low=int(t.max()) + 1)
        dim = check_int(dim, "dim", "TextEncoder", low=1)
        width = check_int(width, "width", "TextEncoder", low=1)
        layers = check_int(layers, "layers", "TextEncoder", low=0)
        heads = check_int(heads, "heads", "TextEncoder", low=1)
        if width % heads:
            fail(param("heads", "TextEncoder"), f"divide width={width}", heads)
        self.n_inputs = t.shape[0]
        self.register_buffer("token_ids", t)
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(t.shape[1], width) * 0.1)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else nn.Identity()
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                  nn.Linear(2 * width, dim))

    def forward(self, idx):
        h = self.blocks(self.tok(self.token_ids[idx.reshape(-1)]) + self.pos)
        return self.head(h.mean(dim=1)).reshape(*idx.shape, -1)


def _kind(observation: Observation, kind: str) -> str:
    return {VectorCode: "mlp", TokenCode: "text"}.get(type(observation), "embedding") if kind == "auto" else kind


_CLASSES = {"embedding": EmbeddingEncoder, "mlp": MLPEncoder, "text": TextEncoder}
_GIVEN = {"embedding": ("n_inputs", "dim"), "mlp": ("vectors", "dim"), "text": ("token_ids", "vocab_size", "dim")}


def check_encoder_kw(observation: Observation, kind: str, kw, owner: str = "make_encoder") -> dict:
    """Check that the encoder `kind` ('auto' resolved by the observation's modality) fits the observation and takes
    the options `kw` (unknown keys and the ones make_encoder sets itself are named); their values are checked by
    the encoder's constructor."""
    if not isinstance(observation, Observation):
        raise TypeError(f"The 'observation' parameter of {owner} must be a worlds.observations.Observation. "
                        f"Got {type(observation).__name__}.")
    name = "encoder" if owner != "make_encoder" else "kind"
    kind = _kind(observation, check_choice(kind, name, owner, ENCODERS))
    need = {"mlp": VectorCode, "text": TokenCode}.get(kind)
    if need is not None and not isinstance(observation, need):
        raise ValueError(f"The '{name}' parameter of {owner} is {kind!r}, which needs a {need.__name__} observation. "
                         f"Got {type(observation).__name__}.")
    if not isinstance(kw, dict):
        fail(param("encoder_kw", owner), "be a dict of keyword options", repr(kw), TypeError)
    cls = _CLASSES[kind]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *_GIVEN[kind])]
    unknown = sorted(k for k in kw if k not in allowed)
    if unknown:
        fail(param("encoder_kw", owner), f"hold only options of the {kind!r} encoder ({cls.__name__} takes "
             f"{', '.join(allowed)})", f"unknown keys {unknown}", TypeError)
    return dict(kw)


def make_encoder(observation: Observation, dim: int, kind: str = "auto", **kw) -> nn.Module:
    """The encoder for an observation's modality: 'mlp' for VectorCode, 'text' for TokenCode, else 'embedding'.
    kw: the encoder's options (EmbeddingEncoder: init_std; MLPEncoder: hidden, depth; TextEncoder: width, layers,
    heads)."""
    check_encoder_kw(observation, kind, kw)
    kind = _kind(observation, kind)
    if kind == "mlp":
        return MLPEncoder(observation.vectors, dim, **kw)
    if kind == "text":
        return TextEncoder(observation.token_ids, len(observation.vocab), dim, **kw)
    return EmbeddingEncoder(observation.n_obs, dim, **kw)


def critic(fa: torch.Tensor, fb: torch.Tensor, normalize: bool = False, tau: float = 1.0) -> torch.Tensor:
    """Pairwise critic <f(a), f(b)> / tau over the last axis, broadcasting (cosine when `normalize`)."""
    if check_bool(normalize, "normalize", "critic"):
        fa, fb = F.normalize(fa, dim=-1), F.normalize(fb, dim=-1)
    return (fa * fb).sum(-1) / tau
