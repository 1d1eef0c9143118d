"""The encoder interface: every model that turns audio, text or images into vectors speaks it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODALITIES = ("audio", "text", "lyrics", "image")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class Encoder:
    """Turns a batch of inputs of one modality into L2-normalised float32 vectors.

    Subclasses set `name` (stable id stored beside every vector), `modalities` and `dim`,
    and implement `encode(inputs, modality) -> (len(inputs), dim)` in input order.
    Batching, device, no-grad and preprocessing are the encoder's own business.
    """

    name: str = ""
    modalities: tuple[str, ...] = ()
    dim: int = 0

    def encode(self, inputs: list, modality: str) -> np.ndarray:
        raise NotImplementedError

    def _check_modality(self, modality: str) -> None:
        if modality not in self.modalities:
            raise ValueError(f"{self.name} encodes {', '.join(self.modalities)}, not {modality!r}")


@dataclass
class AudioEmbedding:
    """One song's audio seen by an audio encoder.

    windows: (n, dim) unit vectors, one per analysed window; starts/ends: (n,) seconds;
    track: (dim,) pooled unit vector; tags: optional (n_tags,) probabilities for the whole track.
    """

    windows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    track: np.ndarray
    tags: np.ndarray | None = None


class AudioEncoder(Encoder):
    """An encoder of mono waveforms at `sample_rate` Hz, analysed in windows of `window_seconds`.

    `embed_song(waveform)` gives per-window vectors with their times and a pooled track vector;
    `encode([clip, ...], "audio")` gives one pooled vector per clip (used for query clips).
    `max_windows` caps how many windows a song costs (spread evenly over it); None means full coverage.
    """

    modalities = ("audio",)
    sample_rate: int = 16000
    window_seconds: float = 3.0
    max_windows: int | None = None

    def embed_song(self, waveform: np.ndarray) -> AudioEmbedding:
        raise NotImplementedError

    def encode(self, inputs: list, modality: str = "audio") -> np.ndarray:
        self._check_modality(modality)
        return np.stack([self.embed_song(w).track for w in inputs]) if inputs else np.zeros((0, self.dim), np.float32)

    @property
    def window_policy(self) -> str:
        """How songs are covered, in words stored with the index."""
        return "full" if self.max_windows is None else f"sampled:{self.max_windows}"


def window_starts(n_samples: int, window: int, max_windows: int | None) -> list[int]:
    """Start offsets (samples) of the windows that cover a signal of n_samples.

    Full coverage steps by one window (a short tail is kept when it is at least half a window).
    With max_windows, at most that many windows spread evenly from start to end.
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, window))
    tail = n_samples - (starts[-1] + window)
    if tail >= window // 2:
        starts.append(n_samples - window)
    if max_windows is not None and len(starts) > max_windows:
        idx = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[i] for i in idx]
    return starts


@dataclass
class LyricsEmbedding:
    """One song's lyrics seen by a text encoder: chunk texts, their (n, dim) unit vectors, and the pooled vector."""

    chunks: list[str]
    vectors: np.ndarray
    pooled: np.ndarray
