"""Musical descriptors of a song, in a musician's terms: tempo, key, loudness, brightness, density.

Computed with librosa from the waveform the indexer already decoded (mono, at the audio encoder's rate),
so they cost no second decode. One short-time Fourier transform serves the onset envelope (tempo, beat
regularity, onset density), the loudness and the timbre statistics; the key comes from constant-Q
chroma of the bass and of the register above it, each matched against key profiles. A long song is
analysed on an excerpt of at most `MAX_SECONDS` from its middle, which keeps the cost flat
(bench/indexing.py).

Each song gets (`Descriptors`):
  bpm, bpm_confidence   the tempo and how clearly the onset envelope repeats at it (0..1)
  beat_regularity       1 - the spread of the tracked beats' intervals (1: a machine, ~0.5: rubato)
  key, mode, key_confidence   tonic ("C" .. "B"), "major"/"minor", the key profile's correlation margin
  chroma                12 bins, C first, summing to 1 (the mean of the bass's and the upper register's)
  loudness_db, dynamic_range_db   mean RMS level (dBFS) and its spread (95th - 10th percentile)
  brightness_hz, flatness, bass   spectral centroid, spectral flatness, share below 300 Hz (timbre)
  onset_rate            detected note onsets per second (how dense the music is)
  energy                0..1, a blend of loudness, onset rate and brightness (what "energetic" means here)
The song row stores the scalars (filterable) and `vector()`, the feel vector (the index's `descriptors`
field): tempo, mode, energy, brightness, density and regularity as soft histograms, so a song's feel can
be compared with another's, or with the qualities a text names, by cosine (`feel_vector`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .base import l2_normalize

NAME = "descriptors-librosa-v3"  # v3: key from the upper register and the bass matched apart (stored keys change)
MAX_SECONDS = 90.0  # analysed excerpt, from the middle of a longer song
HOP = 256
N_FFT = 1024
CHROMA_HOP = 2048
BPM_RANGE = (55.0, 200.0)
PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"DB": "C#", "D#": "Eb", "GB": "F#", "G#": "Ab", "A#": "Bb", "CB": "B", "FB": "E", "E#": "F", "B#": "C"}

# Key profiles (C major and C minor; other keys are rotations): Aarden's, pitch-class frequencies of the
# Essen folk-song collection. On the demo tracks' tuning half they beat Krumhansl-Kessler's listening
# ratings, Temperley's and Faraldo's EDM profiles (docs/evaluation.md).
MAJOR_PROFILE = np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624,
                          8.15494, 0.232998, 4.95122])
MINOR_PROFILE = np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621,
                          1.93186, 7.37619, 1.75623])
BASS_WEIGHT = 0.25  # weight of the bass chroma's match (C1-C3) beside the upper register's (C3-C7) in the key estimate
# The bass is matched against Krumhansl-Kessler's profiles, whose tonic outweighs every other degree:
# a bass line mostly plays chord roots, the tonic's above all (docs/evaluation.md).
BASS_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
BASS_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SUB_BEAT_WEIGHT = 0.5  # weight of the half-period (eighth-note) autocorrelation in the tempo score

# Camelot wheel: number per tonic for minor ("A") keys and major ("B") keys.
_CAMELOT_MINOR = {"Ab": 1, "Eb": 2, "Bb": 3, "F": 4, "C": 5, "G": 6, "D": 7, "A": 8, "E": 9, "B": 10, "F#": 11, "C#": 12}
_CAMELOT_MAJOR = {"B": 1, "F#": 2, "C#": 3, "Ab": 4, "Eb": 5, "Bb": 6, "F": 7, "C": 8, "G": 9, "D": 10, "A": 11, "E": 12}

# The feel vector: each quality as a soft histogram (a block of Gaussian memberships over bin centres),
# each block unit length times its weight, so the cosine of two feel vectors is a weighted sum of
# per-quality kernel similarities, and a query that asks for some qualities only (a block per asked
# quality, others zero) scores songs by those alone. name -> (bin centres, width of a membership)
FEEL_BLOCKS = {
    "tempo": (np.log2(55.0) + np.arange(17) / 8, 1 / 12),  # log2 bpm, 55-204 bpm in eighths of an octave
    "mode": (np.array([0.0, 1.0]), 0.3),  # 0 major, 1 minor
    "energy": (np.linspace(0.0, 1.0, 6), 0.12),
    "brightness": (np.linspace(np.log2(500), np.log2(5000), 6), 0.35),  # log2 Hz
    "density": (np.linspace(0.0, 6.0, 6), 0.8),  # onsets a second
    "regularity": (np.linspace(0.3, 1.0, 4), 0.15),
    "key": (np.arange(24.0), 0.0),  # one of 24 keys (tonic + 12 for minor): same key or not
}
FEEL_WEIGHTS = {"tempo": 1.0, "mode": 0.7, "energy": 1.0, "brightness": 0.5, "density": 0.5, "regularity": 0.3,
                "key": 0.5}
FEEL_DIM = sum(len(c) for c, _ in FEEL_BLOCKS.values())


def feel_vector(values: dict[str, float | None]) -> np.ndarray:
    """(FEEL_DIM,) vector of the qualities given (tempo in bpm, mode 0/1, energy 0..1, brightness in Hz,
    density in onsets a second, regularity 0..1, key as `key_index`); a quality left out or None is a zero block. Songs store
    it with every quality given (unit length); a query gives the ones its text names."""
    parts = []
    for name, (centres, width) in FEEL_BLOCKS.items():
        v = values.get(name)
        if v is None:
            parts.append(np.zeros(len(centres)))
            continue
        x = np.log2(max(v, 1.0)) if name in ("tempo", "brightness") else float(v)
        block = (centres == x).astype(float) if name == "key" else np.exp(-0.5 * ((centres - x) / width) ** 2)
        if block.max() < 1e-3:  # beyond the outer centres: the nearest one
            block = (np.abs(centres - x) == np.abs(centres - x).min()).astype(float)
        parts.append(FEEL_WEIGHTS[name] * block / np.linalg.norm(block))
    return l2_normalize(np.concatenate(parts))


@dataclass(frozen=True)
class Descriptors:
    bpm: float
    bpm_confidence: float
    beat_regularity: float
    key: str
    mode: str
    key_confidence: float
    chroma: list[float]
    loudness_db: float
    dynamic_range_db: float
    brightness_hz: float
    flatness: float
    bass: float
    onset_rate: float
    energy: float

    def to_dict(self) -> dict:
        return asdict(self)

    def row_fields(self) -> dict:
        """The song row's descriptor scalars (store/schema.py), filterable."""
        return {"bpm": self.bpm, "bpm_confidence": self.bpm_confidence, "beat_regularity": self.beat_regularity,
                "tonic": self.key, "mode": self.mode, "camelot": camelot(self.key, self.mode),
                "key_confidence": self.key_confidence, "loudness_db": self.loudness_db,
                "dynamic_range_db": self.dynamic_range_db, "brightness_hz": self.brightness_hz,
                "onset_rate": self.onset_rate, "energy": self.energy}

    def extra(self) -> dict:
        """What the row keeps unfiltered, in its `extra` JSON: the chroma profile and the other timbre values."""
        return {"chroma": self.chroma, "flatness": self.flatness, "bass": self.bass}

    def feel(self) -> dict[str, float | None]:
        """The qualities the feel vector holds (None where the song gave no reading, e.g. no beat)."""
        if not self.brightness_hz:  # not analysed (UNKNOWN): no quality at all, a zero vector
            return {}
        return {"tempo": self.bpm or None, "mode": {"major": 0.0, "minor": 1.0}.get(self.mode), "energy": self.energy,
                "brightness": self.brightness_hz or None, "density": self.onset_rate, "regularity": self.beat_regularity,
                "key": key_index(self.key, self.mode)}

    def vector(self) -> np.ndarray:
        """The song's feel vector (the index's `descriptors` field)."""
        return feel_vector(self.feel())




