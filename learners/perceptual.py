"""Real architectures on perceptual observations of a world (worlds.render images, worlds.sentences sentences).

Encoders: `ConvNet` (hand-written), a timm ResNet or ViT trained from scratch (`image_encoder`; width and depth are
the capacity knob), `SentenceEncoder` (learners' TextEncoder over per-sample token sequences); `encoder_for` picks
one by modality, and falls back to learners.make_encoder for the index observations (permutation, vector, token).

`train` is a Lightning-free loop (learners.fit feeds indices, not per-sample renders): each step draws B state pairs
within the window from the world's exact P_coor (worlds.exact_pairs, seeded from (seed, s) at step s), then renders
each side afresh at the sample indices 2sB.. (side a) and (2s + 1)B.. (side b), so the data
are a function of (seed, step). Objectives: 'infonce' (in-batch negatives, within one modality through one encoder
or across two) and 'next_event' (softmax over side b's observed values through an output table). `evaluate` reports
a linear probe of the state, and the learned state kernel against K_PMI (Pearson) and the population optimum
(the paper's cosine mutual k-NN). `TinyGPT` and `train_gpt` / `evaluate_gpt`: a next-token model over a world's
trajectories seen through an index observation, whose hidden states are representations too.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from platonic_core.checks import check_bool, check_choice, check_int, check_positive, check_real, fail, param
from worlds import MarkovWorld, entropy, exact_pairs, pmi_kernel
from worlds.observations import Observation
from worlds.render import Factored, ImageObservation
from worlds.sentences import SentenceObservation

from ._blas import torch_threads
from ._checks import check_cooccurrence
from .encoders import TextEncoder, check_encoder_kw, make_encoder
from .losses import info_nce, next_event
from .population import population_optimum
from .report import compare

ARCHS = ("convnet", "resnet", "vit")
LOSSES = ("infonce", "next_event")


class ConvNet(nn.Module):
    """`depth` stride-2 3x3 conv blocks (GroupNorm, ReLU) doubling from `width` channels, global mean pool, linear."""

    def __init__(self, dim: int, width: int = 16, depth: int = 3):
        super().__init__()
        o = "ConvNet"
        dim, width, depth = check_int(dim, "dim", o, low=1), check_int(width, "width", o, low=1), \
            check_int(depth, "depth", o, low=1, high=5)
        layers, c = [], 3
        for i in range(depth):
            layers += [nn.Conv2d(c, width << i, 3, stride=2, padding=1), nn.GroupNorm(1, width << i), nn.ReLU()]
            c = width << i
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim))

    def forward(self, x):
        return self.net(x)


def image_encoder(dim: int, arch: str = "convnet", width: int = 16, depth: int = 1, size: int = 32,
                  heads: int = 2) -> nn.Module:
    """An image encoder (B, 3, size, size) -> (B, dim) trained from scratch: 'convnet' (ConvNet, `depth` blocks),
    'resnet' (timm ResNet with BasicBlocks, `depth` per stage, channels width..8 width), 'vit' (timm
    VisionTransformer, patch 4, embed width, `depth` blocks, `heads` heads)."""
    o = "image_encoder"
    arch = check_choice(arch, "arch", o, ARCHS)
    dim, width, depth = check_int(dim, "dim", o, low=1), check_int(width, "width", o, low=1), \
        check_int(depth, "depth", o, low=1)
    if arch == "convnet":
        return ConvNet(dim, width, depth)
    if arch == "resnet":
        from timm.models.resnet import BasicBlock, ResNet

        return ResNet(BasicBlock, [depth] * 4, num_classes=dim, channels=tuple(width << i for i in range(4)),
                      stem_width=width)
    from timm.models.vision_transformer import VisionTransformer

    size, heads = check_int(size, "size", o, low=4), check_int(heads, "heads", o, low=1)
    if size % 4 or width % heads:
        fail(param("width", o), f"be divisible by heads={heads} (and size by the patch size 4)",
             f"width={width}, size={size}")
    return VisionTransformer(img_size=size, patch_size=4, embed_dim=width, depth=depth, num_heads=heads,
                             num_classes=dim)


class SentenceEncoder(TextEncoder):
    """TextEncoder over token ids given per sample (B, length): PAD (0) is masked out of attention and the mean."""

    def __init__(self, vocab_size: int, length: int, dim: int, width: int = 64, layers: int = 1, heads: int = 4):
        length = check_int(length, "length", "SentenceEncoder", low=1)
        super().__init__(torch.zeros((1, length), dtype=torch.long), vocab_size, dim, width, layers, heads)
        del self.token_ids, self.n_inputs  # the sequences come with each batch

    def forward(self, tokens):
        pad = tokens == 0
        h = self.tok(tokens) + self.pos[:tokens.shape[1]]
        if isinstance(self.blocks, nn.TransformerEncoder):
            h = self.blocks(h, src_key_padding_mask=pad)
        keep = (~pad)[..., None].float()
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


def encoder_for(observation: Observation, dim: int, **kw) -> nn.Module:
    """The encoder of an observation's modality: image_encoder(dim, **kw) for images (arch, width, depth, heads),
    SentenceEncoder for sentences (width, layers, heads), learners.make_encoder otherwise."""
    if isinstance(observation, ImageObservation):
        return image_encoder(dim, size=observation.size, **kw)
    if isinstance(observation, SentenceObservation):
        return SentenceEncoder(len(observation.vocab), observation.length, dim, **kw)
    return make_encoder(observation, dim, **kw)


def _check_encoder_kw(observation: Observation, kw, name: str, owner: str) -> dict:
    """kw as options of encoder_for's encoder for `observation` (unknown keys named; values checked when built)."""
    if kw is None:
        return {}
    if not isinstance(kw, dict) or not all(isinstance(k, str) for k in kw):
        fail(param(name, owner), "be a dict of keyword options (or None)", repr(kw), TypeError)
    if not isinstance(observation, Factored):
        return check_encoder_kw(observation, "auto", kw, owner)
    fn, given = ((image_encoder, ("dim", "size")) if isinstance(observation, ImageObservation)
                 else (SentenceEncoder.__init__, ("self", "vocab_size", "length", "dim")))
    allowed = [p for p in inspect.signature(fn).parameters if p not in given]
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        fail(param(name, owner), f"hold only options of the {type(observation).__name__} encoder "
             f"({', '.join(allowed)})", f"unknown keys {unknown}", TypeError)
    return dict(kw)


