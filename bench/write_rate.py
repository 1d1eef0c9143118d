"""Insert rate of the indexer's writes as the library grows: VectorStore.write_songs in batches of 16 new
songs at real density (40 audio windows, which Milvus Lite stores as 10 pooled rows; 240 prints stored as
codes in 24 rows of 10; lyric chunks for a third of the songs), timed per batch; the rate (rows written a
second) in the last tenth of the load against the first tenth.

    PYTHONPATH=. nice .venv/bin/python bench/write_rate.py --songs 2000            # Milvus Lite, ~5 min
    PYTHONPATH=/path/to/other/checkout python bench/write_rate.py ...              # the same load, other code

Vectors are random (the write path does not depend on them), of the offline profile's dims.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

# this folder first on the path would make bench/encoders.py the `encoders` package the store imports;
# the code measured is the one PYTHONPATH names
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from store import SongRecord, VectorStore  # noqa: E402
from store.schema import BLOCK_PRINTS  # noqa: E402
from store.writes import pooled_windows  # noqa: E402

FIELDS = {"audio": 200, "lyrics": 384, "cover": 64, "joint": 200, "tags": 50}
PRINT_DIM = 128
WINDOWS, PRINTS, CHUNKS, BATCH = 40, 240, 8, 16
PRINT_ROWS = -(-PRINTS // BLOCK_PRINTS)  # print rows a song: its codes, BLOCK_PRINTS prints a row


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def record(i: int, rng) -> SongRecord:
    sid = f"{i:016x}"
    lyrics = i % 3 == 0
    row = {"id": sid, "path": f"/music/{sid}.flac", "content_hash": sid, "mtime": 0.0, "size": 0, "title": sid,
           "artist": f"Artist {i % 500}", "album": "", "album_artist": "", "genre": "Rock", "genre_source": "tag",
           "raw_genre": "", "year": 2000, "track_number": 1, "duration": 240.0, "musicbrainz_track_id": "",
           "musicbrainz_album_id": "", "musicbrainz_artist_id": "", "has_lyrics": lyrics, "has_cover": True,
           "lyrics_source": "", "cover_source": "", "profile": "offline", "fusion_version": "none", "extra": {}}
    row.update({f: unit(rng, 1, d)[0] for f, d in FIELDS.items()})
    starts = np.arange(WINDOWS) * 6.0
    return SongRecord(row, starts, starts + 3.0, unit(rng, WINDOWS, FIELDS["audio"]),
                      [f"line {n}" for n in range(CHUNKS)] if lyrics else [], unit(rng, CHUNKS, FIELDS["lyrics"]) if lyrics else None,
                      np.arange(PRINTS, dtype=np.float64), unit(rng, PRINTS, PRINT_DIM))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, default=2000)
    args = ap.parse_args()
    store = VectorStore(str(Path(tempfile.mkdtemp(prefix="write-rate-")) / "index.db"), prefix="w" + uuid.uuid4().hex[:6])
    store.open(FIELDS)
    rng = np.random.default_rng(0)
    none = np.zeros(WINDOWS)  # the window rows a song gets in Milvus (Milvus Lite pools them, store/writes.py)
    window_rows = len(pooled_windows(none, none, np.zeros((WINDOWS, 1)), store.searched_windows)[2])
    rates, loads = [], []
    log_every = max(1, args.songs // BATCH // 20)
    for start in range(0, args.songs, BATCH):
        batch = [record(i, rng) for i in range(start, min(args.songs, start + BATCH))]
        rows = sum(window_rows + PRINT_ROWS + (CHUNKS if r.row["has_lyrics"] else 0) + 1 for r in batch)
        t = time.perf_counter()
        store.write_songs(batch)
        rates.append(rows / (time.perf_counter() - t))
        loads.append(os.getloadavg()[0])
        if len(rates) % log_every == 0:
            print(f"{start + len(batch)} songs: {rates[-1]:.0f} rows/s, load {loads[-1]:.1f}", flush=True)
    tenth = max(1, len(rates) // 10)
    first, last = float(np.mean(rates[:tenth])), float(np.mean(rates[-tenth:]))
    print(json.dumps({"songs": args.songs, "rows_per_s_first_tenth": round(first), "rows_per_s_last_tenth": round(last),
                      "last_over_first": round(last / first, 2),
                      "load_first_tenth": round(float(np.mean(loads[:tenth])), 2),
                      "load_last_tenth": round(float(np.mean(loads[-tenth:])), 2)}))
    store.drop()
    store.close()


if __name__ == "__main__":
    main()
