"""Joint vectors: the fitted fusion applied to a song's modality vectors, and refits after indexing."""

from __future__ import annotations

import numpy as np


def joint_vector(fusion, vectors: dict, has_lyrics: bool, has_cover: bool) -> np.ndarray:
    """One song's joint vector; with no fitted fusion yet, the audio vector (the joint space is audio space)."""
    if fusion is None:
        return vectors["audio"]
    arrays = {m: np.asarray(vectors[m], np.float32)[None] for m in ("audio", "lyrics", "cover")}
    masks = {"audio": np.array([True]), "lyrics": np.array([has_lyrics]), "cover": np.array([has_cover])}
    return fusion.joint(arrays, masks)[0]