def normalize_key(text: str) -> tuple[str, str] | None:
    """("A", "minor") from "A minor", "Am", "a min", "8A" (Camelot), "Bbm", "F# major"; None if not a key."""
    t = text.strip()
    camelot = _parse_camelot(t)
    if camelot:
        return camelot
    low = t.lower().replace("-", " ").replace("♯", "#").replace("♭", "b")
    parts = low.split()
    if not parts:
        return None
    root, rest = parts[0], " ".join(parts[1:])
    mode = "major"
    if len(parts) == 1 and len(root) >= 2 and root.endswith("m") and not root.endswith("maj"):
        root, rest = root[:-1], "minor"
    if rest in ("minor", "min", "m", "moll"):
        mode = "minor"
    elif rest not in ("", "major", "maj", "dur"):
        return None
    if not root or root[0] not in "abcdefg" or len(root) > 2 or (len(root) == 2 and root[1] not in "#b"):
        return None
    name = root[0].upper() + root[1:]
    name = _ALIASES.get(name.upper(), name)
    return (name, mode) if name in PITCHES else None


def _parse_camelot(text: str) -> tuple[str, str] | None:
    t = text.strip().upper()
    if len(t) < 2 or t[-1] not in "AB" or not t[:-1].isdigit():
        return None
    number = int(t[:-1])
    table = _CAMELOT_MINOR if t[-1] == "A" else _CAMELOT_MAJOR
    for tonic, n in table.items():
        if n == number:
            return tonic, "minor" if t[-1] == "A" else "major"
    return None


