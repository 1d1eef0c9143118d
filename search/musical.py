"""Read the musical qualities a text names: tempo, key or mode, energy, brightness, density.

"slow", "fast", "around 90 bpm", "in a minor key", "in A minor", "upbeat", "mellow", "danceable",
"quiet" and the other words of `WORDS` become target values of the song descriptors
(encoders/descriptors.py); `MusicalReading.vector()` places them in the songs' feel space, where the
engine's `feel` route compares them with every song's `descriptors` vector, fused with the sound
routes like any other route. A named tempo or key ("around 90 bpm", "in A minor") is taken out of the
text the sound routes read (a tag or sentence encoder reads no numbers); mood words stay in it, since
the tag bridge reads them too.

The mood words' values follow the acoustic cues that listeners associate with each emotion in music
(Juslin & Laukka, 2003; Gabrielsson & Lindström, 2010): happiness with a fast tempo, major mode and
bright timbre; sadness with a slow tempo, minor mode and low level; tenderness with a slow tempo, low
level and soft timbre; anger or excitement with a fast tempo and high level. They were fixed before
any figure was measured with them (docs/evaluation.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from encoders.descriptors import feel_vector, key_index, normalize_key

# word -> qualities it names: tempo (bpm), mode (0 major, 1 minor), energy (0..1), brightness (Hz),
# density (onsets a second), regularity (0..1). Several words average per quality.
WORDS: dict[str, dict[str, float]] = {
    "slow": {"tempo": 70},
    "fast": {"tempo": 140},
    "mid-tempo": {"tempo": 105}, "midtempo": {"tempo": 105},
    "upbeat": {"tempo": 125, "energy": 0.7, "mode": 0},
    "uptempo": {"tempo": 130},
    "danceable": {"tempo": 122, "regularity": 0.95, "energy": 0.65},
    "dance": {"tempo": 122, "regularity": 0.95},
    "mellow": {"energy": 0.25, "tempo": 80},
    "chill": {"energy": 0.3, "tempo": 85},
    "calm": {"energy": 0.2, "tempo": 70},
    "relaxing": {"energy": 0.2, "tempo": 70},
    "peaceful": {"energy": 0.2, "tempo": 70},
    "soothing": {"energy": 0.2, "tempo": 70},
    "serene": {"energy": 0.2, "tempo": 70},
    "quiet": {"energy": 0.15},
    "soft": {"energy": 0.25},
    "gentle": {"energy": 0.25},
    "loud": {"energy": 0.85},
    "energetic": {"energy": 0.8, "tempo": 135},
    "powerful": {"energy": 0.8},
    "intense": {"energy": 0.85, "tempo": 135},
    "driving": {"energy": 0.75, "tempo": 130, "regularity": 0.9},
    "aggressive": {"energy": 0.9, "tempo": 140, "mode": 1},
    "angry": {"energy": 0.9, "tempo": 140, "mode": 1},
    "happy": {"mode": 0, "tempo": 120, "energy": 0.6},
    "cheerful": {"mode": 0, "tempo": 120, "energy": 0.6},
    "joyful": {"mode": 0, "tempo": 120, "energy": 0.6},
    "sad": {"mode": 1, "tempo": 70, "energy": 0.3},
    "melancholic": {"mode": 1, "tempo": 72, "energy": 0.3},
    "melancholy": {"mode": 1, "tempo": 72, "energy": 0.3},
    "gloomy": {"mode": 1, "energy": 0.3},
    "bittersweet": {"mode": 1, "tempo": 80},
    "wistful": {"mode": 1, "tempo": 80},
    "nostalgic": {"tempo": 85, "energy": 0.4},
    "tender": {"tempo": 80, "energy": 0.25, "mode": 0},
    "romantic": {"tempo": 80, "energy": 0.35},
    "dark": {"brightness": 900, "mode": 1},
    "bright": {"brightness": 3200},
    "dense": {"density": 5.0},
    "busy": {"density": 5.0},
    "sparse": {"density": 1.0},
    "minimal": {"density": 1.0},
}
_BPM = re.compile(r"(?:\b(?:at|around|about|roughly|approximately|near)\s+|~\s*)*\b(\d{2,3})(?:\s*(?:-|to)\s*(\d{2,3}))?\s*bpm\b",
                  re.IGNORECASE)
_MODE = re.compile(r"\b(?:in\s+)?an?\s+(major|minor)\s+key\b|\b(?:in\s+)?(major|minor)\s+key\b", re.IGNORECASE)
_KEY = re.compile(r"\b(?i:in)\s+([A-G](?:#|b|♯|♭)?)(?:\s*((?i:major|minor|maj|min)|m))?(?![\w#♯♭])")


@dataclass
class MusicalReading:
    """What a text says about tempo, key and feel. `rest` is the text the sound routes should read."""

    qualities: dict[str, float] = field(default_factory=dict)
    key: tuple[str, str] | None = None  # a named key ("in A minor"): (tonic, mode)
    read: list[str] = field(default_factory=list)  # the phrases that were read, as written
    rest: str = ""

    def __bool__(self) -> bool:
        return bool(self.qualities)

    def vector(self) -> np.ndarray:
        """The qualities in feel space (encoders.descriptors.feel_vector): compared with songs' `descriptors`."""
        return feel_vector(self.qualities)

    def summary(self) -> str:
        """How the text was read, in words: "tempo ~90 bpm, minor, energy 0.25 (from: around 90 bpm, ...)"."""
        q = self.qualities
        parts = []
        if "tempo" in q:
            parts.append(f"tempo ~{q['tempo']:.0f} bpm")
        if self.key:
            parts.append(f"key {self.key[0]} {self.key[1]}")
        elif "mode" in q:
            parts.append("minor" if q["mode"] >= 0.5 else "major")
        for name, label in (("energy", "energy"), ("regularity", "beat regularity")):
            if name in q:
                parts.append(f"{label} {q[name]:.2f}")
        if "brightness" in q:
            parts.append("bright" if q["brightness"] > 2000 else "dark")
        if "density" in q:
            parts.append("dense" if q["density"] > 2.5 else "sparse")
        return ", ".join(parts) + f" (from: {', '.join(self.read)})"


