"""Clip -> same track R@1 of the audio prints on a degradation set cut from real music, alone and among
distractor songs, side by side: the stored float prints (cosine); 128-bit codes of them (16 bytes: the
signs after a fixed random rotation, compared by Hamming distance); the float prints with the clip also
printed at the speeds of SPEED_FACTORS (the best-voted speed counts); and print codes in blocks (an
inverted index: `print_keys` of each song print, one sparse row of key counts per 10 s of a song, about
50 bytes a second; the clip probed with `probe_keys` at each speed; the block with the highest inner
product names the song -- computed here exactly as a sparse inner-product search returns it); and the
same codes in two stages (each speed's exact keys alone fetch 30 blocks, the probed queries rank them);
and the print route as crossgenre runs it: the stored codes in the store's posting lists
(store/print_index.py), the clip looked up as `find_clip` does (store/prints.py), found when its song has the most votes
and the engine's gate keeps it (search/ranking.py: `print_sources`).

    PYTHONPATH=. .venv/bin/python bench/print_robustness.py                    # ~3 min on 2 cores
    PYTHONPATH=. .venv/bin/python bench/print_robustness.py --distractors 200  # + 200 songs x 240 prints, ~10 min

The songs are the demo tracks of the PyPI package immich-memories-music (28 real tracks, ~30 s each).
From every track, 10 s clips start at 0 s (the intro), in the middle, and 10 s before the end (the
fade); each clip is heard clean and through each degradation on its own, and through all at once:
speed x1.05 and x0.95 (pitch moving with it, as resampling does), a 300-3400 Hz band-pass, a round
trip through mono 16 kHz, white noise at 10 dB SNR, a 24 kbit/s MP3 round trip. Songs are printed
as the indexer prints them (decoded at 16 kHz), clips as a search does (44.1 kHz WAV decoded at
16 kHz), and each clip print's nearest song print over all tracks votes, as the print route does:
the song with most votes (at least a fifth of the clip's prints) is the answer. The search is exact
(numpy), so this measures the prints, not an index. Distractor songs' prints are drawn like real ones:
from a Gaussian with the mean and covariance of the demo tracks' prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from math import gcd
from pathlib import Path

import numpy as np
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossgenre.demo import demo_tracks_dir  # noqa: E402
from encoders.fingerprint import (  # noqa: E402
    DIM, PROBE_BITS, SONG_HOP_STEPS, AudioPrinter, clip_probes, clip_speeds, print_keys, probe_keys, speed_variants, to_print_rate)
from search.ranking import print_sources  # noqa: E402
from store.print_index import PrintIndex  # noqa: E402
from scan import decode_audio  # noqa: E402
from search.degrade import apply  # noqa: E402

CLIP_SECONDS = 10.0
CONDITIONS = {
    "clean": {}, "speed x1.05": {"speed": 1.05}, "speed x0.95": {"speed": 0.95}, "band-pass": {"phone": True},
    "mono 16 kHz": "mono16k", "noise 10 dB": {"noise_snr": 10}, "MP3 24 kbit/s": {"bitrate": 24},
    "all at once": {"speed": 0.95, "phone": True, "noise_snr": 10, "bitrate": 24},
}


def resample(wave: np.ndarray, rate: int, to: int) -> np.ndarray:
    g = gcd(rate, to)
    return signal.resample_poly(wave, to // g, rate // g).astype(np.float32)


def clips(tracks: list[Path]):
    """(track index, condition, clip at 16 kHz) for every clip position and condition."""
    for i, path in enumerate(tracks):
        wave = decode_audio(path, 44100)
        seconds = len(wave) / 44100
        for start in (0.0, max(0.0, seconds / 2 - CLIP_SECONDS / 2), max(0.0, seconds - CLIP_SECONDS)):
            clip = wave[int(start * 44100): int((start + CLIP_SECONDS) * 44100)]
            for name, spec in CONDITIONS.items():
                if spec == "mono16k":
                    out = resample(resample(clip, 44100, 16000), 16000, 44100)
                else:
                    out = apply(clip, 44100, spec, seed=i)
                yield i, name, resample(out, 44100, 16000)


ROTATION = np.linalg.qr(np.random.RandomState(1).standard_normal((DIM, DIM)))[0].astype(np.float32)


def signs(prints: np.ndarray) -> np.ndarray:
    """The 128-bit codes of float prints as +-1 rows (their dot product is 128 - 2 x Hamming distance)."""
    return np.where(np.asarray(prints, np.float32) @ ROTATION > 0, 1.0, -1.0).astype(np.float32)


BLOCK_SECONDS = 10


class BlockIndex:
    """An inverted index of print keys: one block (row) per BLOCK_SECONDS of a song, holding key counts."""

    def __init__(self, songs: list[np.ndarray]):
        keys, rows, counts, self.song = [], [], [], []
        for k, prints in enumerate(songs):
            song_keys = print_keys(prints)
            for start in range(0, len(prints), BLOCK_SECONDS):
                u, c = np.unique(song_keys[start:start + BLOCK_SECONDS], return_counts=True)
                keys.append(u), rows.append(np.full(len(u), len(self.song))), counts.append(c)
                self.song.append(k)
        order = np.argsort(np.concatenate(keys), kind="stable")
        self.keys = np.concatenate(keys)[order]
        self.rows, self.counts = np.concatenate(rows)[order], np.concatenate(counts)[order]
        self.song = np.array(self.song)

    def scores(self, clip_prints: np.ndarray, probe_bits: int = PROBE_BITS) -> np.ndarray:
        """Each block's inner product with the clip's sparse query {probe key: summed weight}."""
        keys, weights = probe_keys(clip_prints, probe_bits)
        u, inv = np.unique(keys.ravel(), return_inverse=True)
        w = np.bincount(inv, weights.ravel())
        lo, hi = np.searchsorted(self.keys, u, "left"), np.searchsorted(self.keys, u, "right")
        at = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)] + [np.zeros(0, int)])
        return np.bincount(self.rows[at], np.repeat(w, hi - lo) * self.counts[at], minlength=len(self.song))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--distractors", type=int, default=0, help="songs of 240 prints drawn like real ones")
    args = ap.parse_args()
    printer = AudioPrinter()
    tracks = sorted(demo_tracks_dir().glob("*/*.opus"))
    songs = [printer.song_prints(to_print_rate(decode_audio(t, 16000), 16000))[0] for t in tracks]
    pool = np.concatenate(songs)
    fake = np.random.default_rng(0).multivariate_normal(pool.mean(0), np.cov(pool.T), size=args.distractors * 240)
    fake = (fake / np.linalg.norm(fake, axis=1, keepdims=True)).astype(np.float32).reshape(-1, DIM)
    owner = np.concatenate([np.full(len(s), k) for k, s in enumerate(songs)] + [np.full(len(fake), len(songs))])
    every = np.concatenate([pool, fake])
    stored = {"float prints (512 B)": every, "128-bit codes (16 B)": signs(every)}
    blocks = BlockIndex(songs + list(fake.reshape(-1, 240, DIM)))
    kinds = [*stored, "float prints, clip at 5 speeds", "print codes in 10 s blocks (~50 B), clip at 5 speeds",
             "print codes, two stages (exact keys fetch 30 blocks a speed)",
             "stored codes in posting lists (~25 B, the engine's print route)"]
    every_song = songs + list(fake.reshape(-1, 240, DIM))
    postings = PrintIndex(np.arange(len(every_song)), np.array([len(s) for s in every_song]),
                          np.concatenate([print_keys(s) for s in every_song]))
    hits = {kind: {} for kind in kinds}

    def votes(q: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        return np.bincount(owner[np.argmax(q @ matrix.T, axis=1)], minlength=len(tracks) + 1)[: len(tracks)]

    for i, cond, clip in clips(tracks):
        by_speed = [printer.clip_prints(w)[0] for w in speed_variants(to_print_rate(clip, 16000))]
        q = by_speed[0]
        queries = {"float prints (512 B)": q, "128-bit codes (16 B)": signs(q)}
        found = {}
        for kind, matrix in stored.items():
            v = votes(queries[kind], matrix)
            found[kind] = np.argmax(v) == i and v.max() >= 0.2 * len(q)
        v = max((votes(p, every) for p in by_speed), key=lambda v: v.max())  # the speed whose best song wins most
        found[kinds[2]] = np.argmax(v) == i and v.max() >= 0.2 * len(q)
        best = np.max([blocks.scores(p) for p in by_speed], axis=0)
        found[kinds[3]] = blocks.song[np.argmax(best)] == i
        # two stages, as bench/print_index.py --rerank 30: each speed's exact keys fetch its top 30 blocks
        fetched = np.unique(np.concatenate([np.argsort(-blocks.scores(p, 0))[:30] for p in by_speed]))
        found[kinds[4]] = blocks.song[fetched[np.argmax(best[fetched])]] == i
        speeds = clip_speeds(printer, to_print_rate(clip, 16000))
        kept = print_sources(postings.lookup(clip_probes(speeds, postings.probe_bits()), 20))  # as the engine keeps them
        found[kinds[5]] = bool(kept) and kept[0].song == i
        for kind in kinds:
            hits[kind].setdefault(cond, []).append(int(found[kind]))
    rows = {}
    for kind, by_cond in hits.items():
        degraded = [x for c, v in by_cond.items() if c != "clean" for x in v]
        rows[kind] = {**{c: round(float(np.mean(v)), 3) for c, v in by_cond.items()}, "degraded (all but clean)": round(float(np.mean(degraded)), 3)}
    n = len(hits[next(iter(hits))]["clean"])
    print(f"{len(tracks)} tracks + {args.distractors} distractor songs, {n} clips per condition; clip -> same track R@1")
    names = list(next(iter(rows.values())))
    print("| prints | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind, r in rows.items():
        print(f"| {kind} | " + " | ".join(f"{r[c]:.3f}" for c in names) + " |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