def key_index(key: str, mode: str) -> float | None:
    """0..23: the tonic's pitch class, plus 12 for a minor key (the feel vector's key block); None if unknown."""
    if key not in PITCHES or mode not in ("major", "minor"):
        return None
    return float(PITCHES.index(key) + (12 if mode == "minor" else 0))


def camelot(key: str, mode: str) -> str:
    """Camelot notation of a key: ("A", "minor") -> "8A"; "" when unknown."""
    n = (_CAMELOT_MINOR if mode == "minor" else _CAMELOT_MAJOR).get(key)
    return f"{n}{'A' if mode == 'minor' else 'B'}" if n else ""


def camelot_neighbours(key: str, mode: str) -> list[tuple[str, str]]:
    """Keys that mix well with this one on the Camelot wheel: itself, one step either way, its relative."""
    code = camelot(key, mode)
    if not code:
        return []
    n, letter = int(code[:-1]), code[-1]
    codes = [code, f"{(n % 12) + 1}{letter}", f"{((n - 2) % 12) + 1}{letter}", f"{n}{'B' if letter == 'A' else 'A'}"]
    return [_parse_camelot(c) for c in codes]


def key_label(key: str, mode: str) -> str:
    return f"{key} {mode}" if key else ""


UNKNOWN = Descriptors(0.0, 0.0, 0.0, "", "", 0.0, (1 / 12,) * 12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def describe(waveform: np.ndarray, sample_rate: int) -> Descriptors:
    """The descriptors of a mono waveform (float, -1..1)."""
    import librosa

    y = np.asarray(waveform, dtype=np.float32)
    limit = int(MAX_SECONDS * sample_rate)
    if len(y) > limit:
        start = (len(y) - limit) // 2
        y = y[start : start + limit]
    if len(y) < sample_rate:  # under a second: pad, so every analysis has a few frames
        y = np.pad(y, (0, sample_rate - len(y)))
    seconds = len(y) / sample_rate

    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = spec**2
    mel = librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=64)
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=np.max), sr=sample_rate, hop_length=HOP)
    bpm, bpm_confidence = _tempo(onset_env, sample_rate)
    regularity = _beat_regularity(onset_env, sample_rate, bpm)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sample_rate, hop_length=HOP)
    onset_rate = len(onsets) / seconds

    rms = librosa.feature.rms(S=spec, frame_length=N_FFT)[0]
    db = 20 * np.log10(np.maximum(rms, 1e-5))
    loud = db[db > db.max() - 60] if db.max() > -100 else db  # leave out silence between parts
    loudness = float(np.mean(loud))
    dynamic_range = float(np.percentile(loud, 95) - np.percentile(loud, 10))
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    frame_sums = np.maximum(spec.sum(axis=0), 1e-10)
    brightness = float(np.mean(freqs @ spec / frame_sums))  # the spectral centroid, averaged over frames
    flatness = float(np.mean(librosa.feature.spectral_flatness(S=spec)))
    low = spec[freqs < 300].sum(axis=0) / frame_sums  # share of bass: how heavy the low end is
    bass = float(np.mean(low))

    upper_chroma, bass_chroma = _chroma(y, sample_rate)
    key, mode, key_confidence = estimate_key(upper_chroma, bass_chroma)
    chroma = (upper_chroma + bass_chroma) / 2
    energy = _energy(loudness, onset_rate, brightness)
    return Descriptors(
        bpm=round(float(bpm), 1), bpm_confidence=round(float(bpm_confidence), 3),
        beat_regularity=round(float(regularity), 3), key=key, mode=mode, key_confidence=round(float(key_confidence), 3),
        chroma=[round(float(c), 4) for c in chroma], loudness_db=round(loudness, 2),
        dynamic_range_db=round(dynamic_range, 2), brightness_hz=round(brightness, 1), flatness=round(flatness, 4),
        bass=round(bass, 3), onset_rate=round(float(onset_rate), 3), energy=round(float(energy), 3),
    )