def _check_view(view, world: MarkovWorld, name: str, owner: str) -> None:
    if not isinstance(view, Observation):
        fail(param(name, owner), "be a worlds Observation", type(view).__name__, TypeError)
    if view.n_states != world.n_states:
        fail(param(name, owner), f"observe the world's {world.n_states} states",
             f"an observation of {view.n_states} states")


def inputs(observation: Observation, states: np.ndarray, seed: int, start: int) -> torch.Tensor:
    """The encoder inputs of `states` (B,): fresh renders or sentences (sample indices start..start + B - 1), or
    the observed value indices of an index observation (a noisy channel keyed by (seed, start))."""
    if isinstance(observation, Factored):
        return torch.from_numpy(observation.sample(states, seed, start))
    return torch.from_numpy(observation.observe(states, _key(seed, start)).astype(np.int64))


def _key(*parts: int) -> int:
    """One int seed for the worlds functions that take one, derived from several (seed, step...)."""
    return int(np.random.default_rng(list(parts)).integers(2 ** 62))


@dataclass
class PerceptualFit:
    """view_a, view_b: the observations trained on; encoder_a, encoder_b (the same module within one modality);
    head: next_event's output table and bias over side b's values (None for infonce); losses: one per step;
    seconds: training wall time; config: the options."""

    view_a: Observation
    view_b: Observation
    encoder_a: nn.Module
    encoder_b: nn.Module
    head: nn.Module | None
    losses: list[float]
    seconds: float
    config: dict = field(default_factory=dict)


