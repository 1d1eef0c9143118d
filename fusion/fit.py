"""fit: learn the lyrics and cover heads into the audio space from the pairs each song has.

Steps: check inputs -> split songs into train / val / test by whole albums (songs sharing a vector)
-> ridge map of each modality into audio (warm start and baseline) -> contrastive training of the heads
on audio<->lyrics, audio<->cover, lyrics<->cover, early-stopped on val -> recall on test against a
"no fusion" random projection and the ridge map. A library with fewer than `min_pairs` songs for every
modality gets ridge maps fitted on all its songs and an audio-only joint vector instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import torch

from .data import ANCHOR, Modalities, check_inputs, duplicate_groups, song_groups, split_songs
from .heads import ProjectionHead, random_projection
from .metrics import cross_modal_recall
from .model import DEFAULT_WEIGHTS, FusionModel
from .report import FitReport
from .ridge import RidgeMap, fit_ridge
from .train import TrainSettings, train_heads


@dataclass(frozen=True)
class FitConfig:
    """How to fit.

    val_fraction / test_fraction: shares of songs held out for early stopping / for the reported recall.
    hidden: width of each head's MLP path (0 = linear heads). min_pairs: songs a modality needs (with
    audio) to be trained contrastively; below it the modality gets a ridge map that stays out of the joint
    vector. weights: modality -> weight in the joint mean. threads: torch CPU threads while fitting (None:
    leave torch's setting); one by default because the heads' matrices are small: on the 2-core box one
    thread ran an epoch of 8,000 songs in 0.35 s, two threads in 3.1 s (they wait on each other, worse
    when other processes share the cores). train: optimiser and stopping settings.
    """

    val_fraction: float = 0.1
    test_fraction: float = 0.1
    hidden: int = 128
    min_pairs: int = 30
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    threads: int | None = 1
    train: TrainSettings = TrainSettings()


def fit(
    arrays: dict[str, np.ndarray],
    masks: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    config: FitConfig | None = None,
    encoders: dict[str, str] | None = None,
) -> tuple[FusionModel, FitReport]:
    """Fit a FusionModel on a library's vectors.

    arrays: modality -> (n_songs, dim) float32 unit rows ("audio" required; e.g. "lyrics", "cover").
    masks: modality -> (n_songs,) bool, which songs have it (absent: all). seed: fixes split, init, batches.
    encoders: modality -> encoder name, stored so a model is never loaded against other encoders.
    Returns the model and a FitReport (print `report.summary()`).
    """
    config = config or FitConfig()
    start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    # a private RNG stream: head init, dropout and batches depend on `seed` only, and the caller's RNG is untouched
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return _fit(arrays, masks, seed, config, encoders, start)
        finally:
            torch.set_num_threads(old_threads)


def _fit(arrays, masks, seed, config, encoders, start) -> tuple[FusionModel, FitReport]:
    data = check_inputs(arrays, masks)
    others = [m for m in data.arrays if m != ANCHOR]
    pairs = {m: int(data.masks[m].sum()) for m in others}
    groups = {m: duplicate_groups(a, data.masks[m]) for m, a in data.arrays.items()}
    trainable = [m for m in others if pairs[m] >= config.min_pairs]
    train, val, test = split_songs(song_groups(data), (config.val_fraction, config.test_fraction), seed)
    if not trainable or not _has_pair(data.take(val), _pairs(trainable)):
        model, report = _small_library(data, pairs, seed, config, encoders, trainable)
    else:
        model, report = _contrastive(data, groups, pairs, trainable, (train, val, test), seed, config, encoders)
    report.seconds = round(time.perf_counter() - start, 2)
    model.report = report
    return model, report


def _pairs(trainable: list[str]) -> list[tuple[str, str]]:
    """Modality pairs trained together: each with audio, then each trainable pair among themselves."""
    return [(ANCHOR, m) for m in trainable] + list(combinations(trainable, 2))


def _has_pair(val: Modalities, pairs: list[tuple[str, str]]) -> bool:
    return any(int((val.masks[p] & val.masks[q]).sum()) >= 2 for p, q in pairs)


def _ridge_head(r: RidgeMap) -> ProjectionHead:
    head = ProjectionHead(r.weight.shape[0], r.weight.shape[1], hidden=0)
    head.set_linear(r.weight, r.bias)
    return head


def _ridge_maps(data: Modalities, modalities: list[str]) -> dict[str, RidgeMap]:
    """Ridge map of each modality into audio, from the songs of `data` that have it (none if no song has)."""
    maps = {}
    for m in modalities:
        rows = np.flatnonzero(data.masks[m])
        if len(rows):
            maps[m] = fit_ridge(data.arrays[m][rows], data.arrays[ANCHOR][rows])
    return maps


def _small_library(data, pairs, seed, config, encoders, trainable) -> tuple[FusionModel, FitReport]:
    """Too few songs to train or to hold any out: ridge maps on every song, joint = audio alone."""
    others = [m for m in data.arrays if m != ANCHOR]
    maps = _ridge_maps(data, others)
    heads = {m: _ridge_head(r) for m, r in maps.items()}
    methods = {ANCHOR: "identity", **{m: ("ridge" if m in maps else "none") for m in others}}
    weights = {ANCHOR: 1.0, **{m: 0.0 for m in others}}
    counts = ", ".join(f"{m}: {pairs[m]}" for m in others)
    if not others:
        reason = "no modality besides audio: joint vector = audio"
    else:
        why = f"no modality has {config.min_pairs} songs" if not trainable else "too few songs to hold any out"
        reason = f"{why} ({counts}): ridge maps fitted on all {data.n} songs, joint vector = audio alone, no held-out figures"
    report = FitReport(data.n, data.n, 0, 0, seed, pairs, methods, fallback=reason)
    return FusionModel(data.dims, heads, methods, weights, encoders), report


def _contrastive(data, groups, pairs, trainable, split, seed, config, encoders) -> tuple[FusionModel, FitReport]:
    train, val, test = split
    others = [m for m in data.arrays if m != ANCHOR]
    tr, va, te = data.take(train), data.take(val), data.take(test)
    ridge = _ridge_maps(tr, others)
    joint_dim = data.dims[ANCHOR]
    heads = {}
    for m, r in ridge.items():
        heads[m] = ProjectionHead(data.dims[m], joint_dim, config.hidden if m in trainable else 0)
        heads[m].set_linear(r.weight, r.bias)
    result = train_heads(
        {m: heads[m] for m in trainable},
        _pairs(trainable),
        tr,
        va,
        {m: g[train] for m, g in groups.items()},
        {m: g[val] for m, g in groups.items()},
        config.train,
        seed,
    )
    methods = {ANCHOR: "identity", **{m: ("contrastive" if m in trainable else "ridge" if m in heads else "none") for m in others}}
    # ridge fallbacks (too few songs) stay out of the joint vector: too noisy to move a song's audio vector
    weights = {m: (config.weights.get(m, 0.5) if m == ANCHOR or m in trainable else 0.0) for m in data.arrays}
    model = FusionModel(data.dims, heads, methods, weights, encoders, result.temperature)

    eval_pairs = [(m, ANCHOR) for m in others if m in heads] + [(p, q) for p, q in combinations(others, 2) if p in heads and q in heads]
    anchor = lambda x: model.project(ANCHOR, x)  # noqa: E731
    projectors = {
        "no fusion": {ANCHOR: anchor, **{m: _random_projector(data.dims[m], joint_dim, seed + i) for i, m in enumerate(others, 1)}},
        "ridge": {ANCHOR: anchor, **ridge},
        "fitted": {ANCHOR: anchor, **{m: (lambda x, m=m: model.project(m, x)) for m in heads}},
    }
    recall, queries, gallery = cross_modal_recall(
        te.arrays, te.masks, {m: g[test] for m, g in groups.items()}, eval_pairs, projectors
    )
    report = FitReport(
        data.n, len(train), len(val), len(test), seed, pairs, methods,
        epochs=result.epochs, best_epoch=result.best_epoch, stopped_by=result.stopped_by,
        temperature=result.temperature, val_loss=result.val_loss,
        recall=recall, queries=queries, gallery=gallery,
    )
    return model, report


def _random_projector(in_dim: int, out_dim: int, seed: int):
    """The "no fusion" baseline: a fixed random map, i.e. what search can do with no fitted map at all."""
    w = random_projection(in_dim, out_dim, seed)
    return lambda x: RidgeMap(w, np.zeros(out_dim, np.float32), 0.0)(x)
