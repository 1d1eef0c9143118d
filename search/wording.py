"""Split a text query into what it says about the sound and what it says the words are about.

"slow piano ballad about leaving home" asks for a sound ("slow piano ballad") and a subject
("leaving home"). Given whole to every route, each part blurs the other: the sound route hears
"home", the lyrics route reads "piano". Split, the sound routes get the sound and the lyrics routes
the subject. "a song about leaving home" names no sound: only the lyrics routes read it. "about"
before a number ("techno at about 128 bpm") means roughly and splits nothing.
"""

from __future__ import annotations

import re

# "about" as a subject marker: a word of its own, not followed by a number (then it means "roughly").
_ABOUT = re.compile(r"(?:^|[\s,;:.-]+)about\s+(?!\d)", re.IGNORECASE)
# Words that name no sound: "a song", "some tracks", "music" say nothing about how it should sound.
_GENERIC = {"a", "an", "the", "some", "any", "song", "songs", "track", "tracks", "music", "tune", "tunes",
            "piece", "pieces", "something", "anything", "one", "ones", "that", "is", "are", "which", "find",
            "me", "play", "give", "show", "i", "want", "like", "with", "lyrics", "words", "its", "whose"}


def split_subject(text: str) -> tuple[str, str | None]:
    """(sound part, subject) of a query: (text, None) when it names no subject, ("", subject) when it
    names no sound."""
    match = _ABOUT.search(text)
    subject = text[match.end():].strip(" .,;:") if match else ""
    if not subject:
        return text, None
    sound = text[: match.start()].strip()
    if all(w in _GENERIC for w in re.findall(r"[a-z0-9']+", sound.lower())):
        return "", subject
    return sound, subject
