"""Near-duplicates: pairs of songs that are the same recording in other formats, bitrates or masters.

Each song's stored print codes (one print a second) are read back off the library's posting lists
(store/print_index.py); the middle stretch of each song is looked up in them, and another song whose
codes agree with most of it at one place holds the same recording. Prints ignore any fixed equaliser or band-limit, so
re-encodes and remasters of one recording match, while different recordings of a song (another take, a
cover version) do not. Each song costs one short lookup: the whole run grows with the library, not
with its square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoders.fingerprint import CODE_BANDS, stored_probes

# Share of the codes of one song's excerpt that another song must hold at one place. Calibrated on
# re-encodes the tests make (MP3, Ogg Vorbis and Opus copies of the generated library) against distinct
# songs that share a tempo and beat grid.
MIN_SHARE = 0.5
EXCERPT_PRINTS = 20  # seconds from the middle of each song


@dataclass
class DuplicatePair:
    a: str  # song ids, a < b
    b: str
    share: float  # the larger of the two directions' shares of codes matched


def find_duplicates(store, min_share: float = MIN_SHARE, progress=None) -> list[DuplicatePair]:
    """Every pair of indexed songs that holds the same recording, strongest first."""
    index, ids = store.print_index()
    keys = index.print_keys()  # the stored codes, read off the lists rather than out of Milvus again
    best: dict[tuple[str, str], float] = {}
    for me in range(len(ids)):
        if progress:
            progress(me, len(ids))
        if not ids[me]:
            continue
        count = int(index.first[me + 1] - index.first[me])
        middle = int(index.first[me]) + max(0, count // 2 - EXCERPT_PRINTS // 2)
        excerpt = keys[middle : middle + min(EXCERPT_PRINTS, count)].astype(np.int64)
        probes = [(*stored_probes(excerpt), np.arange(len(excerpt), dtype=np.float64))]
        for match in index.lookup(probes, 4):
            share = match.votes / (len(excerpt) * CODE_BANDS)
            other = ids[match.song]
            if match.song != me and other and share >= min_share:
                pair = tuple(sorted((ids[me], other)))
                best[pair] = max(best.get(pair, 0.0), share)
    return sorted((DuplicatePair(a, b, s) for (a, b), s in best.items()), key=lambda p: -p.share)
