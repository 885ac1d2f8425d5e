"""Exact rescaling by powers of two, so that no metric overflows or underflows on large or small inputs.

Every metric is invariant to a positive factor on an input (CKA, CKNNA: on the whole matrix; cosine k-NN and the
pipeline's L2 normalisation: on each row; SVCCA's z-scoring: on each column). Multiplying by 2^-e only changes
exponents, so results are bit-identical to the unscaled computation wherever that neither overflowed nor
underflowed, while magnitudes near 1 keep products and sums of squares (HSIC, norms) far from both ends of the range.
"""
import math

import torch
import torch.nn.functional as F


def maxabs(X, dim=None):
    """Largest |x| of X (a float), or along `dim` (a tensor, keepdim)."""
    if dim is None:
        lo, hi = torch.aminmax(X)  # one pass, no copy of X
        return max(-lo.item(), hi.item())
    return X.abs().amax(dim, keepdim=True)


def _emin(dtype):
    """The least exponent e for which 2^-e is still a finite `dtype` number."""
    return 1 - math.frexp(torch.finfo(dtype).max)[1]


def factor(m, dtype):
    """2^-e for the float m = f 2^e with f in [0.5, 1), so that m 2^-e lies in [0.5, 1); 1 for m = 0. For a
    subnormal m, 2^-e is capped at the largest power of two of `dtype`, which still makes m normal."""
    return math.ldexp(1.0, -max(math.frexp(m)[1], _emin(dtype)))


def factors(m, dtype):
    """`factor` of each entry of the tensor m, as a tensor of `dtype`."""
    return torch.exp2(-torch.frexp(m).exponent.clamp(min=_emin(dtype)).to(dtype))


def pow2(X, dim=None):
    """X times powers of two that bring max|x| into [0.5, 1): over all of X (dim=None) or along `dim` (1: each row of
    an N x D matrix). All-zero slices stay zero."""
    return X * (factor(maxabs(X), X.dtype) if dim is None else factors(maxabs(X, dim), X.dtype))


def unit_rows(X):
    """Rows of X (N x D) scaled to unit L2 norm, for any magnitude; zero rows stay zero. F.normalize alone squares
    the entries (overflow above ~1e19 in float32, underflow below ~1e-19) and leaves rows with a norm under 1e-12
    short of norm 1: where the norms show that this may have happened, rows are first scaled by powers of two, which
    elsewhere would change nothing."""
    n = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    lo, hi = torch.aminmax(n)
    if hi < math.inf and lo > torch.finfo(X.dtype).tiny ** 0.4:  # squares far above the underflow
        return X / n
    return F.normalize(pow2(X, 1), dim=1)
