"""Near-duplicates: pairs of songs that are the same recording in other formats, bitrates or masters.

Each song's middle stretch is printed finely (every 0.125 s, as a query clip is) and its prints are
searched among every song's prints; another song that wins most of them holds the same recording.
Prints ignore any fixed equaliser or band-limit, so re-encodes and remasters of one recording match,
while different recordings of a song (another take, a cover version) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from encoders.fingerprint import to_print_rate
from scan import decode_audio

# Share of one song's prints that must land on the other song. Calibrated on re-encodes the tests make
# (MP3, Ogg Vorbis and Opus copies of the generated library: shares 0.69-0.89) against distinct songs
# that share a tempo and beat grid (at most 0.22).
MIN_SHARE = 0.5
EXCERPT_SECONDS = 20.0
SIMILARITY_RATIO = 0.85


@dataclass
class DuplicatePair:
    a: str  # song ids, a < b
    b: str
    share: float  # the larger of the two directions' shares of prints won


def find_duplicates(store, printer, min_share: float = MIN_SHARE, progress=None) -> list[DuplicatePair]:
    """Every pair of indexed songs that holds the same recording, strongest first."""
    rows = list(store.iter_songs(["id", "path", "duration"]))
    best: dict[tuple[str, str], float] = {}
    for n, row in enumerate(rows):
        if progress:
            progress(n, len(rows))
        try:
            wave = decode_audio(row["path"], printer.sample_rate)
        except Exception:  # a file changed or gone since indexing: nothing to compare
            continue
        middle = max(0, len(wave) // 2 - int(EXCERPT_SECONDS * printer.sample_rate / 2))
        prints, _ = printer.clip_prints(to_print_rate(wave[middle : middle + int(EXCERPT_SECONDS * printer.sample_rate)], printer.sample_rate))
        if not len(prints):
            continue
        votes: dict[str, int] = {}
        for found in store.search_prints(prints, 2):
            self_sim = max((h["distance"] for h in found if h["entity"]["song_id"] == row["id"]), default=None)
            other = next((h for h in found if h["entity"]["song_id"] != row["id"]), None)
            # the same recording matches about as well as the song matches itself; a song that only
            # shares a tempo and a beat grid matches clearly worse
            if other and (self_sim is None or other["distance"] >= SIMILARITY_RATIO * self_sim):
                votes[other["entity"]["song_id"]] = votes.get(other["entity"]["song_id"], 0) + 1
        for other, count in votes.items():
            share = count / len(prints)
            if share >= min_share:
                key = tuple(sorted((row["id"], other)))
                best[key] = max(best.get(key, 0.0), share)
    return sorted((DuplicatePair(a, b, s) for (a, b), s in best.items()), key=lambda p: -p.share)
