"""Array checks shared by the public entry points (tensors, devices, shapes). Scalar validators and the message
builder `fail` are platonic_core.checks: "The 'k' parameter of mutual_knn must be in [1, N-1] with N=200. Got 200
instead."
"""
import numpy as np
import torch

from platonic_core.checks import fail

from . import _scale

_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


def check_dtype(dtype, fn):
    """torch.float32 / torch.float64 (or their names) -> torch dtype."""
    try:
        return _DTYPES[dtype]
    except (KeyError, TypeError):
        fail(f"'dtype' parameter of {fn}", "be torch.float32 or torch.float64 (or 'float32', 'float64')",
             repr(dtype), TypeError)


def as_tensor(x, who, dtype, device=None, rescale=True):
    """numpy array or torch tensor (2-D, N x D) -> real tensor of `dtype` on `device` (default: its own).

    A conversion that narrows the range (float64 -> float32) of an input whose largest |x| is far from 1 (outside
    2^-32..2^32) or has rows near float32's smallest numbers first multiplies it, with `rescale` (inputs of
    scale-invariant computations), by the power of two that brings its largest finite |x| into [0.5, 1): exact, so
    results are unchanged, and small entries keep their precision. What float32 still cannot hold is an error that
    suggests dtype=torch.float64 (see _narrow).
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            fail(who, "have a real numeric dtype", f"dtype {x.dtype}", TypeError)
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if x.is_complex():
            fail(who, "have a real numeric dtype", f"dtype {x.dtype}", TypeError)
        if x.layout != torch.strided:
            fail(who, "be a dense tensor", f"layout {x.layout}", TypeError)
        t = x.detach()
    else:
        fail(who, "be a numpy array or torch tensor", type(x).__name__, TypeError)
    if t.ndim != 2:
        fail(who, "be a 2-D array (N x D)", f"shape {tuple(t.shape)}")
    if t.numel() == 0:
        fail(who, "be non-empty", f"shape {tuple(t.shape)}")
    t = t.to(device=device if device is not None else t.device)
    if t.is_floating_point() and torch.finfo(t.dtype).max > torch.finfo(dtype).max:
        return _narrow(t, who, dtype, rescale)
    return t.to(dtype=dtype)


def _narrow(X, who, dtype, rescale):
    """X (float64, N x D) converted to `dtype` (float32), with an error for what float32 cannot hold: values that
    overflow, a nonzero row below its normal numbers (its precision lost), rows that differ but all become identical
    (the input would look constant)."""
    out = X.to(dtype)
    lo, hi = (v.item() for v in torch.aminmax(out.abs().amax(1)))  # row maxima: cheaply, whether anything is lost
    if not 2.0 ** -32 <= hi <= 2.0 ** 32 or lo < torch.finfo(dtype).tiny:
        out = _fit(X, who, dtype, rescale)
    if same_rows(out) and not same_rows(X):
        fail(who, f"fit in {dtype} (its rows differ only on a scale it cannot hold next to its largest |x|; pass "
                  "dtype=torch.float64)",
             f"rows that all become identical in {dtype}")
    return out


def _fit(X, who, dtype, rescale):
    """X converted to `dtype`, first rescaled (see as_tensor) so that small entries keep their precision; overflow,
    or rows below the normal numbers, are errors. Zero rows and NaN or inf in X are not (check_finite's)."""
    info = torch.finfo(dtype)
    rows = X.abs().nan_to_num_(nan=0.0, posinf=0.0).amax(1)  # largest finite |x| of each row
    top, low = rows.max().item(), rows[rows > 0].min().item() if rows.any() else 0.0
    f = _scale.factor(top, X.dtype) if rescale else 1.0

    def bad(why, got):
        fail(who, f"fit in {dtype} ({why}; pass dtype=torch.float64)", got)
    if top * f > info.max:
        bad("larger values overflow", f"max |x| = {top:.3g}")
    if 0 < low * f < info.tiny:
        lost = ((rows > 0) & (rows * f < info.tiny)).nonzero()[:, 0]
        n = len(lost)
        bad("its values span more than its range" + ", even after exact rescaling" * rescale,
            f"{n} row{'s' * (n > 1)} below its smallest normal number (first: row {int(lost[0])}, max |x| = "
            f"{rows[lost[0]].item():.3g} against {top:.3g} overall)")
    return (X * f).to(dtype)


def same_rows(X):
    """Whether all rows of X are identical (torch.equal stops at the first difference)."""
    return torch.equal(X, X[:1].expand_as(X))


def check_finite(t, who, allow_neg_inf=False):
    """Reject NaN and inf (optionally allowing -inf, for similarities such as K_PMI)."""
    if torch.isfinite(t.sum()):  # one cheap pass: NaN and inf reach the sum (an overflow is re-checked below)
        return
    nan = torch.isnan(t)
    inf = torch.isposinf(t) if allow_neg_inf else torch.isinf(t)
    if nan.any() or inf.any():
        what = "+inf" if allow_neg_inf else "infinite"
        fail(who, "contain only finite values" + (" or -inf" if allow_neg_inf else ""),
             f"{int(nan.sum())} NaN and {int(inf.sum())} {what} entries (after conversion to {t.dtype})")


def same_device(ts, fn):
    """Common device of the torch inputs; numpy inputs follow it. Two tensor devices -> error."""
    devs = {x.device for x in ts if isinstance(x, torch.Tensor)}
    if len(devs) > 1:
        fail(f"inputs of {fn}", "be on one device", ", ".join(sorted(map(str, devs))))
    return devs.pop() if devs else torch.device("cpu")


def check_rows(shapes, names, fn):
    """All inputs share N (the first dim of each N x D matrix)."""
    if len({s[0] for s in shapes}) > 1:
        ns = " and ".join(f"'{n}'" for n in names)
        got = " and ".join(str(tuple(s)) for s in shapes)
        fail(f"{ns} parameters of {fn}", "have the same number of rows N", f"shapes {got}")
