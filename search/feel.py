"""The feel of a query, as routes: what a text says about tempo, key and mood, or how a clip feels.

A song's feel is its tempo band, mode, energy, brightness, density and beat regularity (the
`descriptors` vector, encoders/descriptors.py) together with its mood tags (the offline profile's
`tags` vector). A text names some of these ("slow", "around 90 bpm", "in A minor": search.musical);
a clip has all of them, measured the way songs are. Cross-genre mode ranks other genres' songs by
these routes beside the sound routes, so what it keeps across genres is the feel, not only the timbre.
"""

from __future__ import annotations

import numpy as np

from encoders.descriptors import describe, words

from .musical import read_musical


def text_feel(sound: str) -> tuple[np.ndarray | None, str, str | None]:
    """(feel vector, or None when the text names no musical quality; the text the sound routes should read;
    how the qualities were read, in words)."""
    if not sound:
        return None, sound, None
    reading = read_musical(sound)
    if not reading:
        return None, sound, None
    return reading.vector(), reading.rest, reading.summary()


def clip_feel(profile, clip: np.ndarray, tags: np.ndarray | None) -> dict[str, tuple[str, np.ndarray]]:
    """Route name -> (song field, vector) for a clip's feel: its descriptors and, offline, its mood tags."""
    routes = {"feel": ("descriptors", describe(clip, profile.audio.sample_rate).vector())}
    if profile.describe_field == "tags" and tags is not None:
        routes["mood"] = ("tags", profile.describe.song_vector(tags))
    return routes


def feel_words(row: dict) -> str:
    """A stored song's tempo, key and feel in a musician's words ("" when it has no descriptors)."""
    return words(row)
