"""Ridge (regularised least-squares) maps between two spaces, with the penalty picked by leave-one-out error.

It is the small-library fallback, the honest non-contrastive baseline, and the warm start of each
contrastive head's linear path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RidgeMap:
    """y ≈ x @ weight + bias. weight (in_dim, out_dim), bias (out_dim,); penalty: the chosen lambda."""

    weight: np.ndarray
    bias: np.ndarray
    penalty: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, in_dim) -> (n, out_dim) unit rows."""
        y = x @ self.weight + self.bias
        return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def fit_ridge(x: np.ndarray, y: np.ndarray, penalties: np.ndarray | None = None) -> RidgeMap:
    """Fit y ≈ x @ W + b for paired rows x (n, in_dim), y (n, out_dim).

    penalties: candidate lambdas as fractions of the largest squared singular value of centred x
    (default 1e-6 .. 10, 15 steps). The one with the lowest leave-one-out squared error is kept (the
    closed form e_i / (1 - h_ii) makes this one SVD). One pair gives W = 0 and b = y.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = len(x)
    mx, my = x.mean(0), y.mean(0)
    if n < 2:
        return RidgeMap(np.zeros((x.shape[1], y.shape[1]), np.float32), my.astype(np.float32), float("inf"))
    xc, yc = x - mx, y - my
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc
    grid = (s[0] ** 2 + 1e-12) * (np.logspace(-6, 1, 15) if penalties is None else np.asarray(penalties))
    best = None
    for lam in grid:
        shrink = s**2 / (s**2 + lam)
        fitted = u @ (shrink[:, None] * uty)
        # leverage of each row, including the intercept's 1/n
        h = (u**2) @ shrink + 1.0 / n
        loo = ((yc - fitted) / np.maximum(1.0 - h, 1e-6)[:, None]) ** 2
        err = loo.sum()
        if best is None or err < best[0]:
            best = (err, lam)
    lam = best[1]
    w = vt.T @ ((s / (s**2 + lam))[:, None] * uty)
    return RidgeMap(w.astype(np.float32), (my - mx @ w).astype(np.float32), float(lam))