def train(world: MarkovWorld, view_a: Observation, view_b: Observation | None = None, *, loss: str = "infonce",
          dim: int = 32, window: int = 1, include_self: bool = True, batch_size: int = 64, steps: int = 100,
          lr: float = 3e-3, tau: float = 0.1, normalize: bool = True, seed: int = 0, threads: int = 1,
          encoder_kw: dict | None = None, encoder_kw_b: dict | None = None) -> PerceptualFit:
    """Train encoders of view_a (and view_b; None: view_a through the same encoder) on pairs of states within
    `window` of `world` (exact P_coor, which must have no zero entry), AdamW at lr with cosine decay to 0.

    infonce: logits <f(a), g(b)> / tau over the batch (cosine when `normalize`); next_event: f(a) scores each of
    view_b's values through a learned table (plus a bias), view_b deterministic. encoder_kw(_b): encoder_for's
    options of each side. Same seed and threads, same weights."""
    o = "train"
    if not isinstance(world, MarkovWorld):
        fail(param("world", o), "be a worlds.MarkovWorld", type(world).__name__, TypeError)
    same = view_b is None or view_b is view_a
    view_b = view_a if view_b is None else view_b
    for name, view in (("view_a", view_a), ("view_b", view_b)):
        _check_view(view, world, name, o)
    loss = check_choice(loss, "loss", o, LOSSES)
    if loss == "next_event" and not view_b.deterministic:
        fail(param("view_b", o), "be a deterministic observation with loss='next_event'", type(view_b).__name__)
    dim, window = check_int(dim, "dim", o, low=1), check_int(window, "window", o, low=0)
    include_self = check_bool(include_self, "include_self", o)
    if window == 0 and not include_self:
        fail(param("window", o), "be >= 1 when include_self=False (no pairs are left)", 0)
    batch_size, steps = check_int(batch_size, "batch_size", o, low=2), check_int(steps, "steps", o, low=1)
    lr, tau = check_positive(lr, "lr", o), check_positive(tau, "tau", o)
    normalize, seed = check_bool(normalize, "normalize", o), check_int(seed, "seed", o, low=0)
    threads = check_int(threads, "threads", o, low=1)
    kw_a = _check_encoder_kw(view_a, encoder_kw, "encoder_kw", o)
    kw_b = _check_encoder_kw(view_b, encoder_kw_b, "encoder_kw_b", o)
    P = check_cooccurrence(world.cooccurrence(window, include_self), o)
    config = {"loss": loss, "dim": dim, "window": window, "include_self": include_self, "batch_size": batch_size,
              "steps": steps, "lr": lr, "tau": tau, "normalize": normalize, "seed": seed, "encoder_kw": kw_a,
              "encoder_kw_b": kw_b, "view_a": type(view_a).__name__, "view_b": type(view_b).__name__}
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc_a = encoder_for(view_a, dim, **kw_a)
        enc_b = enc_a if same else encoder_for(view_b, dim, **kw_b)
        head = nn.Linear(dim, view_b.n_obs) if loss == "next_event" else None
        labels = view_b.matrix.argmax(axis=1)
        params = {id(p): p for m in (enc_a, enc_b, head) if m is not None for p in m.parameters()}
        opt = torch.optim.AdamW(params.values(), lr=lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        losses, t0 = [], time.perf_counter()
        for m in (enc_a, enc_b):
            m.train()
        for step in range(steps):
            a, b = exact_pairs(P, batch_size, seed=_key(seed, step)).T
            fa = enc_a(inputs(view_a, a, seed, 2 * step * batch_size))
            if loss == "next_event":
                value = head(F.normalize(fa, dim=-1) if normalize else fa) / (tau if normalize else 1.0)
                out = next_event(value, torch.from_numpy(labels[b]))
            else:
                fb = enc_b(inputs(view_b, b, seed, (2 * step + 1) * batch_size))
                if normalize:
                    fa, fb = F.normalize(fa, dim=-1), F.normalize(fb, dim=-1)
                out = info_nce(fa @ fb.T / tau)
            losses.append(_step(opt, sched, out))
        seconds = time.perf_counter() - t0
    return PerceptualFit(view_a, view_b, enc_a, enc_b, head, losses, seconds, config)


def _step(opt, sched, loss) -> float:
    """One optimiser and schedule step on `loss`; its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


@torch.no_grad()
def embed(encoder: nn.Module, observation: Observation, states, seed: int = 0, start: int = 0,
          normalize: bool = True) -> np.ndarray:
    """Embeddings (B, dim) float64 of fresh samples of `states` in eval mode (unit rows when `normalize`)."""
    was = encoder.training
    encoder.eval()
    try:
        e = encoder(inputs(observation, np.asarray(states), seed, start))
    finally:
        encoder.train(was)
    return (F.normalize(e, dim=-1) if normalize else e).double().numpy()


def _same_kind(view: Observation, observation, world: MarkovWorld, owner: str) -> Observation:
    """The observation to evaluate on: the fit's view, or one its encoder reads (same class and values)."""
    if observation is None:
        observation = view
    _check_view(observation, world, "observation", owner)
    shape = lambda x: (type(x), x.n_obs, getattr(x, "size", None), getattr(x, "vocab", None))  # what an encoder reads
    if shape(observation) != shape(view):
        fail(param("observation", owner), f"be of the kind trained on ({view!r}: same class, values, image size, "
             f"vocabulary)", repr(observation))
    return observation


def _probe(train_x, test_x, train_z, test_z, n: int, ridge: float) -> float:
    """Held-out accuracy of a ridge-regression linear probe (with intercept) of the state from features."""
    x = np.hstack([train_x, np.ones((len(train_x), 1))])
    w = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ np.eye(n)[train_z])
    return float(np.mean((np.hstack([test_x, np.ones((len(test_x), 1))]) @ w).argmax(axis=1) == test_z))


