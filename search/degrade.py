"""Audio degradations for evaluation: what a phone recording of a song does to it.

Each takes and returns a mono float32 waveform at `rate` Hz. `apply(wave, rate, spec, seed)` applies
a spec such as {"noise_snr": 10, "phone": true, "bitrate": 64} in a fixed order.
"""

from __future__ import annotations

import io

import numpy as np
from scipy import signal


def noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise added at a signal-to-noise ratio in dB."""
    power = float(np.mean(wave**2)) or 1e-8
    return (wave + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), wave.shape)).astype(np.float32)


def phone(wave: np.ndarray, rate: int, low: float = 300.0, high: float = 3400.0) -> np.ndarray:
    """A telephone band-pass (300-3400 Hz, 4th-order Butterworth)."""
    sos = signal.butter(4, [low, min(high, rate / 2 - 1)], btype="bandpass", fs=rate, output="sos")
    return signal.sosfilt(sos, wave).astype(np.float32)


def reencode(wave: np.ndarray, rate: int, kbps: int) -> np.ndarray:
    """An MP3 round trip at a low bitrate (PyAV's LAME encoder), decoded back at the same rate."""
    import av

    from scan import decode_audio

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = kbps * 1000
        frame_len = 1152
        pcm = np.clip(wave, -1, 1).astype(np.float32)
        for i in range(0, len(pcm), frame_len):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + frame_len], format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return decode_audio(buf.getvalue(), rate)


def speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Played faster (factor > 1) or slower, pitch moving with it, as a sped-up tape."""
    n = max(1, int(round(len(wave) / factor)))
    return signal.resample(wave, n).astype(np.float32)


def reverb(wave: np.ndarray, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A room: convolution with exponentially decaying noise (RT60 ~ `seconds`), mixed 50/50."""
    n = int(rate * seconds)
    ir = rng.normal(size=n) * np.exp(-6.9 * np.arange(n) / n)
    wet = signal.fftconvolve(wave, ir / np.sqrt(np.sum(ir**2)))[: len(wave)]
    out = 0.5 * wave + 0.5 * wet
    return (out / max(1e-6, np.max(np.abs(out))) * max(1e-6, np.max(np.abs(wave)))).astype(np.float32)


def apply(wave: np.ndarray, rate: int, spec: dict, seed: int = 0) -> np.ndarray:
    """Apply the degradations named in spec (speed, reverb, phone, noise_snr, bitrate), in that order."""
    known = {"speed", "reverb", "phone", "noise_snr", "bitrate"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown audio degradation(s) {sorted(unknown)}; known: {sorted(known)}")
    rng = np.random.default_rng(seed)
    if "speed" in spec:
        wave = speed(wave, float(spec["speed"]))
    if "reverb" in spec:
        wave = reverb(wave, rate, float(spec["reverb"]), rng)
    if spec.get("phone"):
        wave = phone(wave, rate)
    if "noise_snr" in spec:
        wave = noise(wave, float(spec["noise_snr"]), rng)
    if "bitrate" in spec:
        wave = reencode(wave, rate, int(spec["bitrate"]))
    return wave
