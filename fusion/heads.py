"""Projection heads: small maps from one modality's space into the joint (audio) space.

A head is a linear path plus, optionally, a one-hidden-layer MLP added to it (a residual on top of the
linear map). The MLP's output layer starts at zero, so a freshly built head is exactly its linear path,
which the fitter warm-starts from the ridge (least-squares) map.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ProjectionHead(nn.Module):
    """x (n, in_dim) -> (n, out_dim), not normalised: linear(x) + mlp(x).

    hidden: width of the MLP's hidden layer (GELU); 0 means a purely linear head.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0):
        super().__init__()
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.linear = nn.Linear(in_dim, out_dim)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)) if hidden else None
        if self.mlp is not None:
            # zero output layer: the head starts as its linear path and learns only what that misses
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y if self.mlp is None else y + self.mlp(x)

    def set_linear(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Set the linear path from weight (in_dim, out_dim) and bias (out_dim,), as x @ weight + bias."""
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T, dtype=np.float32)))
            self.linear.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def project(self, x: np.ndarray) -> np.ndarray:
        """Project float32 rows (n, in_dim) -> (n, out_dim) unit rows (numpy in, numpy out, no grad)."""
        with torch.no_grad():
            y = self(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            y = nn.functional.normalize(y, dim=1)
        return y.numpy()


def random_projection(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    """(in_dim, out_dim) fixed Gaussian map scaled by 1/sqrt(out_dim): the "no fusion" baseline.

    Without a fitted map a lyrics or cover vector has no place in the audio space; any fixed map (random,
    zero-padding, truncation) relates unrelated coordinates, so retrieval through it is at chance.
    """
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((in_dim, out_dim)) / np.sqrt(out_dim)).astype(np.float32)
