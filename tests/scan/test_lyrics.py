"""Lyrics: embedded in each tag format, sidecar .lrc/.txt, LRC clean-up, and which source wins."""

import shutil

import pytest

from scan.lyrics import clean_lyrics, read_lyrics
from scan.tags import open_audio
from tests.fixtures.library import SONG_NAMES


@pytest.mark.parametrize("name", SONG_NAMES)
def test_every_song_has_the_lyrics_written(library, name):
    song = library.song(name)
    assert read_lyrics(song.path, open_audio(song.path)) == (song.lyrics, song.lyrics_source)


def test_each_embedding_is_exercised(library):
    embedded = {(s.format, s.title) for s in library.songs if s.lyrics_source == "embedded"}
    assert {fmt for fmt, _ in embedded} == {"mp3", "m4a", "flac", "opus", "ogg", "wav"}
    assert {s.path.suffix for s in library.songs if s.lyrics_source == "sidecar"} == {".mp3", ".m4a"}


def test_lrc_sidecar_is_stripped_of_timing_and_headers(library):
    song = library.song("Lantern Song")
    raw = song.path.with_suffix(".lrc").read_text()
    assert "[00:02.00]" in raw and "[ar:" in raw
    text, source = read_lyrics(song.path)
    assert source == "sidecar"
    assert "[" not in text and text.startswith("Light a lantern")
    assert "\n\n" in text  # the stanza break survives


def test_embedded_lyrics_win_over_a_sidecar(library):
    song = library.song("Pulse Engine")
    assert song.path.with_suffix(".txt").exists()
    assert read_lyrics(song.path, open_audio(song.path))[1] == "embedded"
    assert read_lyrics(song.path)[1] == "sidecar"  # without the parsed file only sidecars count


def test_sidecar_extension_case_and_encodings(tmp_path, library):
    path = tmp_path / "Song.opus"
    shutil.copy(library.song("Corner Store Philosophy").path, path)  # a song with no lyrics
    assert read_lyrics(path, open_audio(path)) == (None, None)
    (tmp_path / "Song.LRC").write_bytes("Caf\xe9 at night\r\n".encode("cp1252"))
    assert read_lyrics(path, open_audio(path)) == ("Caf\xe9 at night", "sidecar")
    (tmp_path / "Song.LRC").write_bytes("Na\xefve song".encode("utf-16"))
    assert read_lyrics(path)[0] == "Na\xefve song"


def test_clean_lyrics_keeps_words_and_section_marks():
    lrc = (
        "[ti:Song]\n[ar:Someone]\n[length: 03:20]\n[offset:+100]\n"
        "[00:01.00][00:30.50]Repeated line\n"
        "[00:05.12]<00:05.12>Word <00:05.60>by <00:06.00>word\n"
        "[00:08.00]\n[00:08.50]\n\n"
        "[Chorus: Jay]\n[01:02:03]Last line  \n\n"
    )
    assert clean_lyrics(lrc) == "Repeated line\nWord by word\n\n[Chorus: Jay]\nLast line"
    assert clean_lyrics("  \n\n ") is None
    assert clean_lyrics(None) is None
