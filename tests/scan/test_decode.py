"""decode_audio, probe_duration and check_audio on every song, on bytes, and on broken input."""

import io
import time
import wave

import av
import numpy as np
import pytest
from PIL import Image

from scan.errors import DecodeError
from scan.decode import check_audio, decode_audio, probe_duration
from tests.fixtures.library import SONG_NAMES
from tests.fixtures.media import write_audio

BROKEN_REASONS = {
    "empty": "empty file",
    "text": "not audio that FFmpeg can read",
    "random": "not audio that FFmpeg can read",
    "truncated": "truncated or damaged",
}


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("name", SONG_NAMES)
def test_every_song_decodes_to_mono_float_at_the_rate(library, name, rate):
    song = library.song(name)
    samples = decode_audio(song.path, rate)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size / rate == pytest.approx(song.duration, rel=0.01)
    assert np.abs(samples).max() <= 1.0
    assert np.sqrt(np.mean(samples**2)) > 0.01  # real sound, not silence


@pytest.mark.parametrize("name", SONG_NAMES)
def test_probe_and_check_give_the_duration(library, name):
    song = library.song(name)
    assert probe_duration(song.path) == pytest.approx(song.duration, rel=0.01)
    assert check_audio(song.path) == pytest.approx(song.duration, rel=0.01)


def test_bytes_and_file_objects_decode_like_the_path(library):
    song = library.song("Broken Amplifier")
    from_path = decode_audio(song.path, 16000)
    data = song.path.read_bytes()
    np.testing.assert_array_equal(decode_audio(data, 16000), from_path)
    np.testing.assert_array_equal(decode_audio(io.BytesIO(data), 16000), from_path)


def test_max_seconds_stops_early(library):
    song = library.song("Corner Store Philosophy")
    full = decode_audio(song.path, 22050)
    head = decode_audio(song.path, 22050, max_seconds=2.5)
    assert head.size == int(2.5 * 22050)
    np.testing.assert_array_equal(head, full[: head.size])
    assert decode_audio(song.path, 22050, max_seconds=600).size == full.size


def test_a_tone_keeps_its_pitch_and_stereo_is_averaged(tmp_path):
    rate = 44100
    t = np.arange(3 * rate) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -left + 0.5 * np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    path = tmp_path / "tone.flac"
    write_audio(path, stereo, rate, "flac")
    mono = decode_audio(path, 16000)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(mono.size, 1 / 16000)
    assert freqs[spectrum.argmax()] == pytest.approx(1000, abs=2)  # 440 Hz cancels out in the mean
    assert np.sqrt(np.mean(mono**2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize("kind", sorted(BROKEN_REASONS))
def test_broken_files_raise_decode_error_with_a_reason(library, kind):
    broken = next(b for b in library.broken if b.kind == kind)
    for call in (lambda: decode_audio(broken.path, 16000), lambda: check_audio(broken.path)):
        with pytest.raises(DecodeError, match=BROKEN_REASONS[kind]) as err:
            call()
        assert str(broken.path) in str(err.value)


def test_truncated_file_is_still_readable_in_part(library):
    broken = next(b for b in library.broken if b.kind == "truncated")
    assert decode_audio(broken.path, 16000, max_seconds=1.0).size == 16000  # the part before the cut


def test_bad_bytes_raise_decode_error():
    with pytest.raises(DecodeError, match="empty input"):
        decode_audio(b"", 16000)
    with pytest.raises(DecodeError, match="not audio"):
        decode_audio(b"hello, this is not a song" * 10, 16000)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    with pytest.raises(DecodeError, match="no audio stream"):
        decode_audio(png.getvalue(), 16000)


def test_a_file_with_no_samples_raises(tmp_path):
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as w:  # a valid header and zero frames
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
    with pytest.raises(DecodeError, match="no audio could be decoded"):
        decode_audio(path, 16000)


def test_four_minute_mp3_decodes_fast(tmp_path):
    # 10 s of bare MP3 frames (no ID3, no Xing header) repeated 24 times is a valid 4-minute
    # CBR stream, made in a fraction of the time it takes LAME to encode 4 minutes.
    rate = 44100
    t = np.arange(10 * rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    ten_seconds = io.BytesIO()
    with av.open(ten_seconds, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    path = tmp_path / "long.mp3"
    path.write_bytes(ten_seconds.getvalue() * 24)

    start = time.process_time()
    samples = decode_audio(path, 16000)
    cpu = time.process_time() - start
    assert samples.size / 16000 == pytest.approx(240, rel=0.01)
    assert cpu < 2.0, f"{cpu:.2f} s of CPU for 4 minutes"  # ~0.3 s measured; loose for shared machines


def _corrupt(src, dst, fraction):
    """Copy src to dst with `fraction` of its bytes, from a third of the way in, replaced by noise."""
    data = bytearray(src.read_bytes())
    start, span = len(data) // 3, int(len(data) * fraction)
    data[start : start + span] = np.random.default_rng(0).bytes(span)
    dst.write_bytes(data)
    return dst


def test_a_small_glitch_is_skipped_and_heavy_damage_raises(tmp_path, library):
    song = library.song("Night Shift Grid")
    glitched = decode_audio(_corrupt(song.path, tmp_path / "glitch.m4a", 0.02), 16000)
    assert glitched.size / 16000 == pytest.approx(song.duration, rel=0.05)
    with pytest.raises(DecodeError, match="damaged audio"):
        decode_audio(_corrupt(song.path, tmp_path / "wrecked.m4a", 0.3), 16000)
