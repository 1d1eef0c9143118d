"""Formats the test library leaves out: AIFF (ID3 chunk), WMA (ASF), FLAC in Ogg (.oga), bare ADTS AAC."""

import pytest

from scan import decode_audio, find_audio_files, read_track
from tests.fixtures.media import FRONT_COVER, TagSet, make_cover, write_audio, write_tags
from tests.fixtures.synth import render

SECONDS = 9.0


@pytest.mark.parametrize("fmt", ["aiff", "wma", "oga"])
def test_tagged_formats_read_and_decode(tmp_path, fmt):
    path = tmp_path / f"song.{fmt}"
    write_audio(path, render("folk", SECONDS, 44100, seed=5, channels=2), 44100, fmt)
    cover = make_cover(("#102030", "#a0b0c0", "#ffcc00"), "squares", seed=5)
    write_tags(path, fmt, TagSet(title="Old Format", artist="Somebody", album="Archive", genre="Trip-Hop",
                                 date="2003-05-01", track="4/9", musicbrainz_track_id="0f3c1ae5-5d5e-4d1e-9c36-8e1d0c2b8a11",
                                 lyrics="[00:01.00]First line\n[00:04.00]Second line",
                                 pictures=((FRONT_COVER, cover, "image/jpeg"),)))
    assert find_audio_files(tmp_path) == [path]
    track = read_track(path)
    assert (track.title, track.artist, track.album, track.genre, track.year, track.track_number) == (
        "Old Format", "Somebody", "Archive", "Trip-Hop", 2003, 4)
    assert track.musicbrainz_track_id == "0f3c1ae5-5d5e-4d1e-9c36-8e1d0c2b8a11"
    assert (track.lyrics, track.lyrics_source) == ("First line\nSecond line", "embedded")
    assert (track.cover, track.cover_source) == (cover, "embedded")
    assert track.duration == pytest.approx(SECONDS, rel=0.01)
    assert decode_audio(path, 16000).size / 16000 == pytest.approx(SECONDS, rel=0.01)


def test_bare_adts_aac_reads_with_an_estimated_length(tmp_path):
    path = tmp_path / "stream.aac"
    write_audio(path, render("techno", SECONDS, 44100, seed=6, channels=2), 44100, "aac")
    track = read_track(path)
    assert track.title is None
    assert track.duration == pytest.approx(SECONDS, rel=0.05)  # ADTS has no length field: estimated
    assert decode_audio(path, 16000).size / 16000 == pytest.approx(SECONDS, rel=0.01)
