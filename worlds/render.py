"""Image observations: each state drawn as a small RGB image from its factors, with nuisance drawn fresh per sample.

A state's factors are its indices in a product of factor sizes (C order, as DropFactor and product worlds number
them), taken in the order FACTORS: shape, colour, texture, position (a world of 16 states as 4 shapes x 4 colours:
factor_sizes=(4, 4)). The exact `matrix` is over states: the identity, or with `drop` the merge of DropFactor (the
dropped factor is drawn at its first value: a colour-blind rendering draws every shape red). `render(states, seed,
start)` gives float32 images (B, 3, size, size); sample j's nuisance (jitter, rotation, background clutter, pixel
noise) comes from numpy's generator keyed (seed, start + j) alone, so a sample is a pure function of (state, seed,
index), whatever the batch it is drawn in. `decodability` estimates how well the state can be read from one image.
"""
from __future__ import annotations

import math

import numpy as np

from platonic_core.checks import check_int, check_real, fail, param

from ._checks import check_seed, check_sizes
from .observations import DropFactor, Observation, register_observation

FACTORS = ("shape", "colour", "texture", "position")
SHAPES = ("square", "circle", "triangle", "cross", "diamond", "ring")
PALETTE = np.array([[.9, .1, .1], [.1, .8, .1], [.15, .3, 1.], [.95, .9, .1], [.9, .1, .9], [.1, .9, .9],
                    [1., .55, 0.], [.95, .95, .95]])  # red green blue yellow magenta cyan orange white
TEXTURES = ("solid", "stripes", "checker")
CORNERS = np.array([[-.45, -.45], [.45, -.45], [-.45, .45], [.45, .45]])  # (x, y) centres of the 4 positions
MAXIMA = (len(SHAPES), len(PALETTE), len(TEXTURES), len(CORNERS))
CLUTTER_BLOBS = 3
BACKGROUND = 0.1


class Factored(Observation):
    """A perceptual observation of a product of factors (FACTORS, first len(factor_sizes) of them): the identity
    over states, or DropFactor's merge with `drop`. `.factors` (N, n_factors): the factor values each state is
    drawn with (the dropped factor at 0). Subclasses draw samples with `sample(states, seed, start)`; the caller
    holds the exact state behind every sample."""

    def __init__(self, factor_sizes, drop: int | None, maxima: tuple[int, ...], owner: str):
        sizes = check_sizes(factor_sizes, "factor_sizes", owner, low=1)
        if len(sizes) > len(maxima):
            fail(param("factor_sizes", owner), f"name at most {len(maxima)} factors ({', '.join(FACTORS)})", sizes)
        for name, size, most in zip(FACTORS, sizes, maxima):
            if size > most:
                fail(param("factor_sizes", owner), f"give the {name} factor at most {most} values", sizes)
        self.factor_sizes = sizes
        self.drop = None if drop is None else check_int(drop, "drop", owner, low=0, high=len(sizes) - 1)
        self.factors = np.indices(sizes).reshape(len(sizes), -1).T  # (N, n_factors), C order
        if drop is None:
            self.matrix = np.eye(len(self.factors))
        else:
            self.matrix = DropFactor(sizes, drop).matrix if len(sizes) > 1 else np.ones((len(self.factors), 1))
            self.factors[:, drop] = 0  # drawn alike whatever its value

    def _states(self, states, owner: str) -> np.ndarray:
        z = np.asarray(states)
        if z.ndim != 1 or z.size == 0 or not np.issubdtype(z.dtype, np.integer):
            fail(param("states", owner), "be a non-empty 1-D integer array", f"dtype {z.dtype}, shape {z.shape}")
        if z.min() < 0 or z.max() >= self.n_states:
            fail(param("states", owner), f"hold states in [0, {self.n_states - 1}]", f"range [{z.min()}, {z.max()}]")
        return z

    def _rngs(self, seed, start, n: int, owner: str, key=()) -> list[np.random.Generator]:
        seed = check_seed(seed, "seed", owner)
        start = check_int(start, "start", owner, low=0)
        return [np.random.default_rng([seed, *key, start + j]) for j in range(n)]


