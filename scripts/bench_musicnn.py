"""Time MusicnnEncoder on a 4-minute song (immich-memories-music tracks joined) on this CPU.

Prints windows per second and seconds per song, wall clock and process CPU time, for full coverage, for
the offline profile's sampling without and with its second tagger (MTT_musicnn on 10 of the 40 windows),
with the 1-minute load average so a busy machine shows.

    .venv/bin/python scripts/bench_musicnn.py [--threads 2] [--batch-size 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SONG_SECONDS = 240


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    import immich_memories_music
    import torch
    from check_musicnn_port import decode_16k_mono

    from encoders.musicnn import build

    torch.set_num_threads(args.threads)
    paths = sorted(immich_memories_music.tracks_dir().glob("*/*.opus"))
    song = np.concatenate([decode_16k_mono(p) for p in paths[:9]])[: SONG_SECONDS * 16000]
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for max_windows, also in ((None, None), (40, None), (40, "MTT_musicnn")):
        enc = build({"model": "MSD_musicnn", "max_windows": max_windows, "batch_size": args.batch_size, "also": also,
                     "also_windows": 10}, Path("."))
        enc.embed_song(song[: 10 * 16000])  # warm-up: oneDNN picks its kernels on the first call
        runs = []
        for _ in range(args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            n = len(enc.embed_song(song).windows)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = min(runs)
        label = enc.window_policy + (" + MTT on 10" if also else "")
        print(f"{label:>24s}: {n} windows, {wall:.2f} s wall ({n / wall:.1f} windows/s), {cpu:.2f} s CPU "
              f"({n / cpu:.1f} windows per CPU-second) per {SONG_SECONDS} s song")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
