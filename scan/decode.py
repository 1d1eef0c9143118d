"""Decode audio into mono float32 samples at a chosen rate, with the FFmpeg bundled in PyAV.

`decode_audio` takes a path, raw bytes (an uploaded clip) or a binary file object. Decoded frames go
through one FFmpeg filter graph (downmix, resample, float conversion, regrouped into large frames), so
Python touches a few dozen frames a minute instead of thousands: a 4-minute 44.1 kHz stereo MP3
decodes to 16 kHz in about 0.3 s on one core of this project's reference machine.
`probe_duration` and `check_audio` answer "how long" and "is it whole" without decoding everything.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import av
import numpy as np

from scan.errors import DecodeError

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

# Demuxers whose header states the exact length (FLAC STREAMINFO, WAV/AIFF data size, MP4 sample
# tables). Elsewhere the length may be a guess from the bit rate (an MP3 without a Xing header),
# so decoding less than it says proves nothing there.
_EXACT_LENGTH_FORMATS = ("flac", "wav", "aiff", "mov", "w64", "caf")
_TRUNCATED_BELOW = 0.9  # decoded fraction of the stated length under which a file counts as cut short
_DAMAGED_ABOVE = 0.05  # fraction of undecodable packets above which a file counts as damaged
_OUT_FRAME = 65536  # samples per frame leaving the filter graph


def decode_audio(source: Source, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Samples of the first audio stream: float32, mono (channels averaged), in [-1, 1], at sample_rate Hz.

    `max_seconds` stops decoding after that many seconds from the start (the result may be shorter
    if the audio is). Raises DecodeError with a plain reason for empty, damaged, truncated or
    non-audio input, and when no sample at all comes out.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    limit = None if max_seconds is None else max(1, int(round(max_seconds * sample_rate)))
    name = _name(source)
    with _open(source) as container:
        stream = _audio_stream(container, name)
        chunks: list[np.ndarray] = []
        total = 0
        packets = bad_packets = 0
        resampler = None
        try:
            for packet in container.demux(stream):
                packets += 1
                try:
                    frames = stream.decode(packet)
                except av.InvalidDataError:
                    bad_packets += 1  # one damaged packet: skip it, as players do
                    continue
                for frame in frames:
                    if resampler is None or not resampler.accepts(frame):  # first frame, or the stream changed
                        total += resampler.flush(chunks) if resampler else 0
                        resampler = _MonoResampler(frame, sample_rate)
                    total += resampler.push(frame, chunks)
                if limit is not None and total >= limit:
                    break
            total += resampler.flush(chunks) if resampler else 0
        except av.FFmpegError as err:
            raise DecodeError(f"{name}: damaged audio ({_reason(err)})") from err

        if total == 0:
            reason = f"{bad_packets} damaged packet(s)" if bad_packets else "the stream holds no samples"
            raise DecodeError(f"{name}: no audio could be decoded ({reason})")
        if bad_packets > max(2, _DAMAGED_ABOVE * packets):  # a few are glitches; more is a broken file
            raise DecodeError(f"{name}: damaged audio ({bad_packets} of {packets} packets could not be decoded)")
        samples = np.concatenate(chunks)  # a copy, never a view into FFmpeg frame memory
        if limit is not None:
            samples = samples[:limit]
        _check_length(container, stream, name, samples.size / sample_rate, max_seconds)
    np.clip(samples, -1.0, 1.0, out=samples)  # lossy codecs overshoot a little on loud songs
    return samples


def probe_duration(source: Source) -> float:
    """Length of the first audio stream in seconds, from the container's header (no full decode).

    Falls back to counting decoded samples when the header does not say. Raises DecodeError.
    """
    name = _name(source)
    with _open(source) as container:
        stream = _audio_stream(container, name)
        stated = _stated_duration(container, stream)
        if stated:
            return stated
        try:
            samples = sum(frame.samples for frame in container.decode(stream))
        except av.FFmpegError as err:
            raise DecodeError(f"{name}: damaged audio ({_reason(err)})") from err
        return samples / (stream.sample_rate or 1)


def check_audio(source: str | os.PathLike, tail_seconds: float = 2.0) -> float:
    """Check that a file decodes at its start and near its stated end; return its duration in s.

    Costs an open, one frame and a seek, not a full decode. Catches non-audio files, damaged
    first frames and files cut short (their header promises audio that is not there).
    Raises DecodeError with a plain reason.
    """
    name = _name(source)
    with _open(source) as container:
        stream = _audio_stream(container, name)
        duration = _stated_duration(container, stream)
        try:
            first = next(_frames(container, stream), None)
        except av.FFmpegError as err:
            raise DecodeError(f"{name}: damaged audio at the start ({_reason(err)})") from err
        if first is None:
            raise DecodeError(f"{name}: no audio could be decoded (the stream holds no samples)")
        if not duration:
            return probe_duration(source)
        if duration <= 2 * tail_seconds:
            return duration
        target = duration - tail_seconds
        try:
            container.seek(int(target / stream.time_base), stream=stream, any_frame=False, backward=True)
        except av.FFmpegError:
            return duration  # this format cannot seek here: no verdict on its end
        decoded, last_end = 0, None
        try:
            for frame in _frames(container, stream):
                decoded += 1
                if frame.pts is not None:
                    last_end = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate
        except av.FFmpegError:
            pass  # a damaged last packet: judged by how far decoding got
    if decoded and last_end is None:
        return duration  # frames without timestamps: no verdict on their position
    if last_end is None or last_end < _TRUNCATED_BELOW * duration:
        got = "nothing" if last_end is None else f"audio only up to {last_end:.1f} s"
        raise DecodeError(f"{name}: truncated or damaged (the header says {duration:.1f} s, found {got})")
    return duration


def _frames(container, stream):
    """Decoded frames, skipping packets the decoder rejects."""
    for packet in container.demux(stream):
        try:
            yield from stream.decode(packet)
        except av.InvalidDataError:
            continue


class _MonoResampler:
    """One FFmpeg filter graph: abuffer -> pan (mean of channels) -> aresample (rate, float) -> abuffersink.

    The sink hands back large frames, so Python sees few of them. Built for one input shape
    (sample format, layout, rate); `accepts` says whether a frame still has that shape.
    """

    def __init__(self, frame: av.AudioFrame, sample_rate: int):
        self.key = (frame.format.name, frame.layout.name, frame.sample_rate)
        self.graph = av.filter.Graph()
        self.src = self.graph.add_abuffer(
            format=frame.format.name, sample_rate=frame.sample_rate, layout=frame.layout.name,
            channels=len(frame.layout.channels), time_base=frame.time_base,
        )
        chain = [self.src]
        channels = len(frame.layout.channels)
        if channels > 1:
            # The plain mean of the channels, as librosa does; FFmpeg's own downmix adds them at
            # -3 dB each, which lifts correlated stereo by 3 dB and clips loud masters.
            gains = "+".join(f"{1 / channels:.9g}*c{i}" for i in range(channels))
            chain.append(self.graph.add("pan", f"mono|c0={gains}"))
        chain.append(self.graph.add("aresample", f"osr={sample_rate}:ochl=mono:osf=flt"))
        self.sink = self.graph.add("abuffersink")
        chain.append(self.sink)
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        self.graph.configure()
        self.graph.set_audio_frame_size(_OUT_FRAME)

    def accepts(self, frame: av.AudioFrame) -> bool:
        return (frame.format.name, frame.layout.name, frame.sample_rate) == self.key

    def push(self, frame: av.AudioFrame, chunks: list[np.ndarray]) -> int:
        """Feed one frame; append what comes out to `chunks`; return how many samples came out."""
        self.src.push(frame)
        return self._pull(chunks)

    def flush(self, chunks: list[np.ndarray]) -> int:
        """End the input and collect the rest (the resampler's tail, the last partial frame)."""
        self.src.push(None)
        return self._pull(chunks)

    def _pull(self, chunks: list[np.ndarray]) -> int:
        added = 0
        while True:
            try:
                frame = self.sink.pull()
            except (av.BlockingIOError, av.EOFError):
                return added
            data = frame.to_ndarray().reshape(-1)
            chunks.append(data)
            added += data.size


def _check_length(container, stream, name: str, got: float, max_seconds: float | None) -> None:
    if not container.format.name.startswith(_EXACT_LENGTH_FORMATS):
        return
    stated = _stated_duration(container, stream)
    if not stated:
        return
    wanted = stated if max_seconds is None else min(stated, max_seconds)
    if got < _TRUNCATED_BELOW * wanted:
        raise DecodeError(f"{name}: truncated or damaged (the header says {stated:.1f} s, decoded {got:.1f} s)")


def _stated_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _open(source: Source):
    name = _name(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise DecodeError(f"{name}: empty input (0 bytes)")
        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            size = os.path.getsize(source)
        except OSError as err:
            raise DecodeError(f"{name}: cannot read the file ({err.strerror or err})") from err
        if size == 0:
            raise DecodeError(f"{name}: empty file (0 bytes)")
        source = os.fspath(source)
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
    except av.FFmpegError as err:
        raise DecodeError(f"{name}: not audio that FFmpeg can read ({_reason(err)})") from err


def _audio_stream(container, name: str):
    if not container.streams.audio:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        raise DecodeError(f"{name}: no audio stream (the file holds {kinds})")
    return container.streams.audio[0]


def _name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes of audio>"
    return getattr(source, "name", None) or "<audio stream>"


def _reason(err: av.FFmpegError) -> str:
    text = (err.strerror or str(err)).strip().rstrip(".")
    return text[0].lower() + text[1:] if text else type(err).__name__
