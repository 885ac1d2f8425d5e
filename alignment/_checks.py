"""Array checks shared by the public entry points (tensors, devices, shapes). Scalar validators and the message
builder `fail` are platonic_core.checks: "The 'k' parameter of mutual_knn must be in [1, N-1] with N=200. Got 200
instead."
"""
import numpy as np
import torch

from platonic_core.checks import fail

_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


def check_dtype(dtype, fn):
    """torch.float32 / torch.float64 (or their names) -> torch dtype."""
    try:
        return _DTYPES[dtype]
    except (KeyError, TypeError):
        fail(f"'dtype' parameter of {fn}", "be torch.float32 or torch.float64 (or 'float32', 'float64')",
             repr(dtype), TypeError)


def as_tensor(x, who, dtype, device=None, ndim=2):
    """numpy array or torch tensor -> real tensor of `dtype` on `device` (default: its own); shape unchecked."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            fail(who, "have a real numeric dtype", f"dtype {x.dtype}", TypeError)
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if x.is_complex():
            fail(who, "have a real numeric dtype", f"dtype {x.dtype}", TypeError)
        t = x.detach()
    else:
        fail(who, "be a numpy array or torch tensor", type(x).__name__, TypeError)
    if t.ndim != ndim:
        shape = {2: "N x D", 3: "L x N x D"}[ndim]
        fail(who, f"be a {ndim}-D array ({shape})", f"shape {tuple(t.shape)}")
    if t.numel() == 0:
        fail(who, "be non-empty", f"shape {tuple(t.shape)}")
    return t.to(device=device if device is not None else t.device, dtype=dtype)


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
