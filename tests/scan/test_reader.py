"""read_track over the generated library, and content_hash as a change detector."""

import os
import shutil

import mutagen
import pytest

from scan.errors import DecodeError, ScanError
from scan import Track, content_hash, read_track
from tests.fixtures.library import SONG_NAMES

FIELDS = ("title", "artist", "album", "album_artist", "year", "track_number", "musicbrainz_track_id",
          "musicbrainz_album_id", "musicbrainz_artist_id", "lyrics", "lyrics_source", "cover", "cover_source")


@pytest.mark.parametrize("name", SONG_NAMES)
def test_every_song_reads_into_a_track(library, name):
    song = library.song(name)
    track = read_track(song.path)
    assert isinstance(track, Track)
    assert track.path == os.path.abspath(song.path)
    for field in FIELDS:
        assert getattr(track, field) == getattr(song, field), field
    assert track.genre == song.genre_tag
    assert track.duration == pytest.approx(song.duration, rel=0.01)


@pytest.mark.parametrize("kind, error, reason", [
    ("empty", ScanError, "empty file"),
    ("text", DecodeError, "not audio that FFmpeg can read .*; libsndfile: format not recognised"),
    ("random", DecodeError, "not audio that FFmpeg can read .*; libsndfile: "),
    ("truncated", DecodeError, "truncated or damaged"),
])
def test_broken_files_raise_scan_error_with_a_reason(library, kind, error, reason):
    """A file is refused only when no decoder reads it, with each decoder's reason."""
    broken = next(b for b in library.broken if b.kind == kind)
    with pytest.raises(error, match=reason) as err:
        read_track(broken.path)
    assert isinstance(err.value, ScanError)
    assert str(broken.path) in str(err.value)


def test_content_hash_is_stable_and_differs_between_files(library):
    hashes = [content_hash(s.path) for s in library.songs]
    assert hashes == [content_hash(s.path) for s in library.songs]
    assert len(set(hashes)) == len(hashes)
    assert hashes and all(len(h) == 32 and int(h, 16) >= 0 for h in hashes)


def test_content_hash_follows_changes_not_names_or_times(tmp_path, library):
    path = tmp_path / "song.flac"
    shutil.copy(library.song("Harbor Fog").path, path)
    before = content_hash(path)
    os.utime(path, (0, 0))
    moved = path.rename(tmp_path / "renamed.flac")
    assert content_hash(moved) == before  # same bytes, same hash

    audio = mutagen.File(moved)
    audio["title"] = ["Harbor Fog (remaster)"]  # fits in the padding: same size, new bytes
    audio.save()
    assert os.path.getsize(moved) == os.path.getsize(library.song("Harbor Fog").path)
    edited = content_hash(moved)
    assert edited != before

    with open(moved, "ab") as f:
        f.write(b"\0")
    assert content_hash(moved) != edited


def test_content_hash_samples_start_middle_and_end_of_large_files(tmp_path):
    path = tmp_path / "big.wav"
    data = bytearray(os.urandom(10 << 20))
    path.write_bytes(data)
    base = content_hash(path)
    for offset in (10, len(data) // 2, len(data) - 10):
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        path.write_bytes(changed)
        assert content_hash(path) != base, offset


def test_content_hash_of_missing_file_raises(tmp_path):
    with pytest.raises(ScanError, match="cannot read the file"):
        content_hash(tmp_path / "gone.flac")
