"""Subspace scores. SVCCA: z-score the columns, keep the top `cca_dim` exact left singular vectors, and average the
canonical correlations between the two subspaces (the singular values of U_a^T U_b for orthonormal bases U). PWCCA:
the canonical correlations weighted by how much of the first input each canonical variate carries. Procrustes: the
nuclear norm of X~_a^T X~_b for centred, unit-norm features. Every state has one row per sample, so permuting the
samples permutes its rows (the relabelled states of a permutation null)."""
import torch

from ._scale import factor, factors, maxabs


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


def procrustes_state(X):
    """X (N x D) column-centred and scaled to unit Frobenius norm, or, when D > N, an N x N matrix W with the same
    W W^T (from a QR of X^T: X = R^T Q^T), which leaves every nuclear norm of X^T Y unchanged; None for constant
    features. The centring subtracts a sample first (constant features become exactly 0) with a power of two
    (exact) that keeps the norm from overflowing or underflowing; the norm is summed in float64."""
    f = factor(maxabs(X), X.dtype)
    X = torch.add(X[0:1] * -f, X, alpha=f)
    X = X - X.mean(0, keepdim=True)
    norm = torch.linalg.vector_norm(X, dtype=torch.float64).item()  # float32 sums lose ~N eps (3e-3 at N = 65536)
    if norm == 0:
        return None
    X = X / norm
    return torch.linalg.qr(X.T).R.T if X.shape[1] > X.shape[0] else X


def procrustes(Xa, Xb):
    """Nuclear norm of Xa^T Xb (unit-norm centred features): cos of the angular Procrustes distance, in [0, 1]."""
    return min(torch.linalg.svdvals((Xa.T @ Xb).double()).sum().item(), 1.0)


def pwcca_state(X):
    """(Q, R) of the centred X (N x D): Q (N x r) an orthonormal basis of its column space (left singular vectors
    above rounding), R = Q^T X (r x D), the coordinates of its neurons (columns) in that basis; None for constant
    features. Permuting the rows of X permutes the rows of Q alone."""
    f = factor(maxabs(X), X.dtype)
    X = torch.add(X[0:1] * -f, X, alpha=f)
    X = X - X.mean(0, keepdim=True)
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    r = int((s > s[0] * max(X.shape) * torch.finfo(X.dtype).eps).sum()) if s[0] > 0 else 0
    return (U[:, :r], s[:r, None] * Vh[:r]) if r else None


def pwcca(a, b):
    """Projection-weighted CCA (Morcos et al. 2018) weighted by the a side: sum_i w_i rho_i / sum_i w_i over the
    m = min(r_a, r_b) canonical pairs, rho_i the canonical correlations (singular values of Q_a^T Q_b), w_i =
    sum_j |<h_i, x_j>| with h_i = Q_a u_i the i-th canonical variate of a (unit norm) and x_j the j-th centred
    neuron of a, i.e. the row sums of |u_i^T R_a|. In [0, 1]."""
    (Qa, Ra), (Qb, _) = a, b
    U, rho, _ = torch.linalg.svd((Qa.T @ Qb).double(), full_matrices=False)
    w = (U.T @ Ra.double()).abs().sum(1)
    return min(max((w @ rho.clamp(max=1.0)).item() / w.sum().item(), 0.0), 1.0)
