"""Print codes in posting lists held in memory (numpy), at real density: build time, memory, lookup p50/p95
per clip, and whether the lookup finds the clip's song among 1k-100k songs of 240 prints.

    PYTHONPATH=. .venv/bin/python bench/print_postings.py --songs 10000 100000

The research step after bench/print_index.py (the same codes in Milvus Lite's SPARSE_INVERTED_INDEX,
464 ms a clip at 10k songs): each print's CODE_BANDS keys (encoders/fingerprint.py: `print_keys`) are
posted under the print's 10-second block; a key's posting list is the blocks that hold it, once per
print that does (a block scores as in bench/print_index.py: the weighted count of codes it shares with
the query). The lists live in two arrays (CSR: where each key's list starts, and the block numbers), built
with one sort. A clip is printed at the speeds of SPEED_FACTORS; for each speed its probed keys
(`probe_keys`, weights summed per key) gather their lists, `np.bincount` adds the weights per block, and
the best block over the speeds names the song.

Library: the 28 demo tracks (their real prints) plus synthetic songs of 240 prints drawn like real ones
(a Gaussian with the demo prints' mean and covariance). Queries: 10 s clips cut at random from the demo
tracks, clean, and through every degradation at once (speed x0.95 with pitch, 300-3400 Hz band-pass,
10 dB white noise, 24 kbit/s MP3). What is stored for this design is the codes: CODE_BANDS x CODE_BITS bits
a print (12 bytes a second of audio) plus a block's key and Milvus's own row bytes every 10 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import memory, percentiles  # noqa: E402
from crossgenre.demo import demo_tracks_dir  # noqa: E402
import encoders.fingerprint as F  # noqa: E402
from encoders.fingerprint import CODE_BANDS, DIM, AudioPrinter, print_keys, probe_keys, speed_variants, to_print_rate  # noqa: E402
from scan import decode_audio  # noqa: E402
from search.degrade import apply  # noqa: E402

BLOCK_SECONDS = 10
PRINTS_PER_SONG = 240
CLIP_SECONDS = 10.0
CHUNK_SONGS = 2000  # synthetic songs drawn and coded at a time
OFFSET_STEP = 0.25  # seconds: the resolution at which matches must agree on the clip's place
DEGRADED = {"speed": 0.95, "phone": True, "noise_snr": 10, "bitrate": 24}


class Postings:
    """Prints by key: `starts[k]:starts[k+1]` of `prints` are the numbers of the prints holding key k.
    Print numbers run through the library song after song (song_of_print, second_of_print)."""

    def __init__(self, keys: np.ndarray, prints: np.ndarray, song_of_print: np.ndarray, second_of_print: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.prints = prints[order].astype(np.int32)
        self.starts = np.searchsorted(keys[order], np.arange(F.KEY_SPACE + 1)).astype(np.int64)
        self.song_of_print, self.second_of_print = song_of_print, second_of_print
        # a block: BLOCK_SECONDS consecutive prints of one song
        self.block_of_print = np.cumsum(np.r_[0, (second_of_print[1:] % BLOCK_SECONDS == 0)
                                             | (song_of_print[1:] != song_of_print[:-1])]).astype(np.int32)
        self.n_blocks = int(self.block_of_print[-1]) + 1
        self.nbytes = self.prints.nbytes + self.starts.nbytes
        self.cap = np.inf
        self.probe_bits = F.PROBE_BITS

    def _gather(self, prints: np.ndarray, starts: np.ndarray):
        """(numbers of the posted prints, their query weights, the clip time of the query print)."""
        keys, weights = probe_keys(prints, self.probe_bits)
        clip_t = np.repeat(starts, keys.shape[1])
        keys, weights = keys.ravel(), weights.ravel()
        lo = self.starts[keys]
        lengths = self.starts[keys + 1] - lo
        lengths[lengths > self.cap] = 0  # a code held by very many prints tells little and costs much
        idx = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return self.prints[idx], np.repeat(weights, lengths), np.repeat(clip_t, lengths)

    def best(self, prints_by_speed: list[np.ndarray], candidates: int = 0) -> int:
        """The song of the best block over the clip's speeds (candidates=0); or, in two stages, the song
        with the best agreed time offset among the songs of each speed's `candidates` best blocks: a clip's
        true matches agree on where in the song it sits, chance matches do not."""
        gathered = [self._gather(p, starts) for p, starts in prints_by_speed]
        scores = [np.bincount(self.block_of_print[posted], w, minlength=self.n_blocks) for posted, w, _ in gathered]
        if not candidates:
            top = max(scores, key=lambda s: s.max())
            return int(self.song_of_print[np.searchsorted(self.block_of_print, int(np.argmax(top)))])
        blocks = np.concatenate([np.argpartition(s, -candidates)[-candidates:] for s in scores])
        songs = np.unique(self.song_of_print[np.searchsorted(self.block_of_print, blocks)])
        best_song, best = -1, -1.0
        for posted, w, t in gathered:
            song = self.song_of_print[posted]
            keep = np.isin(song, songs)
            offset = np.round((self.second_of_print[posted[keep]] - t[keep]) / OFFSET_STEP).astype(np.int64)
            vote = song[keep].astype(np.int64) * (1 << 24) + offset + (1 << 20)
            u, inv = np.unique(vote, return_inverse=True)
            votes = np.bincount(inv, w[keep])
            if len(votes) and votes.max() > best:
                best, best_song = float(votes.max()), int(u[np.argmax(votes)] >> 24)
        return best_song


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, nargs="+", default=[10000, 100000], help="synthetic songs beside the 28 real ones")
    ap.add_argument("--clips", type=int, default=56, help="clips of each kind (clean, degraded)")
    ap.add_argument("--code-bits", type=int, default=F.CODE_BITS, help="bits a band's code (encoders/fingerprint.py: 16)")
    ap.add_argument("--probe-bits", type=int, default=F.PROBE_BITS, help="uncertain bits a query probes, per band")
    ap.add_argument("--max-list", type=float, default=0, help="skip codes whose posting list is longer than this "
                    "many times the mean (0: none)")
    ap.add_argument("--candidates", type=int, default=20, help="best blocks a speed whose songs the second stage compares")
    ap.add_argument("--out", default="bench/results/print_postings.json")
    args = ap.parse_args()
    if args.code_bits != F.CODE_BITS:  # longer codes: shorter posting lists, more codes a bit error changes
        F.CODE_BITS, F.KEY_SPACE = args.code_bits, CODE_BANDS << args.code_bits
        F._PROJECTION = np.random.RandomState(1).standard_normal((DIM, CODE_BANDS * args.code_bits)).astype(np.float32)
        F._BIT_VALUES = 1 << np.arange(args.code_bits, dtype=np.int64)
        F._BAND_BASE = np.arange(CODE_BANDS, dtype=np.int64) << args.code_bits

    printer = AudioPrinter()
    tracks = sorted(demo_tracks_dir().glob("*/*.opus"))
    waves = [decode_audio(t, 16000) for t in tracks]
    real = [printer.song_prints(to_print_rate(w, 16000))[0] for w in waves]
    pool = np.concatenate(real)
    mean, chol = pool.mean(0), np.linalg.cholesky(np.cov(pool.T) + 1e-9 * np.eye(DIM))
    rng = np.random.default_rng(0)
    clips = []
    for c in range(args.clips):
        i = c % len(tracks)
        start = rng.uniform(0, max(0.0, len(waves[i]) / 16000 - CLIP_SECONDS))
        clip = waves[i][int(start * 16000): int((start + CLIP_SECONDS) * 16000)]
        for kind, how in (("clean", None), ("degraded", DEGRADED)):
            wave = clip if how is None else apply(clip, 16000, how, seed=c)
            clips.append((kind, i, [printer.clip_prints(w) for w in speed_variants(to_print_rate(wave, 16000))]))

    results = []
    for n_songs in args.songs:
        t0 = time.perf_counter()
        keys, songs, seconds = [], [], []
        for i, prints in enumerate(real):  # the real songs first: song i is track i
            keys.append(print_keys(prints).astype(np.int32))
            songs.append(np.full(len(prints), i, np.int32))
            seconds.append(np.arange(len(prints), dtype=np.int32))
        gen = np.random.default_rng(1)
        for first in range(0, n_songs, CHUNK_SONGS):
            m = min(CHUNK_SONGS, n_songs - first)
            prints = mean + gen.standard_normal((m * PRINTS_PER_SONG, DIM), np.float32) @ chol.T.astype(np.float32)
            prints /= np.linalg.norm(prints, axis=1, keepdims=True)
            keys.append(print_keys(prints).astype(np.int32))
            songs.append(len(real) + first + np.repeat(np.arange(m, dtype=np.int32), PRINTS_PER_SONG))
            seconds.append(np.tile(np.arange(PRINTS_PER_SONG, dtype=np.int32), m))
        coded_s = time.perf_counter() - t0
        song_of_print, second_of_print = np.concatenate(songs), np.concatenate(seconds)
        keys = np.concatenate(keys)  # (prints, CODE_BANDS)
        posted = np.repeat(np.arange(len(keys), dtype=np.int32), CODE_BANDS)
        t1 = time.perf_counter()
        index = Postings(keys.ravel(), posted, song_of_print, second_of_print)
        build_s = time.perf_counter() - t1
        del keys, posted
        row = {"songs": len(real) + n_songs, "prints": int(len(song_of_print)), "postings": int(len(index.prints)),
               "index_mib": round(index.nbytes / 2**20, 1), "codes_s": round(coded_s, 1), "build_s": round(build_s, 1),
               "bytes_per_audio_second": round((len(song_of_print) * CODE_BANDS * F.CODE_BITS / 8
                                               + index.n_blocks * (8 + 16)) / len(song_of_print), 1)}
        index.probe_bits = args.probe_bits
        lengths = np.diff(index.starts)
        index.cap = args.max_list * lengths[lengths > 0].mean() if args.max_list else np.inf
        row["longest_list_over_mean"] = round(float(lengths.max() / lengths[lengths > 0].mean()), 1)
        row["postings_over_cap"] = round(float(lengths[lengths > index.cap].sum() / lengths.sum()), 4)
        for name, candidates in (("blocks", 0), ("blocks_then_offsets", args.candidates)):
            found, times = {"clean": 0, "degraded": 0}, []
            for r in range(2):  # the first round warms up
                for kind, i, prints_by_speed in clips:
                    t = time.perf_counter()
                    song = index.best(prints_by_speed, candidates)
                    if r:
                        times.append(time.perf_counter() - t)
                        found[kind] += int(song == i)
            row[name] = {"lookup": percentiles(times), "r1": {k: round(v / (len(clips) // 2), 3) for k, v in found.items()}}
        row["memory"] = memory()
        print(json.dumps(row), flush=True)
        results.append(row)
        del index
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