def _tempo(onset_env: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Tempo (bpm) from the onset envelope's autocorrelation, weighted by a log-normal prior around
    120 bpm; the peak lag is refined between frames (one frame is ~4 % of a beat at 120 bpm).

    A beat period scores its own autocorrelation plus half that at half the period: music subdivides
    its beat in two, which tells the beat from a dotted or triplet pulse (a 4:3 error otherwise). A loop
    built on dotted notes can still read as 2/3 of its tempo (docs/evaluation.md)."""
    import librosa

    frame_rate = sample_rate / HOP
    n = len(onset_env)
    max_lag = min(n - 1, int(frame_rate * 60.0 / BPM_RANGE[0]) + 2)
    env = onset_env - onset_env.mean()
    ac = librosa.autocorrelate(env, max_size=max_lag + 1)
    if ac[0] <= 0:
        return 0.0, 0.0
    ac = ac / ac[0]
    lags = np.arange(len(ac), dtype=float)
    with np.errstate(divide="ignore"):
        bpms = 60.0 * frame_rate / lags
    valid = (bpms >= BPM_RANGE[0]) & (bpms <= BPM_RANGE[1])
    prior = np.exp(-0.5 * (np.log2(np.where(valid, bpms, 1.0) / 120.0) / 1.0) ** 2)
    half = np.interp(lags / 2, lags, ac)
    score = np.maximum(ac, 0) + SUB_BEAT_WEIGHT * np.maximum(half, 0)
    weighted = np.where(valid, score * prior, -np.inf)
    best = int(np.argmax(weighted))
    if not np.isfinite(weighted[best]):
        return 0.0, 0.0
    lag = float(best)
    if 0 < best < len(ac) - 1:  # parabolic interpolation of the peak
        a, b, c = ac[best - 1], ac[best], ac[best + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag = best + 0.5 * (a - c) / denom
    confidence = float(np.clip(ac[best], 0.0, 1.0))
    return 60.0 * frame_rate / lag, confidence


def _beat_regularity(onset_env: np.ndarray, sample_rate: int, bpm: float) -> float:
    import librosa

    if bpm <= 0:
        return 0.0
    _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sample_rate, hop_length=HOP, bpm=bpm)
    if len(beats) < 4:
        return 0.0
    intervals = np.diff(beats).astype(float)
    return float(np.clip(1.0 - intervals.std() / intervals.mean(), 0.0, 1.0))


def _chroma(y: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """12-bin pitch-class profiles (C first, each summing to 1) of the upper register (C3-C7) and of the
    bass (C1-C3): librosa's constant-Q chroma in thirds of a semitone, each frame scaled to its loudest
    class, averaged. A profile with no energy is flat."""
    import librosa

    c1 = librosa.note_to_hz("C1")
    cqt = np.abs(librosa.cqt(y, sr=sample_rate, hop_length=CHROMA_HOP, fmin=c1, n_bins=6 * 36, bins_per_octave=36,
                             tuning=0.0))
    bass = librosa.feature.chroma_cqt(C=cqt[: 2 * 36], fmin=c1, bins_per_octave=36).mean(axis=1)
    treble = librosa.feature.chroma_cqt(C=cqt[2 * 36 :], fmin=4 * c1, bins_per_octave=36).mean(axis=1)
    return tuple(p / p.sum() if p.sum() > 0 else np.full(12, 1.0 / 12) for p in (treble, bass))


def _key_scores(chroma: np.ndarray, major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """(24,) correlation of the chroma with each key's profile: 12 major keys (C first), then 12 minor."""
    if not np.any(chroma > 0) or np.allclose(chroma, chroma[0]):
        return np.zeros(24)
    return np.array([np.corrcoef(chroma, np.roll(p, t))[0, 1] for p in (major, minor) for t in range(12)])


def estimate_key(chroma: np.ndarray, bass: np.ndarray | None = None) -> tuple[str, str, float]:
    """(tonic, mode, confidence): the key whose profile correlates best with the chroma (Aarden's
    profiles), plus `BASS_WEIGHT` times the bass chroma's correlation with the tonic-heavy profiles.
    Confidence is the best score's margin over the runner-up (0..1)."""
    chroma = np.asarray(chroma, dtype=float)
    if not np.any(chroma > 0) or np.allclose(chroma, chroma[0]):
        return "", "", 0.0
    scores = _key_scores(chroma, MAJOR_PROFILE, MINOR_PROFILE)
    if bass is not None:
        scores = scores + BASS_WEIGHT * _key_scores(np.asarray(bass, dtype=float), BASS_MAJOR_PROFILE, BASS_MINOR_PROFILE)
    order = np.argsort(-scores)
    best = int(order[0])
    key, mode = PITCHES[best % 12], "minor" if best >= 12 else "major"
    return key, mode, float(np.clip(scores[best] - scores[order[1]], 0.0, 1.0))


def _energy(loudness_db: float, onset_rate: float, brightness_hz: float) -> float:
    """0..1: louder, denser and brighter is more energetic (each term a logistic around a typical song)."""
    def squash(x):
        return 1.0 / (1.0 + np.exp(-x))

    return float((squash((loudness_db + 18) / 4) + squash((onset_rate - 2.5) / 1.2) + squash((brightness_hz - 2000) / 700)) / 3)


def words(d: dict) -> str:
    """A musician's one-line summary from stored descriptor fields: "118 bpm · A minor (8A) · bright · dense"."""
    parts = []
    if d.get("bpm"):
        parts.append(f"{d['bpm']:.0f} bpm")
    if d.get("tonic"):
        code = camelot(d["tonic"], d.get("mode", ""))
        parts.append(f"{key_label(d['tonic'], d.get('mode', ''))}" + (f" ({code})" if code else ""))
    brightness = d.get("brightness_hz")
    if brightness:
        parts.append("bright" if brightness > 2600 else "dark" if brightness < 1400 else "warm")
    energy = d.get("energy")
    if energy is not None and d.get("bpm"):
        parts.append("energetic" if energy > 0.62 else "calm" if energy < 0.38 else "moderate")
    rate = d.get("onset_rate")
    if rate is not None and d.get("bpm"):
        parts.append("dense" if rate > 3.5 else "sparse" if rate < 1.5 else "")
    return " · ".join(p for p in parts if p)