def evaluate(fit: PerceptualFit, world: MarkovWorld, observation: Observation | None = None, side: str = "a",
             per_state: int = 16, n_probe: int = 256, ridge: float = 1e-3, k: int = 3, seed: int = 1) -> dict:
    """How well one side of a fit of `train` represents the world, on samples it never saw (keys seed, seed + 1,
    seed + 2). observation: None for the side's own view, or another of its kind (say, at another noise level).

    probe: accuracy of a ridge-regression linear probe of the state (n_probe samples to fit, n_probe to test,
    states in turn; chance 1/N); state_embeddings: the mean embedding of `per_state` samples of each state (N, dim);
    kernel: their Gram matrix / tau (the critic); pearson: Pearson of its off-diagonal entries with K_PMI (learners.
    report.compare); mutual_knn: the cosine mutual k-NN of the state embeddings with the InfoNCE population
    optimum's (chance k / (N - 1))."""
    from alignment import mutual_knn

    o = "evaluate"
    if not isinstance(fit, PerceptualFit) or isinstance(fit.encoder_a, TinyGPT):
        fail(param("fit", o), "be the result of learners.perceptual.train (evaluate_gpt reads train_gpt's)",
             type(fit).__name__, TypeError)
    side = check_choice(side, "side", o, ("a", "b"))
    observation = _same_kind(getattr(fit, f"view_{side}"), observation, world, o)
    n = world.n_states
    per_state, n_probe = check_int(per_state, "per_state", o, low=1), check_int(n_probe, "n_probe", o, low=n)
    ridge = check_real(ridge, "ridge", o, low=0, low_open=True)
    k = check_int(k, "k", o, low=1, high=n - 2, hint=f"[1, N-2] with N={n}")
    seed = check_int(seed, "seed", o, low=0)
    cfg = fit.config
    enc = fit.encoder_a if side == "a" else fit.encoder_b
    norm = cfg["normalize"]
    z = np.arange(n_probe) % n
    probe = _probe(*(embed(enc, observation, z, seed + i, 0, norm) for i in (0, 1)), z, z, n, ridge)
    states = np.repeat(np.arange(n), per_state)
    e = embed(enc, observation, states, seed + 2, 0, norm).reshape(n, per_state, -1).mean(axis=1)
    kernel = e @ e.T / (cfg["tau"] if norm else 1.0)
    P = world.cooccurrence(cfg["window"], cfg["include_self"])
    P = P.toarray() if hasattr(P, "toarray") else np.asarray(P)
    optimum = population_optimum(P, "infonce", seed=seed).embeddings
    return {"probe": probe, "chance": 1 / n, "pearson": compare(kernel, pmi_kernel(P))["pearson_offdiag"],
            "mutual_knn": mutual_knn(e, optimum, k=k), "mutual_knn_chance": k / (n - 1), "state_embeddings": e,
            "kernel": kernel}


class TinyGPT(nn.Module):
    """A causal transformer over value tokens (B, T): token + position embeddings, `layers` pre-norm blocks under a
    causal mask, a final LayerNorm (`hidden`, the representation) and a linear read-out over the values."""

    def __init__(self, vocab_size: int, length: int, width: int = 32, layers: int = 1, heads: int = 2):
        super().__init__()
        o = "TinyGPT"
        vocab, length = check_int(vocab_size, "vocab_size", o, low=2), check_int(length, "length", o, low=2)
        width, layers = check_int(width, "width", o, low=1), check_int(layers, "layers", o, low=1)
        heads = check_int(heads, "heads", o, low=1)
        if width % heads:
            fail(param("heads", o), f"divide width={width}", heads)
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(length, width) * 0.1)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm, self.out = nn.LayerNorm(width), nn.Linear(width, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(length))

    def hidden(self, x):
        t = x.shape[1]
        return self.norm(self.blocks(self.tok(x) + self.pos[:t], mask=self.causal[:t, :t], is_causal=True))

    def forward(self, x):
        return self.out(self.hidden(x))


def _trajectories(world: MarkovWorld, observation: Observation, n: int, length: int, key) -> tuple:
    """n trajectories (n, length) of states and their observed values, each from the world's own seeded sampler."""
    seeds = [_key(*key, i) for i in range(n)]
    z = np.stack([world.sample(length, seed=s) for s in seeds])
    return z, np.stack([observation.observe(row, seed=s) for row, s in zip(z, seeds)])


