"""Content sniffing: every real format of the test library is told by its bytes; names and garbage are not."""

from __future__ import annotations

import io

import pytest

from server.uploads import sniff_audio, sniff_image

EXPECTED = {"mp3": "mp3", "flac": "flac", "ogg": "ogg", "opus": "opus", "wav": "wav", "m4a": "mp4"}


def test_every_library_format_is_sniffed(library):
    for song in library.songs:
        assert sniff_audio(song.path.read_bytes()[:128]) == EXPECTED[song.format], song.path.name


def test_encoded_clips_without_tags_are_sniffed():
    import av
    import numpy as np

    for fmt, codec, want in (("mp3", "libmp3lame", "mp3"), ("adts", "aac", "aac"), ("webm", "libopus", "webm")):
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        assert sniff_audio(buf.getvalue()[:128]) == want, fmt


def test_images_are_sniffed():
    from PIL import Image

    for fmt, want in (("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp")):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buf, fmt)
        assert sniff_image(buf.getvalue()[:32]) == want


@pytest.mark.parametrize("head", [b"", b"hello world", b"%PDF-1.4", b"\xff\x00\x00\x00", b"\xff\xfa\xf0\x00",
                                  b"RIFF\x00\x00\x00\x00AVI ", b"<html>", b"PK\x03\x04"])
def test_other_bytes_are_not_audio_or_images(head):
    assert sniff_audio(head) is None
    assert sniff_image(head) is None