@register_observation("image")
class ImageObservation(Factored):
    """Each state as a size x size RGB image of a shape (SHAPES) in a colour (PALETTE) with a texture (TEXTURES) at a
    position (4 corners; centred without a position factor).

    Nuisance per sample: a shift uniform in [-jitter, jitter] pixels on each axis, a rotation uniform in
    [-rotation, rotation] degrees, CLUTTER_BLOBS soft discs of random colour x `clutter` in the background, then
    Gaussian pixel noise of standard deviation `noise` (images are not clipped, so that noise stays Gaussian).
    """

    def __init__(self, factor_sizes=(4, 4), size: int = 32, noise: float = 0.1, jitter: float = 2.0,
                 rotation: float = 15.0, clutter: float = 0.3, drop: int | None = None):
        o = "ImageObservation"
        super().__init__(factor_sizes, drop, MAXIMA, o)
        self.size = check_int(size, "size", o, low=16, high=256)
        self.noise = check_real(noise, "noise", o, low=0)
        self.jitter = check_real(jitter, "jitter", o, low=0, high=size / 8)
        self.rotation = check_real(rotation, "rotation", o, low=0, high=180)
        self.clutter = check_real(clutter, "clutter", o, low=0, high=1)

    def render(self, states, seed: int = 0, start: int = 0) -> np.ndarray:
        """Images (B, 3, size, size) float32 of `states` (B,); sample j drawn from the key (seed, start + j)."""
        owner = "ImageObservation.render"
        z = self._states(states, owner)
        return self._draw(z, self._rngs(seed, start, z.size, owner), noisy=True)

    sample = render

    def _draw(self, z: np.ndarray, rngs: list, noisy: bool) -> np.ndarray:
        """Every sample's nuisance is drawn from its own generator in one fixed order; noisy=False draws the same
        geometry without clutter and pixel noise (a template of decodability)."""
        s, b = self.size, z.size
        f = np.zeros((b, len(FACTORS)), dtype=int)
        f[:, :self.factors.shape[1]] = self.factors[z]
        positioned = len(self.factor_sizes) == len(FACTORS)
        geo = np.array([r.uniform(-1, 1, 3) for r in rngs])  # dx, dy, angle in [-1, 1]
        blobs = np.array([r.uniform(0, 1, (CLUTTER_BLOBS, 6)) for r in rngs])  # x, y, radius, r, g, b
        grid = ((np.arange(s) + 0.5) / s * 2 - 1).astype(np.float32)
        y, x = np.meshgrid(grid, grid, indexing="ij")  # (s, s); y grows downwards
        pix = 2 / s  # one pixel in image coordinates
        centre = CORNERS[f[:, 3]] if positioned else np.zeros((b, 2))
        centre = (centre + geo[:, :2] * self.jitter * pix).astype(np.float32)
        radius = 0.35 if positioned else 0.55
        # per-sample scalars (math) and float32 arrays throughout: a sample must not depend on its batch
        theta = [math.radians(t * self.rotation) for t in geo[:, 2]]
        cos = np.array([math.cos(t) for t in theta], dtype=np.float32)[:, None, None]
        sin = np.array([math.sin(t) for t in theta], dtype=np.float32)[:, None, None]
        dx, dy = x - centre[:, 0, None, None], y - centre[:, 1, None, None]
        u = (cos * dx + sin * dy) / radius  # the shape's own frame, in units of its radius
        v = (-sin * dx + cos * dy) / radius
        d = np.empty_like(u)
        for k in np.unique(f[:, 0]):  # only the shapes drawn
            at = f[:, 0] == k
            d[at] = _distance(k, u[at], v[at])
        mask = np.clip(0.5 - d * (radius / pix), 0, 1)  # one-pixel soft edge
        tex = np.ones_like(u)
        if f[:, 2].any():
            sv, su = (np.sin(3 * np.pi * v) > 0).astype(u.dtype), (np.sin(3 * np.pi * u) > 0).astype(u.dtype)
            tex = np.where(f[:, 2, None, None] == 1, 0.4 + 0.6 * sv, tex)
            tex = np.where(f[:, 2, None, None] == 2, 0.4 + 0.6 * np.abs(su - sv), tex)
        fill = PALETTE[f[:, 1]].astype(np.float32)[:, :, None, None] * tex[:, None]
        blobs = blobs.astype(np.float32)
        bx, by, br = blobs[..., 0] * 2 - 1, blobs[..., 1] * 2 - 1, 0.1 + 0.3 * blobs[..., 2]
        r2 = (x[None, None] - bx[..., None, None]) ** 2 + (y[None, None] - by[..., None, None]) ** 2
        soft = np.exp(-r2 / (2 * br[..., None, None] ** 2))  # (b, blobs, s, s)
        back = BACKGROUND + noisy * self.clutter * np.einsum("bkc,bkhw->bchw", blobs[..., 3:], soft)
        img = back * (1 - mask[:, None]) + fill * mask[:, None]
        if noisy and self.noise > 0:
            img = img + self.noise * np.stack([r.standard_normal((3, s, s)) for r in rngs])
        return img.astype(np.float32)

    def decodability(self, n_test: int = 512, n_templates: int = 32, seed: int = 0) -> dict:
        """How well the state can be read from one image: the held-out accuracy of the Monte-Carlo Bayes classifier.

        The likelihood p(x | z) is estimated as the mean over `n_templates` renders t_k of z without clutter and pixel
        noise (fresh jitter and rotation) of the Gaussian density N(x; t_k, noise^2 I); the classifier takes the most
        likely state (uniform prior; the nearest template at noise 0). Without clutter it is the exact Bayes
        classifier as n_templates grows (the clutter, the same for every state, is otherwise taken as noise). Any
        classifier's accuracy is at most the Bayes decodability, so the estimate is a lower bound up to its standard
        error sqrt(a (1 - a) / n_test). States are tested in turn (n_test // N each, uniform prior).
        Returns {'accuracy', 'stderr', 'chance', 'n_test', 'n_templates', 'noise'}."""
        o = "ImageObservation.decodability"
        n = self.n_states
        n_test = check_int(n_test, "n_test", o, low=n)
        n_templates = check_int(n_templates, "n_templates", o, low=1)
        seed = check_seed(seed, "seed", o)
        tz = np.repeat(np.arange(n), n_templates)
        templates = self._draw(tz, self._rngs(seed, 0, tz.size, o, key=(1,)), noisy=False).reshape(tz.size, -1)
        z = np.arange(n_test) % n
        x = self._draw(z, self._rngs(seed, 0, n_test, o, key=(2,)), noisy=True).reshape(n_test, -1)
        t, x = templates.astype(np.float64), x.astype(np.float64)
        d2 = (x * x).sum(1)[:, None] - 2 * x @ t.T + (t * t).sum(1)[None]
        d2 = d2.reshape(n_test, n, n_templates)
        if self.noise > 0:
            m = -d2 / (2 * self.noise ** 2)
            top = m.max(axis=2, keepdims=True)
            score = (top + np.log(np.exp(m - top).sum(axis=2, keepdims=True)))[..., 0]
        else:
            score = -d2.min(axis=2)
        a = float(np.mean(score.argmax(axis=1) == z))
        return {"accuracy": a, "stderr": float(np.sqrt(a * (1 - a) / n_test)), "chance": 1 / n, "n_test": n_test,
                "n_templates": n_templates, "noise": self.noise}


def _distance(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (about; negative inside) from the outline of SHAPES[shape], in units of the shape's radius."""
    au, av = np.abs(u), np.abs(v)
    if shape == 0:
        return np.maximum(au, av) - 0.8
    if shape == 1:
        return np.hypot(u, v) - 0.9
    if shape == 2:  # equilateral, apex up, inradius 0.5
        return np.maximum.reduce([v, -0.5 * v + 0.866 * u, -0.5 * v - 0.866 * u]) - 0.45
    if shape == 3:
        return np.minimum(np.maximum(au - 0.3, av - 0.9), np.maximum(av - 0.3, au - 0.9))
    if shape == 4:
        return (au + av) / np.sqrt(2) - 0.65
    return np.abs(np.hypot(u, v) - 0.65) - 0.25