def read_musical(text: str) -> MusicalReading:
    """The qualities a text names, and the text without its named tempo and key."""
    reading = MusicalReading()
    values: dict[str, list[float]] = {}
    rest = text

    m = _BPM.search(rest)
    if m:
        low, high = float(m.group(1)), float(m.group(2) or m.group(1))
        if 20 <= low <= 400 and 20 <= high <= 400:
            values["tempo"] = [float(np.sqrt(low * high))]
            reading.read.append(m.group(0).strip())
            rest = rest[: m.start()] + rest[m.end():]
    m = _MODE.search(rest)
    if m:
        values["mode"] = [1.0 if (m.group(1) or m.group(2)).lower() == "minor" else 0.0]
        reading.read.append(m.group(0).strip())
        rest = rest[: m.start()] + rest[m.end():]
    m = _KEY.search(rest)
    named = normalize_key(f"{m.group(1)} {_mode_word(m.group(2))}") if m else None
    if named:
        reading.key = named
        values["mode"] = [1.0 if named[1] == "minor" else 0.0]
        values["key"] = [key_index(*named)]
        reading.read.append(m.group(0).strip())
        rest = rest[: m.start()] + rest[m.end():]
    explicit = set(values)  # a named tempo or key beats what the mood words imply
    for word in re.findall(r"[a-z][a-z-]*", text.lower()):
        cues = WORDS.get(word) or WORDS.get(word.replace("-", ""))
        if not cues:
            continue
        reading.read.append(word)
        for name, value in cues.items():
            if name not in explicit:
                values.setdefault(name, []).append(float(value))
    reading.qualities = {name: _combine(name, vs) for name, vs in values.items()}
    reading.rest = re.sub(r"\s+([,;.])", r"\1", re.sub(r"\s+", " ", rest)).strip(" ,;.")
    return reading


def _mode_word(word: str | None) -> str:
    if not word or word.lower() in ("major", "maj"):
        return "major"
    return "minor" if word.lower() in ("minor", "min") or word == "m" else "major"


def _combine(name: str, values: list[float]) -> float:
    if name == "key":
        return values[0]
    if name in ("tempo", "brightness"):  # ratios: a geometric mean
        return float(np.exp(np.mean(np.log(values))))
    return float(np.mean(values))
