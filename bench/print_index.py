"""Print codes in an inverted index at real density on Milvus Lite: bytes stored per second of audio,
insert rate, lookup p50/p95 per clip, memory, and whether the lookup finds the clip's song.

    PYTHONPATH=. nice .venv/bin/python bench/print_index.py --songs 1000 10000

A song's float prints (one a second) become CODE_BANDS keys each (encoders/fingerprint.py:
`print_keys`); every BLOCK_SECONDS of a song is one row whose SPARSE_FLOAT_VECTOR holds, for each key
of the block, how often it occurs there, in a SPARSE_INVERTED_INDEX. A clip is printed at the speeds of
SPEED_FACTORS; each set of clip prints gives one sparse query (the probes of `probe_keys`, weights
summed per key) and the inner product of a query and a block is then the weighted count of codes they
share; the block with the highest product over the speeds names the song. The library is the 28 demo
tracks (real prints) plus synthetic songs of 240 prints drawn like real ones (a Gaussian with the demo
prints' mean and covariance); the queries are 10 s clips of demo tracks through all degradations at once
(speed x0.95 with pitch, 300-3400 Hz band-pass, 10 dB white noise, 24 kbit/s MP3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import memory, percentiles  # noqa: E402
from crossgenre.demo import demo_tracks_dir  # noqa: E402
from encoders.fingerprint import (  # noqa: E402
    CODE_BANDS, CODE_BITS, DIM, PROBE_BITS, AudioPrinter, print_keys, probe_keys, speed_variants, to_print_rate)
from scan import decode_audio  # noqa: E402
from search.degrade import apply  # noqa: E402

BLOCK_SECONDS = 10
PRINTS_PER_SONG = 240
MILVUS_ROW_BYTES = 16  # Milvus's own row id and timestamp
CLIP_SECONDS = 10.0


def block_rows(first_id: int, keys: np.ndarray) -> list[dict]:
    """Rows of one song's keys (n, bands): one a BLOCK_SECONDS block, {key: count} as a sparse vector."""
    rows = []
    for b, start in enumerate(range(0, len(keys), BLOCK_SECONDS)):
        u, c = np.unique(keys[start:start + BLOCK_SECONDS].ravel(), return_counts=True)
        rows.append({"id": first_id + b, "vector": {int(k): float(n) for k, n in zip(u, c)}})
    return rows


def query_vectors(prints_by_speed: list[np.ndarray], probe_bits: int, split: bool = False) -> list[dict]:
    """One sparse query a speed: {key: summed probe weight}, keys ascending (Milvus Lite's sparse search
    slows down several times on unsorted queries); with `split`, one a speed and code band."""
    out = []
    for prints in prints_by_speed:
        keys, weights = probe_keys(prints, probe_bits)
        u, inv = np.unique(keys.ravel(), return_inverse=True)
        w = np.bincount(inv, weights.ravel())
        bands = (u >> CODE_BITS) if split else np.zeros(len(u), int)
        out += [{int(k): float(x) for k, x in zip(u[bands == b], w[bands == b])} for b in np.unique(bands)]
    return out


