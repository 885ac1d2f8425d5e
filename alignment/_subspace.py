"""SVCCA: z-score the columns, keep the top `cca_dim` exact left singular vectors, and average the canonical
correlations between the two subspaces (the singular values of U_a^T U_b for orthonormal bases U)."""
import torch

from ._scale import factors, maxabs


def basis(X):
    """z-scored X (N x D) -> (U, rank): U (N x min(N, D)) left singular vectors, largest first.

    A constant column z-scores to 0/0; it is set to 0 (it carries no variation, as in the paper's code, whose
    +1e-8 in the denominator gives the same), and the rank check catches features with nothing left. Each column
    is scaled by a power of two in the same pass (exact; z-scoring ignores it) so that neither the subtraction nor
    the norm overflows or underflows.
    """
    f = factors(maxabs(X, 0), X.dtype)
    X = torch.addcmul(X[0:1] * -f, X, f)  # constant columns become exactly 0
    X = X - X.mean(0, keepdim=True)
    sd = X.norm(dim=0)
    Z = X / torch.where(sd > 0, sd, 1.0)
    U, s, _ = torch.linalg.svd(Z, full_matrices=False)
    tol = s[0] * max(Z.shape) * torch.finfo(Z.dtype).eps
    return U, int((s > tol).sum())


def svcca(Ua, Ub):
    """Mean canonical correlation between span(Ua) and span(Ub) (N x c orthonormal each)."""
    return torch.linalg.svdvals((Ua.T @ Ub).double()).clamp(max=1.0).mean().item()
