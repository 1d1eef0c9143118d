"""Covers: embedded in each tag format (front before back), folder images, and non-images ignored."""

import shutil

import pytest

from scan import read_track
from scan.covers import is_image, read_cover
from scan.tags import open_audio
from tests.fixtures.library import SONG_NAMES


@pytest.mark.parametrize("name", SONG_NAMES)
def test_every_song_has_the_cover_written(library, name):
    song = library.song(name)
    track = read_track(song.path)
    assert track.cover_source == song.cover_source
    assert track.cover == song.cover


def test_each_embedding_is_exercised(library):
    formats = {s.format for s in library.songs if s.cover_source == "embedded"}
    assert formats == {"flac", "ogg", "mp3", "m4a", "opus", "wav"}
    assert any(s.cover_source == "folder" for s in library.songs)


def test_front_cover_wins_over_a_back_cover_stored_first(library):
    song = library.song("Pulse Engine")
    audio = open_audio(song.path)
    assert [frame.type for frame in audio.tags.getall("APIC")] == [4, 3]
    assert read_cover(song.path, audio)[0] == song.cover


def test_folder_names_any_case_and_preference(tmp_path, library):
    path = tmp_path / "song.mp3"
    shutil.copy(library.song("Lantern Song").path, path)  # no embedded picture
    assert read_cover(path, open_audio(path)) == (None, None)
    front = library.song("Black Anvil").cover
    folder = library.song("Late Train Home").cover
    (tmp_path / "FRONT.JPEG").write_bytes(front)
    assert read_cover(path) == (front, "folder")
    (tmp_path / "Folder.png").write_bytes(folder)
    assert read_cover(path) == (folder, "folder")  # "folder" comes before "front"
    (tmp_path / "cover.jpg").write_text("not an image")
    assert read_cover(path) == (folder, "folder")  # a non-image named cover.jpg is passed over


def test_is_image():
    assert is_image(b"\xff\xd8\xff\xe0rest") and is_image(b"\x89PNG\r\n\x1a\nrest")
    assert is_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert not is_image(b"") and not is_image(None) and not is_image(b"-->http://example.org/a.jpg")


def test_a_track_without_art_shows_its_albums_art_from_another_track(tmp_path, library):
    donor, bare = library.song("Late Train Home"), library.song("Corner Store Philosophy")  # one album, one folder
    assert bare.cover_source == "album" and bare.cover == donor.cover
    for song in (donor, bare):
        shutil.copy(song.path, tmp_path / song.path.name)
    path = tmp_path / bare.path.name
    assert read_cover(path, open_audio(path), "Concrete Verses", "MC Parallax") == (donor.cover, "album")
    assert read_cover(path, open_audio(path), "concrete verses") == (donor.cover, "album")  # case does not matter
    assert read_cover(path, open_audio(path), "Another Album") == (None, None)
    assert read_cover(path, open_audio(path), "Concrete Verses", "Someone Else") == (None, None)
    assert read_cover(path, open_audio(path)) == (None, None)  # no album tag: nothing to share
