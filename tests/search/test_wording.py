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


@pytest.mark.parametrize("text", [
    "a song about leaving home",  # no sound named: every route reads the whole text
    "songs about love",
    "about love",
    "techno at about 128 bpm",  # "about" a number means roughly
    "slow brushed drums, melancholic",
    "music about",  # nothing after it
])
def test_queries_without_both_parts_are_kept_whole(text):
    assert split_subject(text) == (text, None)
