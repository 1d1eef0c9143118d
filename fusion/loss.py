"""The contrastive objective: symmetric, multi-positive InfoNCE between two modalities of the same songs."""

from __future__ import annotations

import torch


def info_nce(p: torch.Tensor, q: torch.Tensor, group_p: torch.Tensor, group_q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mean of the p->q and q->p losses over a batch of paired unit rows: -log(softmax mass on right answers).

    p, q: (b, d) unit vectors, row i of each from the same song. group_p, group_q: (b,) ids of identical
    inputs. Songs sharing an input (one album's cover) are all right answers for each other: the loss asks
    for the softmax mass on the whole set, so the cover of a 10-song album is not asked to pick one song
    and push the other nine away (with one-hot targets its loss could never go below log 10).
    scale: 1 / temperature, a scalar.
    """
    logits = scale * (p @ q.T)
    positive = (group_p[:, None] == group_p[None, :]) | (group_q[:, None] == group_q[None, :])
    # `positive` is symmetric, so it serves both directions
    forward = logits.logsumexp(1) - logits.masked_fill(~positive, float("-inf")).logsumexp(1)
    backward = logits.logsumexp(0) - logits.masked_fill(~positive, float("-inf")).logsumexp(0)
    return 0.5 * (forward.mean() + backward.mean())
