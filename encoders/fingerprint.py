"""Audio prints: which song a (possibly phone-recorded) clip was cut from, independent of any model.

Semantic audio embeddings place songs of one style close together, so a noisy phone recording of a
song often lands nearer another song of the same style. A print instead describes the fine time
pattern of a 2 s stretch: log energies in 16 bands across the telephone band (300-3400 Hz, which
survives phones, codecs and small speakers) averaged over 0.25 s steps, then differenced over time, so
any fixed filter (a phone's band-pass, an equaliser) cancels out. Songs keep one print a second; a clip
is printed every 0.125 s, so some clip print always lies within 0.0625 s of a song print.
Measured on the 28 demo tracks: 10 s clips -> same track 28/28 clean and 28/28 with 10 dB noise,
phone band-pass and a 64 kbps MP3 round trip (docs/evaluation.md).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal

SAMPLE_RATE = 8000  # Hz
N_FFT = 512
HOP = 128  # 16 ms frames
BANDS = 16
LOW_HZ, HIGH_HZ = 300.0, 3400.0
STEP_SECONDS = 0.25
STEPS = 8  # a print spans STEPS steps of differences: 2 s
SONG_HOP_STEPS = 4  # one song print a second
DIM = BANDS * STEPS
# A step is a whole number of frames: 15 x 16 ms = 0.24 s, not STEP_SECONDS. Print times count in
# STEP_SECONDS (a song's prints are "one a second"); real seconds are those times x TIME_SCALE.
TIME_SCALE = int(STEP_SECONDS * SAMPLE_RATE / HOP) * HOP / SAMPLE_RATE / STEP_SECONDS


def _filterbank() -> np.ndarray:
    edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    fb = np.stack([((freqs >= lo) & (freqs < hi)).astype(np.float32) for lo, hi in zip(edges[:-1], edges[1:])])
    return fb / fb.sum(1, keepdims=True)


def to_print_rate(wave: np.ndarray, rate: int) -> np.ndarray:
    """Resample a mono waveform from `rate` Hz to the print rate (8 kHz)."""
    if rate == SAMPLE_RATE:
        return np.asarray(wave, np.float32)
    g = gcd(SAMPLE_RATE, rate)
    return signal.resample_poly(wave, SAMPLE_RATE // g, rate // g).astype(np.float32)


class AudioPrinter:
    """Prints of songs (one a second) and of query clips (every 0.125 s), as unit vectors of DIM dims."""

    name = "print-v1"
    sample_rate = SAMPLE_RATE
    dim = DIM
    window_seconds = STEPS * STEP_SECONDS

    def __init__(self):
        self._fb = _filterbank()

    def _steps(self, wave: np.ndarray) -> np.ndarray:
        """(BANDS, n) log band energies, one column per 0.25 s step."""
        if len(wave) < N_FFT:
            return np.zeros((BANDS, 0), np.float32)
        _, _, z = signal.stft(wave, SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False)
        energy = np.log(self._fb @ (np.abs(z) ** 2) + 1e-8)
        per = int(STEP_SECONDS * SAMPLE_RATE / HOP)
        n = energy.shape[1] // per
        return energy[:, : n * per].reshape(BANDS, n, per).mean(2)

    def _prints(self, wave: np.ndarray, hop_steps: int) -> tuple[np.ndarray, np.ndarray]:
        steps = self._steps(wave)
        starts = list(range(0, steps.shape[1] - STEPS, hop_steps))
        if not starts:
            return np.zeros((0, DIM), np.float32), np.zeros(0)
        d = np.stack([np.diff(steps[:, s : s + STEPS + 1], axis=1).ravel() for s in starts])
        d -= d.mean(1, keepdims=True)
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
        return d.astype(np.float32), np.array(starts, np.float64) * STEP_SECONDS

    def song_prints(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, DIM), start seconds (n,)) of a song at 8 kHz, one print a second."""
        return self._prints(wave, SONG_HOP_STEPS)

    def song_prints_streamed(self, blocks, segment_seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
        """`song_prints` of a song given as consecutive 8 kHz blocks (e.g. `scan.decode.stream_audio`),
        holding about `segment_seconds` of audio at a time: a 3-hour file is printed without being held.

        Segments start on a print boundary, so the prints are those of the whole waveform."""
        step = int(STEP_SECONDS * SAMPLE_RATE / HOP) * HOP  # samples per step
        segment = int(segment_seconds * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held, offset = 0, 0  # samples pending; steps before the first pending sample
        vectors, starts = [], []

        def emit(wave: np.ndarray) -> int:
            v, s = self._prints(wave, SONG_HOP_STEPS)
            vectors.append(v)
            starts.append(s + offset * STEP_SECONDS)
            return len(s) * SONG_HOP_STEPS  # steps fully used: the next print starts there

        for block in blocks:
            pending.append(np.asarray(block, np.float32))
            held += len(block)
            if held >= segment:
                wave = np.concatenate(pending)
                used = emit(wave)
                pending, held, offset = [wave[used * step :]], held - used * step, offset + used
        emit(np.concatenate(pending) if pending else np.zeros(0, np.float32))
        return np.concatenate(vectors), np.concatenate(starts)

    def clip_prints(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, start seconds) of a query clip at 8 kHz, every half step (0.125 s)."""
        half = int(STEP_SECONDS * SAMPLE_RATE / 2)
        a, sa = self._prints(wave, 1)
        b, sb = self._prints(wave[half:], 1)
        return np.concatenate([a, b]), np.concatenate([sa, sb + STEP_SECONDS / 2])


# Print codes for an inverted index: each float print gives CODE_BANDS short codes (the signs of
# CODE_BITS fixed random projections each, a locality-sensitive hash of its direction), numbered as one
# key space (band << CODE_BITS | code). Two prints of the same moment share most keys; two unrelated
# prints share one with odds of about 2^-CODE_BITS a band. A query also probes the codes its
# PROBE_BITS least certain bits of each band could have had, each weighted by 2^-(bits flipped).
CODE_BANDS = 6
CODE_BITS = 20
PROBE_BITS = 3
KEY_SPACE = CODE_BANDS << CODE_BITS
CODE_MASK = (1 << CODE_BITS) - 1  # a key's code, without its band; code 0 is digital silence
# A clip is also printed resampled by these factors, which undo a speed change of up to 5 % (pitch
# moving with it) to within about 1.3 %; each set of clip prints is looked up on its own.
SPEED_FACTORS = ((1, 1), (19, 20), (39, 40), (41, 40), (21, 20))
_PROJECTION = np.random.RandomState(1).standard_normal((DIM, CODE_BANDS * CODE_BITS)).astype(np.float32)
_BIT_VALUES = 1 << np.arange(CODE_BITS, dtype=np.int64)
_BAND_BASE = np.arange(CODE_BANDS, dtype=np.int64) << CODE_BITS


def _projected(prints: np.ndarray) -> np.ndarray:
    return (np.asarray(prints, np.float32) @ _PROJECTION).reshape(len(prints), CODE_BANDS, CODE_BITS)


def print_keys(prints: np.ndarray) -> np.ndarray:
    """(n, CODE_BANDS) int64 keys of float prints (n, DIM)."""
    bits = (_projected(prints) > 0).astype(np.int64)
    return (bits * _BIT_VALUES).sum(2) + _BAND_BASE


def probe_keys(prints: np.ndarray, probe_bits: int = PROBE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """(keys, weights), each (n, CODE_BANDS * 2**probe_bits): every print's keys with each subset of its
    `probe_bits` least certain bits (smallest projections) flipped, weighted 2^-(bits flipped)."""
    p = _projected(prints)
    bits = (p > 0).astype(np.int64)
    weakest = np.argsort(np.abs(p), axis=2)[:, :, :probe_bits]  # (n, bands, probe_bits)
    flip_values = _BIT_VALUES[weakest]
    keys, weights = [], []
    for subset in range(1 << probe_bits):
        chosen = [(subset >> t) & 1 for t in range(probe_bits)]
        flipped = (flip_values * np.array(chosen, np.int64)).sum(2)
        keys.append(((bits * _BIT_VALUES).sum(2) ^ flipped) + _BAND_BASE)
        weights.append(np.full(keys[-1].shape, 0.5 ** sum(chosen)))
    width = CODE_BANDS << probe_bits
    return np.stack(keys, -1).reshape(len(prints), width), np.stack(weights, -1).reshape(len(prints), width)


CODE_BYTES = CODE_BANDS * CODE_BITS // 8  # a print's keys as stored: 15 bytes


def pack_keys(keys: np.ndarray) -> np.ndarray:
    """(n, CODE_BYTES) uint8: the codes of `print_keys` (n, CODE_BANDS), CODE_BITS bits each."""
    codes = (np.asarray(keys, np.int64) - _BAND_BASE)[:, :, None] >> np.arange(CODE_BITS) & 1
    return np.packbits(codes.reshape(len(keys), -1).astype(np.uint8), axis=1)


def unpack_keys(packed: np.ndarray) -> np.ndarray:
    """The keys (n, CODE_BANDS) int64 that `pack_keys` packed."""
    bits = np.unpackbits(np.asarray(packed, np.uint8), axis=1)[:, : CODE_BANDS * CODE_BITS]
    return (bits.reshape(len(packed), CODE_BANDS, CODE_BITS).astype(np.int64) * _BIT_VALUES).sum(2) + _BAND_BASE


def clip_speeds(printer, wave: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """A clip (8 kHz) printed at each of SPEED_FACTORS: [(prints (n, DIM), start seconds (n,))]."""
    return [printer.clip_prints(variant) for variant in speed_variants(wave)]


def clip_probes(speeds: list[tuple[np.ndarray, np.ndarray]], probe_bits: int = PROBE_BITS):
    """What a clip looks up, at each speed of `clip_speeds`: (keys, weights) of `probe_keys`, each
    (n, CODE_BANDS * 2**probe_bits), and the n clip prints' start seconds."""
    return [(*probe_keys(prints, probe_bits), starts) for prints, starts in speeds]


def stored_probes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, weights), each (n, CODE_BANDS * (1 + CODE_BITS)): stored print keys (n, CODE_BANDS) and each of
    their codes with one bit flipped (weight 1/2), for looking up a stored song, whose float prints (and so
    which bits are least certain) are not kept."""
    keys = np.asarray(keys, np.int64)
    flipped = keys[:, :, None] ^ _BIT_VALUES[None, None, :]
    out = np.concatenate([keys[:, :, None], flipped], axis=2).reshape(len(keys), -1)
    weights = np.tile(np.r_[1.0, np.full(CODE_BITS, 0.5)], CODE_BANDS)
    return out, np.broadcast_to(weights, out.shape).copy()


def speed_variants(wave: np.ndarray) -> list[np.ndarray]:
    """An 8 kHz clip resampled by each of SPEED_FACTORS (the first is the clip itself)."""
    return [wave if up == down else signal.resample_poly(wave, up, down).astype(np.float32) for up, down in SPEED_FACTORS]
