"""A synthetic music library for fusion tests and benchmarks: songs with latent factors seen through three encoders.

Each album has a latent factor; each song's factor mixes its album's with its own. Audio sees the whole
song factor, lyrics see half of it plus a private theme, the cover sees only the album factor (and every
song of an album carries the identical cover vector, as a real library does). Each view is a random
two-layer tanh network of the factor plus Gaussian noise, L2-normalised, so the modality spaces are
related but not linearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIMS = {"audio": 200, "lyrics": 384, "cover": 256}


@dataclass(frozen=True)
class SyntheticLibrary:
    """arrays: modality -> (n, dim) float32 unit rows (zeros where absent); masks: modality -> (n,) bool; album: (n,) ids."""

    arrays: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    album: np.ndarray


def _view(z: np.ndarray, dim: int, rng: np.random.Generator, noise: float, hidden: int = 128) -> np.ndarray:
    w1 = rng.standard_normal((z.shape[1], hidden)) / np.sqrt(z.shape[1])
    w2 = rng.standard_normal((hidden, dim)) / np.sqrt(hidden)
    x = np.tanh(1.5 * z @ w1) @ w2
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x += noise * rng.standard_normal(x.shape) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_library(
    n_songs: int = 1000,
    seed: int = 0,
    dims: dict[str, int] | None = None,
    p_lyrics: float = 0.6,
    p_cover: float = 0.7,
    max_album: int = 12,
    latent: int = 32,
    noise: float = 1.0,
) -> SyntheticLibrary:
    """n_songs songs in albums of 1..max_album songs; p_lyrics of songs have lyrics, p_cover of albums a cover.

    dims: modality -> dim (default audio 200, lyrics 384, cover 256: the offline profile's sizes).
    noise: norm of the Gaussian noise added to each unit view before renormalising.
    """
    dims = {**DIMS, **(dims or {})}
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_album + 1, size=n_songs)
    album = np.repeat(np.arange(n_songs), sizes)[:n_songs]
    n_albums = album.max() + 1
    z_album = rng.standard_normal((n_albums, latent))
    z_song = 0.7 * z_album[album] + 0.7 * rng.standard_normal((n_songs, latent))
    half = latent // 2
    theme = rng.standard_normal((n_songs, latent - half))
    arrays = {
        "audio": _view(z_song, dims["audio"], rng, noise),
        "lyrics": _view(np.hstack([z_song[:, :half], theme]), dims["lyrics"], rng, noise),
        "cover": _view(z_album, dims["cover"], rng, noise)[album],
    }
    masks = {
        "audio": np.ones(n_songs, bool),
        "lyrics": rng.random(n_songs) < p_lyrics,
        "cover": (rng.random(n_albums) < p_cover)[album],
    }
    for m in ("lyrics", "cover"):
        arrays[m][~masks[m]] = 0.0
    return SyntheticLibrary(arrays, masks, album)
