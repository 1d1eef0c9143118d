"""find_audio_files on the generated library and on small trees made in tmp_path."""

import os
import shutil

import pytest

from scan.errors import CrossgenreError
from scan import find_audio_files


def test_finds_every_audio_file_and_nothing_else(library):
    found = find_audio_files(library.root)
    assert found == library.audio_paths()
    assert not set(found) & set(library.ignored)  # covers, sidecars, notes.pdf, readme.txt


def test_result_is_sorted_and_in_given_form(library):
    found = find_audio_files(str(library.root))
    assert found == sorted(found, key=str)
    assert found and all(str(p).startswith(str(library.root)) for p in found)


def test_files_named_directly_are_kept_by_extension(library):
    song = library.songs[0].path
    assert find_audio_files([song, library.root / "readme.txt"]) == [song]


def test_same_file_twice_is_listed_once(library):
    song = library.songs[0].path
    assert find_audio_files([song, song.parent, library.root]) == library.audio_paths()


def test_missing_path_raises_with_the_path(tmp_path):
    missing = tmp_path / "no such folder"
    with pytest.raises(CrossgenreError, match="no such file or folder") as err:
        find_audio_files([missing])
    assert str(missing) in str(err.value)


def test_symlink_loop_ends_and_linked_folders_are_followed(tmp_path, library):
    music = tmp_path / "music"
    (music / "a").mkdir(parents=True)
    shutil.copy(library.songs[0].path, music / "a" / "one.flac")
    os.symlink(music, music / "a" / "loop")  # points back up: must not recurse forever
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(library.songs[1].path, elsewhere / "two.ogg")
    os.symlink(elsewhere, music / "linked")
    os.symlink(tmp_path / "gone.mp3", music / "dangling.mp3")
    assert find_audio_files(music) == [music / "a" / "one.flac", music / "linked" / "two.ogg"]


def test_extension_case_hidden_files_and_other_extensions(tmp_path):
    for name in ("LOUD.MP3", "song.Flac", "x.oga", "y.aif", "z.wma", "._song.mp3", "notes.mp3.txt", "image.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.mp3").write_bytes(b"x")
    names = [p.name for p in find_audio_files(tmp_path)]
    assert names == ["LOUD.MP3", "song.Flac", "x.oga", "y.aif", "z.wma"]


def test_empty_folder_gives_empty_list(tmp_path):
    assert find_audio_files(tmp_path) == []
