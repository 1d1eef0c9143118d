"""The contrastive training loop: Adam on the heads (and the temperature), early-stopped on held-out loss."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .data import ANCHOR, Modalities
from .heads import ProjectionHead
from .loss import info_nce

MAX_SCALE = 100.0  # 1 / temperature never above this (temperature >= 0.01), as in CLIP


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and stopping settings of the contrastive loop.

    batch_size: songs per step. lr: AdamW learning rate; weight_decay: AdamW decay of the heads.
    max_epochs; patience: epochs without a held-out loss gain of min_delta before stopping.
    max_seconds: wall budget of the loop (s; None: none), checked after each epoch. It keeps a
      10,000-song fit under two minutes on a busy machine, at a price: a fit it stops depends on the
      machine's load, not only on the seed (FitReport.stopped_by says "time_budget").
    temperature: starting softmax temperature; learn_temperature: whether it is trained.
    input_dropout: share of input coordinates zeroed in training; without it the heads overfit a few
      thousand noisy pairs within 2-3 epochs (held-out loss rising from epoch 3 on the synthetic set).
    """

    batch_size: int = 512
    lr: float = 5e-4
    weight_decay: float = 1e-4
    max_epochs: int = 200
    patience: int = 10
    min_delta: float = 1e-4
    max_seconds: float | None = 90.0
    temperature: float = 0.05
    learn_temperature: bool = True
    input_dropout: float = 0.5


@dataclass
class TrainResult:
    epochs: int
    best_epoch: int
    stopped_by: str
    val_loss: list[float]
    temperature: float


class _Tensors:
    """One split's arrays, masks and duplicate-group ids as torch tensors."""

    def __init__(self, data: Modalities, groups: dict[str, np.ndarray]):
        self.x = {m: torch.from_numpy(a) for m, a in data.arrays.items()}
        self.mask = {m: torch.from_numpy(k) for m, k in data.masks.items()}
        self.group = {m: torch.from_numpy(g) for m, g in groups.items()}
        self.n = data.n


def _loss(heads, pairs, t: _Tensors, idx: torch.Tensor, scale: torch.Tensor, dropout: float = 0.0) -> torch.Tensor | None:
    """Mean InfoNCE over the modality pairs present (>= 2 songs) among songs idx; None if none is."""
    z = {ANCHOR: t.x[ANCHOR][idx]}
    for m, head in heads.items():
        z[m] = F.normalize(head(F.dropout(t.x[m][idx], dropout, training=dropout > 0)), dim=1)
    losses = []
    for p, q in pairs:
        sel = t.mask[p][idx] & t.mask[q][idx]
        if int(sel.sum()) >= 2:
            losses.append(info_nce(z[p][sel], z[q][sel], t.group[p][idx][sel], t.group[q][idx][sel], scale))
    return torch.stack(losses).mean() if losses else None


def train_heads(
    heads: dict[str, ProjectionHead],
    pairs: list[tuple[str, str]],
    train: Modalities,
    val: Modalities,
    groups_train: dict[str, np.ndarray],
    groups_val: dict[str, np.ndarray],
    settings: TrainSettings,
    seed: int,
) -> TrainResult:
    """Train `heads` in place on the (modality, modality) `pairs`, keeping the epoch with the lowest held-out loss.

    Epoch 0 is the starting point (the ridge warm start), so training can only be kept if it helps the
    held-out loss. The val split must hold >= 2 songs of at least one pair (the caller checks).
    """
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    tr, va = _Tensors(train, groups_train), _Tensors(val, groups_val)
    log_scale = torch.tensor(math.log(1.0 / settings.temperature), requires_grad=settings.learn_temperature)
    params = [p for h in heads.values() for p in h.parameters()]
    opt = torch.optim.AdamW(
        [{"params": params, "weight_decay": settings.weight_decay}]
        + ([{"params": [log_scale], "weight_decay": 0.0}] if settings.learn_temperature else []),
        lr=settings.lr,
    )
    val_idx = torch.arange(va.n)

    def held_out() -> float:
        for h in heads.values():
            h.eval()
        with torch.no_grad():
            return float(_loss(heads, pairs, va, val_idx, log_scale.exp().clamp(max=MAX_SCALE)))

    val_loss = [held_out()]
    best = (val_loss[0], 0, copy.deepcopy({m: h.state_dict() for m, h in heads.items()}), float(log_scale.detach()))
    stopped_by, epoch = "max_epochs", 0
    for epoch in range(1, settings.max_epochs + 1):
        for h in heads.values():
            h.train()
        perm = torch.randperm(tr.n, generator=gen)
        for i in range(0, tr.n, settings.batch_size):
            loss = _loss(heads, pairs, tr, perm[i : i + settings.batch_size], log_scale.exp().clamp(max=MAX_SCALE), settings.input_dropout)
            if loss is None:
                continue
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_loss.append(held_out())
        if val_loss[-1] < best[0] - settings.min_delta:
            best = (val_loss[-1], epoch, copy.deepcopy({m: h.state_dict() for m, h in heads.items()}), float(log_scale.detach()))
        if epoch - best[1] >= settings.patience:
            stopped_by = "patience"
            break
        if settings.max_seconds is not None and time.perf_counter() - start > settings.max_seconds:
            stopped_by = "time_budget"
            break
    for m, h in heads.items():
        h.load_state_dict(best[2][m])
        h.eval()
    return TrainResult(epoch, best[1], stopped_by, val_loss, 1.0 / min(math.exp(best[3]), MAX_SCALE))
