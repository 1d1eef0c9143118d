"""Similar-song latency at scale: `SongSearch.similar` over N synthetic songs on Milvus Lite (the embedded default).

    .venv/bin/python bench/similar.py --sizes 10000 --db /tmp/similar-bench.db   # ~2 min to load, kept for later runs
    .venv/bin/python bench/similar.py --sizes 100000 --db /tmp/similar-bench.db  # grows the same file: ~15-30 min
    .venv/bin/python bench/similar.py --sizes 1000 --seeds 20                    # a quick look (a temporary file)

Stored side: the synthetic library of bench/queries.py (random unit vectors of the offline profile's real
dims per song: audio 200, joint 200, lyrics 384 for half the songs, cover 435 for 80 %, tags 50; `--windows`
audio windows and `--prints` prints a song), loaded 1k songs at a time into one Milvus Lite file with
VectorStore's collections (each song's windows also into the copy beside the file, store/window_copies.py,
as the indexer writes them). Nothing is encoded at query time, so no model runs. Real density is 40 windows
a song (the offline profile's cap); prints are kept at 2 a song (real songs store one a second), since
random vectors never reach the near-duplicate check that reads them. `--db FILE` keeps the loaded file:
a later run with the same setup loads only the songs it lacks.

Measured per size, taking turns seed by seed (so a change in the shared machine's load falls on all alike):
  similar        SongSearch.similar(seed, k=10): the full answer, explanations (segments) included
  routes only    the same without the segment explanations (explain=False)
  one route      VectorStore.search("audio", vector, 10): one Milvus search, the floor under any query
  options        similar with max 1 per artist and album, seed's album excluded, a year range
The similar / one-route ratio is the figure that holds across machines. Random vectors make no song a
near-duplicate candidate, so the print comparison (which runs only for candidates whose sound is almost
the seed's) costs nothing here; on a real library it reads the prints of those few songs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from queries import SyntheticLibrary, copy_windows, has_window_copies, load_block  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="library sizes (songs), ascending, multiples of 1000")
    parser.add_argument("--seeds", type=int, default=40, help="seed songs timed at each size")
    parser.add_argument("--windows", type=int, default=40, help="audio windows stored per song")
    parser.add_argument("--prints", type=int, default=2, help="audio prints stored per song")
    parser.add_argument("--chunks", type=int, default=3, help="lyric chunks per song with lyrics")
    parser.add_argument("--workdir", type=Path, help="where the Milvus Lite file goes (default: a temporary folder)")
    parser.add_argument("--db", type=Path, help="a Milvus Lite file kept between runs (songs already in it are not loaded again)")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if any(s % SyntheticLibrary.BLOCK for s in sizes):
        parser.error("sizes must be multiples of 1000")

    from encoders.device import hub_offline

    hub_offline()
    from encoders.profile import load_profile
    from search.similar import SongOptions, SongSearch
    from store import VectorStore

    started = time.perf_counter()
    info = {"date": report.now(), "command": report.command("similar.py", argv), "machine_before": report.machine()}
    results, path = [], None
    with tempfile.TemporaryDirectory(prefix="crossgenre-similar-", dir=args.workdir) as tmp:
        profile = load_profile("offline", Path(tmp) / "models")
        fields = profile.vector_fields
        store = VectorStore(str(args.db or Path(tmp) / "bench.db"), prefix="bench")
        store.open(fields)
        setup = {"windows": args.windows, "prints": args.prints, "chunks": args.chunks}
        if store.read_meta("bench_setup", setup) != setup:
            parser.error(f"{args.db} holds songs of another setup: {store.read_meta('bench_setup')}")
        store.write_meta("bench_setup", setup)
        lib = SyntheticLibrary(fields, args.windows, args.chunks, args.prints, profile.printer.dim)
        songs = SongSearch(store)
        have = store.count()
        if have % lib.BLOCK or have > sizes[0]:
            parser.error(f"{args.db} holds {have} songs: give sizes from {have} up (whole thousands)")
        missing = [b for b in range(have // lib.BLOCK) if not has_window_copies(store, lib, b)]
        if missing:  # a file loaded before the windows were copied beside it
            print(f"copying the windows of {len(missing) * lib.BLOCK} songs beside the index...", flush=True)
            for b in missing:
                copy_windows(store, lib, b, lib.block(b))
        for size in sizes:
            t0 = time.perf_counter()
            for b in range(have // lib.BLOCK, size // lib.BLOCK):
                load_block(store, lib, b)
            store.flush()
            have = size
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.song_matrix(wait=True)
            copy_s = time.perf_counter() - t0
            print(f"N={size}: loaded (the songs the file lacked) in {load_s:.1f} s; song vectors in memory in "
                  f"{copy_s:.1f} s; measuring...", flush=True)
            rng = np.random.default_rng(size)
            seeds = [lib.song_id(int(i)) for i in rng.choice(size, args.seeds, replace=False)]
            audio = store.get_songs(seeds, ["id", "audio"])
            diverse = SongOptions(k=10, max_per_artist=1, max_per_album=1, exclude_seed_album=True,
                                  year_min=1980, year_max=2020)
            kinds = {
                "similar": lambda s: songs.similar(s),
                "routes_only": lambda s: songs.similar(s, explain=False),
                "one_route": lambda s: store.search("audio", audio[s]["audio"], 10),
                "options": lambda s: songs.similar(s, diverse),
                "similar_milvus": lambda s: _without_copy(store, songs.similar, s),
                "one_route_milvus": lambda s: _without_copy(store, store.search, "audio", audio[s]["audio"], 10),
            }
            for s in seeds[:3]:  # warm-up: Milvus loads segments, the calibration samples are drawn
                for run in kinds.values():
                    run(s)
            times = {k: [] for k in kinds}
            broken = 0
            for s in seeds:
                for kind, run in kinds.items():
                    t = time.perf_counter()
                    out = run(s)
                    times[kind].append(time.perf_counter() - t)
                    if kind == "options":
                        broken += _breaks(store, out, s)
            row = {"songs": size, "windows": size * args.windows, "prints": size * args.prints,
                   "load_s": round(load_s, 1), "song_copy_s": round(copy_s, 1), **{k: report.percentiles(v) for k, v in times.items()},
                   "options_lists_breaking_them": broken, "memory": report.memory(),
                   "loadavg_1m": report.machine()["loadavg_1m"]}
            row["similar_over_one_route_p50"] = round(row["similar"]["p50_ms"] / row["one_route"]["p50_ms"], 2)
            row["milvus_over_copy_p50"] = round(row["similar_milvus"]["p50_ms"] / row["similar"]["p50_ms"], 2)
            results.append(row)
            print("  " + ", ".join(f"{k} p50 {row[k]['p50_ms']:.1f} ms (p95 {row[k]['p95_ms']:.1f})" for k in kinds)
                  + f"; similar / one route {row['similar_over_one_route_p50']}; lists breaking options: {broken}; "
                  f"with every song search on Milvus / on the copy {row['milvus_over_copy_p50']}; "
                  f"RSS Python {row['memory']['python_rss_mib']} MiB, Milvus {row['memory']['milvus_rss_mib']} MiB; load {row['loadavg_1m']}", flush=True)
            out = {**info, "setup": {"windows_per_song": args.windows, "prints_per_song": args.prints,
                                     "chunks_per_song_with_lyrics": args.chunks, "seeds": args.seeds, "fields": fields,
                                     "backend": "Milvus Lite (FLAT)"},
                   "sizes": results, "machine_after": report.machine(), "total_s": round(time.perf_counter() - started, 1)}
            path = report.write("similar", out, args.out, path)
        store.close()
    last = results[-1]
    p50 = last["similar"]["p50_ms"]
    print(f"goal similar p50 <= 30 ms at {last['songs']} songs: {'met' if p50 <= 30 else 'not met'} ({p50} ms)")
    print(f"wrote {path}")
    return out


def _without_copy(store, run, *args):
    """`run` with every song search sent to Milvus, not to the copy of the song vectors in memory."""
    store.use_song_copy = False
    try:
        return run(*args)
    finally:
        store.use_song_copy = True


def _breaks(store, hits, seed) -> int:
    """1 when a list breaks its options (two songs of one artist or album, the seed's album, a year outside)."""
    rows = store.get_songs([h.id for h in hits] + [seed], ["id", "artist", "album", "year"])
    artists = [rows[h.id]["artist"] for h in hits]
    albums = [rows[h.id]["album"] for h in hits]
    bad = (len(set(artists)) < len(artists) or len(set(albums)) < len(albums) or rows[seed]["album"] in albums
           or any(not 1980 <= rows[h.id]["year"] <= 2020 for h in hits))
    return int(bad)


if __name__ == "__main__":
    main()