def train_gpt(world: MarkovWorld, observation: Observation, *, length: int = 16, steps: int = 100,
              batch_size: int = 32, width: int = 32, layers: int = 1, heads: int = 2, lr: float = 3e-3,
              seed: int = 0, threads: int = 1) -> PerceptualFit:
    """Train a TinyGPT to predict each next value of `batch_size` fresh trajectories of `length` per step (step s
    keyed (seed, s)), AdamW at lr with cosine decay. The result's encoder_a (= encoder_b) is the model, head None;
    config['entropy_rate'] is the world's H(z_t+1 | z_t) in nats, the least loss any model reaches through a
    bijective observation."""
    o = "train_gpt"
    if not isinstance(world, MarkovWorld):
        fail(param("world", o), "be a worlds.MarkovWorld", type(world).__name__, TypeError)
    _check_view(observation, world, "observation", o)
    if isinstance(observation, Factored):
        fail(param("observation", o), "be an index observation (one token per state)", type(observation).__name__,
             TypeError)
    length, steps = check_int(length, "length", o, low=2), check_int(steps, "steps", o, low=1)
    batch_size, lr = check_int(batch_size, "batch_size", o, low=1), check_positive(lr, "lr", o)
    seed, threads = check_int(seed, "seed", o, low=0), check_int(threads, "threads", o, low=1)
    pi = world.stationary
    joint = pi[:, None] * (world.transition.toarray() if world.is_sparse else world.transition)
    config = {"length": length, "steps": steps, "batch_size": batch_size, "width": width, "layers": layers,
              "heads": heads, "lr": lr, "seed": seed, "entropy_rate": entropy(joint) - entropy(pi)}
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyGPT(observation.n_obs, length, width, layers, heads)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        losses, t0 = [], time.perf_counter()
        for step in range(steps):
            x = torch.from_numpy(_trajectories(world, observation, batch_size, length, [seed, step])[1])
            logits = model(x[:, :-1])
            out = next_event(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
            losses.append(_step(opt, sched, out))
        seconds = time.perf_counter() - t0
    return PerceptualFit(observation, observation, model, model, None, losses, seconds, config)


@torch.no_grad()
def evaluate_gpt(fit: PerceptualFit, world: MarkovWorld, observation: Observation | None = None, n: int = 64,
                 seed: int = 1) -> dict:
    """A TinyGPT on n fresh trajectories (keys seed, seed + 1; states known): loss (mean next-value cross-entropy,
    nats) beside entropy_rate; probe: a ridge linear probe of the current state from the hidden states (fit on the
    first key, tested on the second); pearson: Pearson over all entries of the learned logit table (the read-out
    of each state's mean hidden state) with its population optimum log P(z_t+1 | z_t) (through the observation),
    over the possible successors, both row-centred (the gauge: any c(a) per row); state_embeddings: those mean
    hidden states (N, width)."""
    o = "evaluate_gpt"
    if not isinstance(fit, PerceptualFit) or not isinstance(fit.encoder_a, TinyGPT):
        fail(param("fit", o), "be the result of learners.perceptual.train_gpt", type(fit).__name__, TypeError)
    observation = _same_kind(fit.view_a, observation, world, o)
    n, seed = check_int(n, "n", o, low=1), check_int(seed, "seed", o, low=0)
    model, length, size = fit.encoder_a, fit.config["length"], world.n_states
    was = model.training
    model.eval()
    feats = []
    try:
        for key in (seed, seed + 1):
            z, x = _trajectories(world, observation, n, length, [key])
            h = model.hidden(torch.from_numpy(x[:, :-1]))
            loss = float(next_event(model.out(h).flatten(0, 1), torch.from_numpy(x[:, 1:]).flatten()))
            feats.append((z[:, :-1].ravel(), h.flatten(0, 1).double().numpy()))
        (z1, h1), (z2, h2) = feats
        probe = _probe(h1, h2, z1, z2, size, 1e-3)
        e = np.stack([h1[z1 == s].mean(axis=0) if np.any(z1 == s) else np.zeros(h1.shape[1])
                      for s in range(size)])
        logits = model.out(torch.from_numpy(e).float()).double().numpy() @ observation.matrix.T  # over next states
    finally:
        model.train(was)
    a = world.transition.toarray() if world.is_sparse else world.transition
    seen = a > 0  # log P(b | a) is -inf elsewhere: rows are centred over their possible successors
    target = np.log(np.where(seen, a, 1.0))
    count = seen.sum(axis=1, keepdims=True)
    t = target - (target * seen).sum(axis=1, keepdims=True) / count
    g = logits - (logits * seen).sum(axis=1, keepdims=True) / count
    return {"loss": loss, "entropy_rate": fit.config["entropy_rate"], "probe": probe, "chance": 1 / size,
            "pearson": float(np.corrcoef(g[seen], t[seen])[0, 1]), "state_embeddings": e}
