"""How a text query is split into a sound part and a subject (search.wording)."""

import pytest

from search.wording import split_subject


@pytest.mark.parametrize("text, parts", [
    ("slow piano ballad about leaving home", ("slow piano ballad", "leaving home")),
    ("driving techno at 128 bpm, about losing yourself on a dark dance floor",
     ("driving techno at 128 bpm", "losing yourself on a dark dance floor")),
    ("Loud rock: About a broken amp.", ("Loud rock", "a broken amp")),
])
def test_a_sound_and_a_subject_are_split(text, parts):
    assert split_subject(text) == parts


@pytest.mark.parametrize("text, subject", [
    ("a song about leaving home", "leaving home"),
    ("songs about love", "love"),
    ("About love", "love"),
])
def test_a_subject_without_a_sound_has_no_sound_part(text, subject):
    assert split_subject(text) == ("", subject)


@pytest.mark.parametrize("text", [
    "techno at about 128 bpm",  # "about" a number means roughly
    "slow brushed drums, melancholic",
    "music about",  # nothing after it
])
def test_texts_without_a_subject_are_kept_whole(text):
    assert split_subject(text) == (text, None)
