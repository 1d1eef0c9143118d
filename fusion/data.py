"""Checks and prepares fusion inputs: per-modality (n_songs, dim) arrays with presence masks.

Every modality array has one row per song (rows of songs that lack the modality are ignored and may hold
anything, zeros or NaN). "audio" is the anchor and is always present. This module also finds songs that
share an identical vector (songs of one album share its cover) and splits songs into train/val/test so
that such songs never straddle the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FusionError

ANCHOR = "audio"


@dataclass(frozen=True)
class Modalities:
    """Checked inputs: unit-length float32 arrays (missing rows zeroed) and boolean masks, both keyed by modality."""

    arrays: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.arrays[ANCHOR])

    @property
    def dims(self) -> dict[str, int]:
        return {m: a.shape[1] for m, a in self.arrays.items()}

    def take(self, rows: np.ndarray) -> "Modalities":
        """The subset of songs at `rows` (indices or a boolean mask)."""
        return Modalities({m: a[rows] for m, a in self.arrays.items()}, {m: k[rows] for m, k in self.masks.items()})


def check_inputs(arrays: dict[str, np.ndarray], masks: dict[str, np.ndarray] | None = None) -> Modalities:
    """Validate and normalise inputs.

    arrays: modality -> (n_songs, dim) floats, all with the same n_songs; must contain "audio".
    masks: modality -> (n_songs,) bool; a modality without a mask is present for every song.
    Present rows are re-scaled to unit length (they should already be); absent rows become zeros.
    Raises FusionError naming the bad modality and what was expected.
    """
    masks = dict(masks or {})
    if ANCHOR not in arrays:
        raise FusionError(f"fusion needs an {ANCHOR!r} array (the anchor space); got {', '.join(sorted(arrays)) or 'none'}")
    n = len(arrays[ANCHOR])
    out_arrays, out_masks = {}, {}
    for m, a in arrays.items():
        a = np.asarray(a, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != n:
            raise FusionError(f"{m} array has shape {a.shape}; expected ({n}, dim) like the audio array")
        k = np.ones(n, bool) if masks.get(m) is None else np.asarray(masks[m], dtype=bool)
        if k.shape != (n,):
            raise FusionError(f"{m} mask has shape {k.shape}; expected ({n},)")
        if m == ANCHOR and not k.all():
            raise FusionError(f"every song needs audio; {int((~k).sum())} songs have none")
        a = np.where(k[:, None], a, 0.0).astype(np.float32)
        if not np.isfinite(a).all():
            raise FusionError(f"{m} array has NaN or infinite values in rows marked present")
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        if (norms[k] < 1e-12).any():
            raise FusionError(f"{m} has all-zero vectors in rows marked present; mark them absent in the mask")
        out_arrays[m] = (a / np.maximum(norms, 1e-12)).astype(np.float32)
        out_masks[m] = k
    for m in masks:
        if m not in arrays:
            raise FusionError(f"mask given for {m!r} but no array; arrays: {', '.join(sorted(arrays))}")
    return Modalities(out_arrays, out_masks)


def duplicate_groups(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n,) int64 group ids: present rows with byte-identical vectors share an id; every other row has its own.

    Songs of one album carry the very same cover vector, so a cover query has several right answers.
    """
    n = len(x)
    ids = np.arange(n, dtype=np.int64)
    rows = np.flatnonzero(mask)
    if len(rows):
        _, first, inverse = np.unique(x[rows], axis=0, return_index=True, return_inverse=True)
        ids[rows] = rows[first[inverse.reshape(-1)]]
    return ids


def song_groups(data: Modalities) -> np.ndarray:
    """(n,) int64 ids of songs linked by any shared vector (union over modalities), for leak-free splits."""
    parent = np.arange(data.n, dtype=np.int64)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for m, a in data.arrays.items():
        g = duplicate_groups(a, data.masks[m])
        for i in np.flatnonzero(g != np.arange(data.n)):
            ri, rj = root(i), root(g[i])
            if ri != rj:
                parent[ri] = rj
    return np.array([root(i) for i in range(data.n)], dtype=np.int64)


def split_songs(groups: np.ndarray, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of song indices into (train, val, test) by whole groups.

    fractions: (val, test) shares of songs, e.g. (0.1, 0.1). Returns sorted int64 index arrays.
    """
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    order = rng.permutation(uniq)
    sizes = np.bincount(np.searchsorted(uniq, groups), minlength=len(uniq))[np.searchsorted(uniq, order)]
    cum = np.cumsum(sizes)
    n = len(groups)
    n_val, n_test = round(fractions[0] * n), round(fractions[1] * n)
    part = np.where(cum <= n_val, 1, np.where(cum <= n_val + n_test, 2, 0))
    which = dict(zip(order.tolist(), part.tolist()))
    label = np.array([which[g] for g in groups.tolist()])
    return tuple(np.flatnonzero(label == k).astype(np.int64) for k in (0, 1, 2))
