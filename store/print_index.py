"""Audio print codes in posting lists held in memory: which song a clip was cut from, and where in it,
without scanning the library.

Each stored print (one a second of a song) gives CODE_BANDS keys (encoders/fingerprint.py: `print_keys`).
A key's posting list is the prints that hold it, as numbers that run through the library song after
song, so print number p is second p - first[song] of its song. A clip's prints (every 0.125 s, at each
of the speeds of SPEED_FACTORS) probe their keys and the keys of their least certain bits; every posted
print a probe reaches votes, with the probe's weight, for one (song, offset, speed): where in the song
the clip would start. A clip's true matches agree on that place; chance matches scatter. So the lookup
costs what the clip's keys gather (a few million postings at 100,000 songs), not what the library holds.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.fingerprint import CODE_BANDS, CODE_BITS, CODE_MASK, KEY_SPACE, PROBE_BITS

_TABLE_BITS = 22  # the first stage's table: at most 4 M cells
_CANDIDATES = 1024  # cells whose votes the second stage counts by place
MAX_PROBE_BITS = 7
_PROBE_REFERENCE_PRINTS = 24_000_000  # ~100,000 songs: PROBE_BITS there (docs/benchmarks.md §8)
_SMALL = 100_000  # postings a lookup counts exactly, without the first stage


@dataclass
class PrintMatch:
    song: int  # the song's position in the index (PrintIndex.song_keys[song] is its key)
    votes: float  # weighted probes that agree on the place, to a quarter second (and its two neighbours)
    offset: float  # where in the song the clip starts, in print seconds (x TIME_SCALE: real seconds)
    speed: int  # which of the clip's speeds matched (0: as recorded)


class PrintIndex:
    """Posting lists of the print codes of a library: `starts[k]:starts[k+1]` of `posted` are the numbers
    of the prints holding key k, in ascending order."""

    def __init__(self, song_keys: np.ndarray, counts: np.ndarray, keys: np.ndarray):
        """`song_keys` (songs,) int64; `counts` (songs,) prints each song has; `keys` (sum(counts), CODE_BANDS)
        the keys of every print, song after song."""
        self.song_keys = np.asarray(song_keys, np.int64)
        self.first = np.r_[0, np.cumsum(counts)].astype(np.int64)  # first[s]: number of song s's second 0
        keys = np.asarray(keys, np.int64).reshape(-1)
        # one sort of (key, print number) pairs; each print is posted once under each of its keys
        # where each key's list starts, counted before the sort (no second array of every key after it)
        self.starts = np.r_[0, np.cumsum(np.bincount(keys, minlength=KEY_SPACE))].astype(np.int64)
        pairs = keys << 32 | np.repeat(np.arange(len(keys) // CODE_BANDS, dtype=np.int64), CODE_BANDS)
        del keys
        pairs.sort()
        self.posted = (pairs & 0xFFFFFFFF).astype(np.int32)
        del pairs
        self._make_table()

    def save(self, path: Path, version: str, ids: list[str]) -> None:
        """Write the lists to `path` whole or not at all (a reader sees the old file or the new one), with
        the version of the prints they hold and the song ids in their order."""
        part = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(part, "wb") as f:
                np.savez(f, version=np.array(version), ids=np.array(ids, dtype=str), song_keys=self.song_keys,
                         first=self.first, starts=self.starts, posted=self.posted)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> tuple["PrintIndex", str, list[str]]:
        """Lists that `save` wrote: (the index, the version of its prints, the song ids in its order)."""
        with np.load(path, allow_pickle=False) as saved:
            song_keys, first, starts = saved["song_keys"], saved["first"], saved["starts"]
            if len(starts) != KEY_SPACE + 1 or len(first) != len(song_keys) + 1:
                raise ValueError("the lists do not fit this version's print codes")
            index = cls.__new__(cls)
            index.song_keys, index.first, index.starts, index.posted = song_keys, first, starts, saved["posted"]
            if starts[-1] != len(index.posted):
                raise ValueError("the lists are cut short")
            index._make_table()
            return index, str(saved["version"]), saved["ids"].tolist()

    def print_keys(self) -> np.ndarray:
        """The keys (prints, CODE_BANDS) of every print, song after song, read back off the lists (each print
        is posted once under each of its keys, and a key's band is its high bits)."""
        key_of_posting = np.repeat(np.arange(KEY_SPACE, dtype=np.int32), np.diff(self.starts))
        keys = np.zeros((self.prints, CODE_BANDS), np.int32)
        keys[self.posted, key_of_posting >> CODE_BITS] = key_of_posting
        return keys

    def _make_table(self) -> None:
        self._table = np.zeros(1 << _TABLE_BITS, np.float32)  # (half the memory traffic of float64)
        self._chosen = np.zeros(1 << _TABLE_BITS, bool)
        self._table_lock = threading.Lock()

    @property
    def prints(self) -> int:
        return int(self.first[-1])

    @property
    def nbytes(self) -> int:
        return self.posted.nbytes + self.starts.nbytes + self.first.nbytes + self.song_keys.nbytes

    def probe_bits(self) -> int:
        """How many uncertain bits a clip's codes probe: PROBE_BITS at ~100,000 songs (24 M prints), one
        more each time the library halves (more probes find more of a degraded clip's codes, and a smaller
        library's lists are shorter), at most MAX_PROBE_BITS."""
        halvings = np.log2(_PROBE_REFERENCE_PRINTS / max(self.prints, 1))
        return int(np.clip(PROBE_BITS + np.floor(halvings), PROBE_BITS, MAX_PROBE_BITS))

    def _candidates(self, place: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Which votes may be a clip's true place: the votes are counted by coarse place (2 s of offset, with
        the speed) in a table of _TABLE_BITS cells, whose busiest cells hold the true place with some chance
        places. A coarse place's low bits are its cell: places spread evenly along the library."""
        cells = ((place >> 6 << 3) | (place & 7)) & ((1 << _TABLE_BITS) - 1)
        with self._table_lock:  # one table, reused: a new one each lookup costs its page faults again
            table = self._table
            np.add.at(table, cells, weights)
            busy = np.flatnonzero(table >= 1.0)  # (a cell of chance matches holds less than one vote)
            if len(busy) > _CANDIDATES:
                busy = busy[np.argpartition(table[busy], -_CANDIDATES)[-_CANDIDATES:]]
            self._chosen[busy] = True
            chosen = self._chosen[cells]
            self._chosen[busy] = False
            table[:] = 0.0
        return chosen

    def lookup(self, probes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], limit: int = 10) -> list[PrintMatch]:
        """The songs a clip may come from, most votes first. `probes` holds, for each speed the clip is tried
        at, (keys (n, m), their weights (n, m), the n clip prints' start seconds): `clip_probes` of
        encoders/fingerprint.py, or a stored song's own keys (weight 1). At most one match a song."""
        if not self.prints or not any(k.size for k, _, _ in probes):
            return []
        keys, weights, tags = [], [], []
        spans = [float(np.max(starts)) if len(starts) else 0.0 for _, _, starts in probes]  # the last clip print's start
        for speed, (k, w, starts) in enumerate(probes):
            if not k.size:
                continue
            keys.append(k.ravel())
            weights.append(w.ravel())
            # a vote's place is 8 * floor((8 p - e) / 2) + speed for print number p and clip time e / 8 s:
            # the quarter second along the library where the clip would start, then the speed. That is
            # 32 p - tag, with the tag computed here once per probe.
            e = np.round(np.asarray(starts) * 8).astype(np.int64)
            tags.append(np.repeat(4 * e + 4 * (e & 1) - speed, k.shape[1]))
        keys, weights, tags = np.concatenate(keys), np.concatenate(weights).astype(np.float32), np.concatenate(tags)
        lo = self.starts[keys]
        lengths = self.starts[keys + 1] - lo
        lengths[keys & CODE_MASK == 0] = 0  # code 0 is digital silence, found in every song
        total = int(lengths.sum())
        if not total:
            return []
        ends = np.cumsum(lengths)
        posted = self.posted[np.repeat(lo - ends + lengths, lengths) + np.arange(total)].astype(np.int64)
        place = posted * 32 - np.repeat(tags, lengths)
        weights = np.repeat(weights, lengths)
        if total > _SMALL:  # (a short lookup, such as a stored song's excerpt, counts every place exactly)
            chosen = self._candidates(place, weights)
            place, weights = place[chosen], weights[chosen]
        places, where = np.unique(place, return_inverse=True)
        votes = np.bincount(where, weights)
        # a place's votes with its two neighbours' (a quarter second either side, same speed)
        near = votes.copy()
        for shift in (-8, 8):
            at = np.searchsorted(places, places + shift)
            hit = at < len(places)
            hit[hit] = places[at[hit]] == places[hit] + shift
            near[hit] += votes[at[hit]]
        top = np.argsort(-near)[: 4 * limit]
        candidates, scores = places[top], near[top]
        best: dict[int, PrintMatch] = {}
        for p, score in zip(candidates.tolist(), scores.tolist()):
            quarter, speed = p >> 3, p & 7
            at = quarter / 4  # the print number, in seconds, the clip's start lines up with
            song = int(np.searchsorted(self.first, int(np.floor(at)), "right")) - 1
            song = min(max(song, 0), len(self.song_keys) - 1)
            offset = at - float(self.first[song])
            if offset + spans[speed] > self.first[song + 1] - self.first[song] - 0.5:
                continue  # the clip would run past the song's last print: a chance place, or a loop's echo
            if song not in best or score > best[song].votes:
                best[song] = PrintMatch(song, float(score), max(0.0, offset), speed)
        return sorted(best.values(), key=lambda m: -m.votes)[:limit]
