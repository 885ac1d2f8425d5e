"""A thin LightningModule: encoder + critic (or head) + one of the pure losses, AdamW with warmup and cosine decay.

The objectives are those of learners.objectives: the critic ones (infonce, nce, skipgram, spectral) score pairs
with g(a, b) = <f(a), f(b)> / tau; next_event scores every value with the tied critic plus a learnable output bias;
regression predicts the one-hot code of b through a linear head; vicreg scores the two views' embeddings."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from platonic_core.checks import check_bool, check_choice, check_int, check_positive, check_prob, check_real

from . import objectives as _obj
from .encoders import critic
from .losses import (
    binary_nce,
    info_nce,
    info_nce_negatives,
    next_event,
    one_hot_regression,
    skipgram,
    spectral_contrastive,
    vicreg,
)
from .population import LOSSES


def check_critic_options(loss: str, tau: float, normalize: bool, owner: str) -> None:
    """tau and normalize shape a critic <f(a), f(b)> / tau: objectives of the embeddings themselves take neither."""
    if _obj.get(loss, owner).kind == "representation" or loss == "regression":
        if tau != 1.0 or normalize:
            raise ValueError(f"The 'tau' and 'normalize' parameters of {owner} apply to critic objectives; "
                             f"loss={loss!r} trains the embeddings directly. Got tau={tau!r}, normalize={normalize!r} "
                             f"(use tau=1.0, normalize=False).")


class ContrastiveModule(pl.LightningModule):
    """Logits g(a, b) = <f(a), f(b)> / tau (cosine when `normalize`), plus a scalar bias for binary NCE and skip-gram
    with `learn_bias`, an output bias per value for next_event, a linear head (dim -> N values) for regression.
    Batches are dicts a (B,), b (B,) and optionally neg (B, K); without neg the other pairs of the batch are the
    negatives (in-batch). objective_kw: the objective's options (vicreg: sim, std, cov, gamma, eps)."""

    def __init__(self, encoder: torch.nn.Module, loss: str = "infonce", p_pos: float = 0.5, learn_bias: bool = False,
                 tau: float = 1.0, symmetric: bool = False, normalize: bool = False, lr: float = 0.01,
                 weight_decay: float = 0.0, warmup: int = 50, max_steps: int = 1000, min_lr: float = 0.0,
                 objective_kw: dict | None = None):
        super().__init__()
        owner = "ContrastiveModule"
        self.loss_name = check_choice(loss, "loss", owner, LOSSES)
        self.p_pos = check_prob(p_pos, "p_pos", owner, open_low=True, open_high=True)
        self.tau = check_positive(tau, "tau", owner)
        learn_bias = check_bool(learn_bias, "learn_bias", owner)
        _obj.check_learn_bias(loss, learn_bias, owner)
        self.objective_options = _obj.check_options(loss, objective_kw, owner)
        self.encoder = encoder
        self.bias = torch.nn.Parameter(torch.zeros(())) if learn_bias else None
        self.symmetric = check_bool(symmetric, "symmetric", owner)
        self.normalize = check_bool(normalize, "normalize", owner)
        check_critic_options(loss, self.tau, self.normalize, owner)
        if loss == "next_event":
            self.output_bias = torch.nn.Parameter(torch.zeros(encoder.n_inputs))
        if loss == "regression":
            with torch.no_grad():
                dim = encoder(torch.zeros(1, dtype=torch.long)).shape[-1]
            self.head = torch.nn.Linear(dim, encoder.n_inputs, bias=False)
        self.lr = check_positive(lr, "lr", owner)
        self.weight_decay = check_real(weight_decay, "weight_decay", owner, low=0)
        self.min_lr = check_real(min_lr, "min_lr", owner, low=0, high=self.lr)  # < 0 would ascend the loss
        self.logged_loss = None  # (step, loss) of the last logged step, for fit's history (KernelTracker)
        self.warmup = check_int(warmup, "warmup", owner, low=0)
        self.max_steps = check_int(max_steps, "max_steps", owner, low=1)

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        """f(idx), (..., dim): each distinct index is encoded once (values are few, batches large)."""
        uniq, inv = torch.unique(idx, return_inverse=True)
        return self.encoder(uniq)[inv]

    def embed_all(self) -> torch.Tensor:
        """f over every observed value, normalised for the cosine critic and scaled so E E^T is the kernel."""
        e = self.encoder(torch.arange(self.encoder.n_inputs, device=self.device))
        return (F.normalize(e, dim=-1) if self.normalize else e) / math.sqrt(self.tau)

    def loss(self, batch) -> torch.Tensor:
        """The loss of one batch (no logging: also what a bare PyTorch loop calls)."""
        a, b, neg = batch["a"], batch["b"], batch.get("neg")
        if self.loss_name in ("next_event", "regression", "vicreg", "spectral", "skipgram"):
            return self._other_loss(a, b, neg)
        parts = [a, b] if neg is None else [a, b, neg.reshape(-1)]
        z = self.embed(torch.cat(parts)).split([p.numel() for p in parts])
        fa, fb = z[0], z[1]
        if neg is None:
            if self.normalize:
                fa, fb = F.normalize(fa, dim=-1), F.normalize(fb, dim=-1)
            logits = fa @ fb.T / self.tau
            if self.loss_name == "infonce":
                loss = info_nce(logits, symmetric=self.symmetric)
            else:
                n = len(a)  # off-diagonal entries as a view: drop the first, the rest rows of n + 1 end on the diagonal
                off = logits.flatten()[1:].view(n - 1, n + 1)[:, :-1]
                loss = binary_nce(logits.diagonal(), off, self.p_pos, self.bias)
        else:
            pos = critic(fa, fb, self.normalize, self.tau)
            negs = critic(fa[:, None], z[2].reshape(*neg.shape, -1), self.normalize, self.tau)
            loss = (info_nce_negatives(pos, negs) if self.loss_name == "infonce"
                    else binary_nce(pos, negs, self.p_pos, self.bias))
        return loss

    def _other_loss(self, a, b, neg) -> torch.Tensor:
        """The objectives added to infonce and nce (learners.objectives)."""
        name = self.loss_name
        if name == "next_event":
            e = self.encoder(torch.arange(self.encoder.n_inputs, device=a.device))
            e = F.normalize(e, dim=-1) if self.normalize else e
            return next_event(e[a] @ e.T / self.tau + self.output_bias, b)
        if name == "regression":
            return one_hot_regression(self.head(self.embed(a)), b)
        parts = [a, b] if neg is None else [a, b, neg.reshape(-1)]
        z = self.embed(torch.cat(parts)).split([p.numel() for p in parts])
        fa, fb = z[0], z[1]
        if name == "vicreg":
            return vicreg(fa, fb, **self.objective_options)
        if neg is None:
            if name == "skipgram":
                raise ValueError("loss='skipgram' needs explicit negatives (a batch with 'neg' of shape (B, K)).")
            if self.normalize:
                fa, fb = F.normalize(fa, dim=-1), F.normalize(fb, dim=-1)
            logits = fa @ fb.T / self.tau
            n = len(a)
            off = logits.flatten()[1:].view(n - 1, n + 1)[:, :-1]
            return spectral_contrastive(logits.diagonal(), off)
        pos = critic(fa, fb, self.normalize, self.tau)
        negs = critic(fa[:, None], z[2].reshape(*neg.shape, -1), self.normalize, self.tau)
        return skipgram(pos, negs, self.bias) if name == "skipgram" else spectral_contrastive(pos, negs)

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        # self.log costs about a millisecond on CPU: call it only on the steps the logger writes
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("loss", loss, on_step=True, on_epoch=False)
            self.logged_loss = (int(self.global_step), loss.detach())
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        floor = self.min_lr / self.lr

        def schedule(step: int) -> float:  # linear warmup, then cosine down to min_lr at max_steps
            if step < self.warmup:
                return (step + 1) / self.warmup
            t = min(1.0, (step - self.warmup) / max(1, self.max_steps - self.warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