def best_block(found: list[list[dict]], split: bool) -> int:
    """The block id with the highest product: over the speeds, or, for split queries, summed over a
    speed's band queries (a block missing from a band's top hits adds nothing there)."""
    if not split:
        return max((h for hs in found for h in hs), key=lambda h: h["distance"])["id"]
    totals: dict[tuple[int, int], float] = {}
    for n, hits in enumerate(found):
        for h in hits:
            key = (n // CODE_BANDS, h["id"])
            totals[key] = totals.get(key, 0.0) + h["distance"]
    return max(totals, key=totals.get)[1]


def reranked(client, prints_by_speed: list[np.ndarray], probe_bits: int, candidates: int, params: dict) -> int:
    """Two stages: the exact keys of each speed (short queries) fetch `candidates` blocks each; the probed
    queries are then scored against those blocks' stored vectors."""
    found = client.search("prints", data=query_vectors(prints_by_speed, 0), anns_field="vector",
                          limit=candidates, search_params=params)
    ids = sorted({h["id"] for hits in found for h in hits})
    blocks = {row["id"]: row["vector"] for row in client.get("prints", ids=ids, output_fields=["vector"])}
    best, best_id = -1.0, ids[0]
    for query in query_vectors(prints_by_speed, probe_bits):
        for block_id, vector in blocks.items():
            score = sum(w * vector.get(k, 0.0) for k, w in query.items()) if len(query) < len(vector) else \
                sum(c * query.get(k, 0.0) for k, c in vector.items())
            if score > best:
                best, best_id = score, block_id
    return best_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, nargs="+", default=[1000, 10000], help="library sizes (synthetic songs)")
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3, help="times each clip is looked up")
    ap.add_argument("--probe-bits", type=int, default=PROBE_BITS, help="uncertain bits a query probes, per band")
    ap.add_argument("--clip-hop", type=float, default=0.125, choices=(0.125, 0.25),
                    help="seconds between the clip prints looked up (0.125: all that clip_prints gives)")
    ap.add_argument("--split-bands", action="store_true", help="one query a speed and band (shorter queries)")
    ap.add_argument("--limit", type=int, default=5, help="blocks returned a query")
    ap.add_argument("--rerank", type=int, default=0,
                    help="two stages: each speed's exact keys alone (no probes) fetch this many blocks, then the "
                         "probed queries are scored against those blocks here")
    ap.add_argument("--out", default="bench/results/print_index.json")
    args = ap.parse_args()
    from pymilvus import DataType, MilvusClient

    printer = AudioPrinter()
    tracks = sorted(demo_tracks_dir().glob("*/*.opus"))
    real = [printer.song_prints(to_print_rate(decode_audio(t, 16000), 16000))[0] for t in tracks]
    pool = np.concatenate(real)
    mean, chol = pool.mean(0), np.linalg.cholesky(np.cov(pool.T) + 1e-9 * np.eye(DIM))
    rng = np.random.default_rng(0)
    clips = []
    for c in range(args.clips):
        i = c % len(tracks)
        wave = decode_audio(tracks[i], 16000)
        start = rng.uniform(0, max(0.0, len(wave) / 16000 - CLIP_SECONDS))
        clip = wave[int(start * 16000): int((start + CLIP_SECONDS) * 16000)]
        clip = apply(clip, 16000, {"speed": 0.95, "phone": True, "noise_snr": 10, "bitrate": 24}, seed=c)
        by_speed = [printer.clip_prints(w)[0] for w in speed_variants(to_print_rate(clip, 16000))]
        if args.clip_hop == 0.25:  # clip_prints gives those every 0.25 s first, then those half a step later
            by_speed = [p[: (len(p) + 1) // 2] for p in by_speed]
        clips.append((i, by_speed))

    results = []
    for n_songs in args.songs:
        with tempfile.TemporaryDirectory() as tmp:
            client = MilvusClient(str(Path(tmp) / "prints.db"))
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
            index = client.prepare_index_params()
            index.add_index("vector", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
            client.create_collection("prints", schema=schema, index_params=index)
            t0, nnz, rows_n, batch = time.perf_counter(), 0, 0, []
            songs_total = len(real) + n_songs
            for s in range(songs_total):
                prints = real[s] if s < len(real) else (
                    mean + rng.standard_normal((PRINTS_PER_SONG, DIM)) @ chol.T).astype(np.float32)
                batch += block_rows(s << 15, print_keys(prints / np.linalg.norm(prints, axis=1, keepdims=True)))
                if len(batch) >= 2000 or s == songs_total - 1:
                    client.insert("prints", batch)
                    nnz += sum(len(r["vector"]) for r in batch)
                    rows_n += len(batch)
                    batch = []
            client.flush("prints")
            insert_s = time.perf_counter() - t0
            seconds = sum(len(r) for r in real) + n_songs * PRINTS_PER_SONG
            stored = nnz * 8 + rows_n * (8 + MILVUS_ROW_BYTES)  # (uint32 index, float32 value) + key + Milvus's own
            params = {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}
            times, search_times, hits = [], [], 0
            for r in range(args.rounds + 1):
                for i, prints_by_speed in clips:
                    t = time.perf_counter()
                    if args.rerank:
                        t_search = time.perf_counter()
                        best = reranked(client, prints_by_speed, args.probe_bits, args.rerank, params)
                    else:
                        queries = query_vectors(prints_by_speed, args.probe_bits, args.split_bands)
                        t_search = time.perf_counter()
                        found = client.search("prints", data=queries, anns_field="vector", limit=args.limit,
                                              search_params=params)
                        best = best_block(found, args.split_bands)
                    if r:  # the first round warms the index up
                        times.append(time.perf_counter() - t)
                        search_times.append(time.perf_counter() - t_search)
                        hits += int(best >> 15) == i
            row = {"songs": songs_total, "rows": rows_n, "nonzeros_per_row": round(nnz / rows_n, 1),
                   "bytes_per_audio_second": round(stored / seconds, 1), "insert_s": round(insert_s, 1),
                   "songs_per_s": round(songs_total / insert_s, 1), "lookup": percentiles(times),
                   "of_which_milvus_search": percentiles(search_times),
                   "query_nonzeros": round(float(np.mean([len(q) for _, p in clips for q in query_vectors(p, args.probe_bits, args.split_bands)]))),
                   "found": f"{hits}/{len(times)}", "memory": memory(), "loadavg_1m": os.getloadavg()[0]}
            client.close()
        print(json.dumps(row), flush=True)
        results.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
