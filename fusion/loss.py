"""The contrastive objective: symmetric, multi-positive InfoNCE between two modalities of the same songs."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def info_nce(p: torch.Tensor, q: torch.Tensor, group_p: torch.Tensor, group_q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mean of the p->q and q->p cross-entropies over a batch of paired unit rows.

    p, q: (b, d) unit vectors, row i of each from the same song. group_p, group_q: (b,) ids of identical
    inputs; songs sharing an input (one album's cover) are all right answers for each other, so the
    target of row i spreads evenly over them instead of punishing the album's other songs as negatives.
    scale: 1 / temperature, a scalar.
    """
    logits = scale * (p @ q.T)
    positive = (group_p[:, None] == group_p[None, :]) | (group_q[:, None] == group_q[None, :])
    target = positive.float()
    target = target / target.sum(1, keepdim=True)
    # `positive` is symmetric, so the same normalised target serves both directions
    forward = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    backward = -(target * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (forward + backward)
