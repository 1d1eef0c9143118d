"""Print codes in the posting lists that the store builds (store/print_index.py), at real density: build
time, memory, the time to save the lists and load them again (as the next process beside a Lite index
does; the file is then in the page cache), lookup p50/p95 per clip, and whether the lookup finds the
clip's song and where in it the clip sits, among 1k-100k songs of 240 prints.

    PYTHONPATH=. .venv/bin/python bench/print_postings.py --songs 1000 10000 100000

Library: the 28 demo tracks (their real prints) plus synthetic songs of 240 prints drawn like real ones
(a Gaussian with the demo prints' mean and covariance). Queries: 10 s clips cut at random from the demo
tracks (`--seed` picks where; seed 0 is the set the lookup's constants were chosen on, so report another),
clean, and through every degradation at once (speed x0.95 with pitch, 300-3400 Hz band-pass, 10 dB white
noise, 24 kbit/s MP3). A clip is looked up as the store does (store/prints.py: `find_clip`), probes and all.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import memory, percentiles  # noqa: E402
from crossgenre.demo import demo_tracks_dir  # noqa: E402
from encoders.fingerprint import DIM, TIME_SCALE, AudioPrinter, clip_probes, clip_speeds, print_keys, to_print_rate  # noqa: E402
from scan import decode_audio  # noqa: E402
from search.degrade import apply  # noqa: E402
from search.ranking import print_sources  # noqa: E402
from store.print_index import PrintIndex  # noqa: E402

PRINTS_PER_SONG = 240
CLIP_SECONDS = 10.0
CHUNK_SONGS = 2000  # synthetic songs drawn and coded at a time
DEGRADED = {"speed": 0.95, "phone": True, "noise_snr": 10, "bitrate": 24}
STORED_BYTES_PER_SECOND = (8 + 8 + 200 + 8 + 8 + 16) / 10  # a print row (store/schema.py) holds 10 s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, nargs="+", default=[1000, 10000, 100000], help="synthetic songs beside the 28 real ones")
    ap.add_argument("--clips", type=int, default=56, help="clips of each kind (clean, degraded)")
    ap.add_argument("--seed", type=int, default=1, help="where the clips are cut (0: the set the constants were chosen on)")
    ap.add_argument("--out", default="bench/results/print_postings.json")
    args = ap.parse_args()

    printer = AudioPrinter()
    tracks = sorted(demo_tracks_dir().glob("*/*.opus"))
    waves = [decode_audio(t, 16000) for t in tracks]
    real = [printer.song_prints(to_print_rate(w, 16000))[0] for w in waves]
    pool = np.concatenate(real)
    mean, chol = pool.mean(0), np.linalg.cholesky(np.cov(pool.T) + 1e-9 * np.eye(DIM))
    rng = np.random.default_rng(args.seed)
    clips = []
    for c in range(args.clips):
        i = c % len(tracks)
        start = rng.uniform(0, max(0.0, len(waves[i]) / 16000 - CLIP_SECONDS))
        clip = waves[i][int(start * 16000): int((start + CLIP_SECONDS) * 16000)]
        for kind, how in (("clean", None), ("degraded", DEGRADED)):
            wave = clip if how is None else apply(clip, 16000, how, seed=c)
            clips.append((kind, i, start, clip_speeds(printer, to_print_rate(wave, 16000))))

    results = []
    for n_songs in args.songs:
        t0 = time.perf_counter()
        keys, counts = [print_keys(p).astype(np.int32) for p in real], [len(p) for p in real]  # song i is track i
        gen = np.random.default_rng(1)
        for first in range(0, n_songs, CHUNK_SONGS):
            m = min(CHUNK_SONGS, n_songs - first)
            prints = mean + gen.standard_normal((m * PRINTS_PER_SONG, DIM), np.float32) @ chol.T.astype(np.float32)
            prints /= np.linalg.norm(prints, axis=1, keepdims=True)
            keys.append(print_keys(prints).astype(np.int32))
            counts += [PRINTS_PER_SONG] * m
        coded_s = time.perf_counter() - t0
        keys = np.concatenate(keys)
        t1 = time.perf_counter()
        index = PrintIndex(np.arange(len(counts)), np.asarray(counts), keys)
        build_s = time.perf_counter() - t1
        del keys
        with tempfile.TemporaryDirectory() as tmp:  # as a Lite index's lists are saved for the next process
            saved = Path(tmp) / "lists.npz"
            t2 = time.perf_counter()
            index.save(saved, "bench", [f"song{s}" for s in range(len(counts))])
            save_s, t3 = time.perf_counter() - t2, time.perf_counter()
            PrintIndex.load(saved)
            load_s, saved_mib = time.perf_counter() - t3, saved.stat().st_size / 2**20
        row = {"songs": len(counts), "prints": index.prints, "postings": int(len(index.posted)),
               "index_mib": round(index.nbytes / 2**20, 1), "codes_s": round(coded_s, 1), "build_s": round(build_s, 1),
               "saved_mib": round(saved_mib, 1), "save_s": round(save_s, 1), "load_s": round(load_s, 1),
               "stored_bytes_per_audio_second": STORED_BYTES_PER_SECOND}
        found, counted, offsets, times = {"clean": 0, "degraded": 0}, {"clean": 0, "degraded": 0}, [], []
        chance = []  # the best votes of a song that is not the clip's
        row["probe_bits"] = index.probe_bits()
        for r in range(2):  # the first round warms up
            for kind, i, start, speeds in clips:
                t = time.perf_counter()
                matches = index.lookup(clip_probes(speeds, row["probe_bits"]), 20)
                if r:
                    times.append(time.perf_counter() - t)
                    top = matches[0] if matches else None
                    found[kind] += int(top is not None and top.song == i)
                    kept = print_sources(matches)  # what the engine's print route keeps
                    counted[kind] += int(bool(kept) and kept[0].song == i)
                    if top is not None and top.song == i and kind == "clean":
                        offsets.append(abs(top.offset * TIME_SCALE - start))
                    chance.append(max([m.votes for m in matches if m.song != i], default=0.0))
        n = len(clips) // 2
        row["lookup_ms"] = percentiles(times)
        row["r1"] = {k: round(v / n, 3) for k, v in found.items()}
        row["r1_kept"] = {k: round(v / n, 3) for k, v in counted.items()}
        row["clean_offset_error_s"] = {"p50": round(float(np.median(offsets)), 2), "max": round(float(np.max(offsets)), 2)} if offsets else None
        row["chance_votes"] = {"p50": round(float(np.median(chance)), 1), "p95": round(float(np.percentile(chance, 95)), 1),
                               "max": round(float(np.max(chance)), 1)}
        row["memory"] = memory()
        print(json.dumps(row), flush=True)
        results.append(row)
        del index
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
