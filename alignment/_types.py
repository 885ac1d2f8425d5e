"""Types of the public annotations. Inputs are numpy arrays or torch tensors (not nested lists: a list of matrices is
a layer stack)."""
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

Matrix = np.ndarray | torch.Tensor     # N x D features, or an N x N kernel
Layers = Matrix | Sequence[Matrix]     # one N x D matrix, L x N x D, or a sequence of N x D (widths may differ)
DType = torch.dtype | str              # torch.float32 / torch.float64, or "float32" / "float64"
Device = torch.device | str
Knn = Literal["exact", "faiss", "faiss-approx"]
Clamp = Literal["layer", "stack", "stack-precise"]
Aggregate = Literal["max", "mean"]
Sim = Callable[[torch.Tensor, torch.Tensor], float]  # a user's similarity of two N x D tensors (calibrate)
