"""read_tags on every song of the generated library, each tag system, and on files that are not songs."""

import shutil

import mutagen
import pytest
from mutagen import id3

from scan.errors import ScanError
from scan.tags import TAG_FIELDS, read_tags
from tests.fixtures.library import SONG_NAMES

EXPECTED_FIELDS = ("title", "artist", "album", "album_artist", "year", "track_number",
                   "musicbrainz_track_id", "musicbrainz_album_id", "musicbrainz_artist_id")


@pytest.mark.parametrize("name", SONG_NAMES)
def test_every_song_reads_back_its_tags(library, name):
    song = library.song(name)
    tags = read_tags(song.path)
    assert set(tags) == set(TAG_FIELDS)
    for field in EXPECTED_FIELDS:
        assert tags[field] == getattr(song, field), field
    assert tags["genre"] == song.genre_tag
    assert tags["duration"] == pytest.approx(song.duration, rel=0.01)


def test_genre_spellings_are_kept_as_written(library):
    hip_hop = {read_tags(s.path)["genre"] for s in library.by_genre()["hip hop"]}
    assert hip_hop == {"Hip Hop", "hip-hop"}


def test_every_format_is_covered(library):
    assert {s.format for s in library.songs} == {"mp3", "flac", "ogg", "opus", "wav", "m4a"}


def test_id3_v1_genre_numbers_and_v23_year(tmp_path, library):
    path = tmp_path / "old.mp3"
    shutil.copy(library.song("Pulse Engine").path, path)
    audio = mutagen.File(path)
    audio.tags.delall("TDRC")
    audio.tags.add(id3.TCON(encoding=0, text=["(17)"]))  # ID3v1 genre 17 is Rock
    audio.tags.add(id3.TYER(encoding=0, text=["1999"]))
    audio.tags.add(id3.TRCK(encoding=0, text=["07/10"]))
    audio.save(v2_version=3)
    tags = read_tags(path)
    assert (tags["genre"], tags["year"], tags["track_number"]) == ("Rock", 1999, 7)


def test_several_values_are_joined_and_blanks_dropped(tmp_path, library):
    path = tmp_path / "multi.flac"
    shutil.copy(library.song("Harbor Fog").path, path)
    audio = mutagen.File(path)
    audio["artist"] = ["Lumen Drift", " Guest Star ", "Lumen Drift"]
    audio["genre"] = ["   "]
    audio["tracknumber"] = ["0"]
    audio["date"] = ["sometime"]
    audio.save()
    tags = read_tags(path)
    assert tags["artist"] == "Lumen Drift; Guest Star"
    assert tags["genre"] is None and tags["track_number"] is None and tags["year"] is None


@pytest.mark.parametrize("kind, reason", [("empty", "empty file"), ("text", "not a recognised audio format"),
                                          ("random", "damaged or not audio")])
def test_files_that_are_not_songs_raise_scan_error(library, kind, reason):
    broken = next(b for b in library.broken if b.kind == kind)
    with pytest.raises(ScanError, match=reason) as err:
        read_tags(broken.path)
    assert str(broken.path) in str(err.value)


def test_missing_file_raises_scan_error(tmp_path):
    with pytest.raises(ScanError, match="cannot read the file"):
        read_tags(tmp_path / "gone.mp3")
