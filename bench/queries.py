"""Query latency at scale: text, clip and image searches over N songs, and Milvus against exact search.

    .venv/bin/python bench/queries.py --threads 1                      # N = 1k, 10k, 100k: ~5 min on a quiet
                                                                       # 2-core machine, ~15 when shared
    .venv/bin/python bench/queries.py --sizes 1000,10000 --threads 1,2 # ~3 min: 1 vs 2 torch threads

Query side: the real offline profile (musicnn, MiniLM, the tag bridge, the cover descriptor), loaded by
`load_profile("offline", ...)`, and the real SearchEngine: text prompts, 10 s WAV clips cut from the demo
tracks, and phone photos of the demo covers. Stored side: synthetic songs, random unit vectors of the
profile's real dims (tags: non-negative, as probabilities are), `--windows` audio windows and
`--prints` audio prints per song (random unit vectors, stored as their codes in rows of 10 prints, as
VectorStore.write_songs stores them), and `--chunks` lyric chunks per song with lyrics, written into a
Milvus Lite file with VectorStore's schema and collections. The library grows 1k -> 10k -> 100k in one
file, and each size is measured in turn:

  end-to-end   SearchEngine.search(Query(k=10)) per query type: p50/p95/p99 (encoding included), and the
               encoding alone (engine.plan), so the Milvus share can be read off; then the same queries
               with every song search sent to Milvus instead of the copy of the song vectors a Lite store
               keeps in memory (store/song_vectors.py).
  one route    Milvus's search of one field (VectorStore.search(field, vector, 10) with the copy off) against
               an exact numpy search (matrix @ vector, top 10) over the same vectors: latency of each and
               recall@10 of Milvus vs exact.
  windows      VectorStore.search_windows(vector, 240): the clip query's window search.
  prints       VectorStore.find_clip(clip probes, 1): the clip query's print lookup in the posting lists
               (~65 prints a 10 s clip, at each of its 5 speeds); the lists are built once per size before any
               query (VectorStore.print_index), and that build is timed apart.
  write        one indexer batch (VectorStore.write_songs, 16 songs) into the grown index, and deleting it.
  store calls  mean ms each query type spends in each VectorStore call during its end-to-end search.
  memory       RSS of this Python process and of the Milvus Lite server (its child process).

Real songs have more parts than the defaults: musicnn covers a 4-minute song with 80 windows (40 with
the offline profile's max_windows) and the printer stores one print a second (240). FLAT search cost
grows linearly with the rows searched, so window search times scale up by that ratio; a print lookup
costs the postings its clip's keys gather, which grow with the prints stored (and the build of the
posting lists with them too).
`--milvus-uri` points the same run at a Milvus server (HNSW indexes, waited for before measuring;
`--milvus-uri embedded` starts the `milvus` package's standalone server for the run);
bench/server_hnsw.py measures a million songs on one.
The stored vectors are random, so they say nothing of result quality; Milvus Lite searches FLAT
(exact) indexes, so its cost does not depend on the vectors' distribution either. The print codes of
random vectors spread evenly over the keys, where real songs' codes crowd some keys, so the print
lookup here is a floor. A fusion is fitted on the first 1,000 synthetic songs so that text and image
queries take their joint routes, as in a real index. Query types take turns, so a change in the shared machine's load falls on all alike.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)
from store.schema import PRINT_CODES_LENGTH, part_key, song_key  # noqa: E402

TEXTS = [
    "calm acoustic guitar", "upbeat electronic dance", "gentle piano for a rainy evening", "energetic drums",
    "nostalgic warm melody", "happy summer song", "tender and quiet", "driving synth bass",
    "dreamy ambient pads", "sad strings", "loud distorted guitars", "soft female vocals", "smooth jazz saxophone",
    "hip hop beat with heavy bass", "country song about a small town", "epic orchestral soundtrack",
]
WINDOW_SECONDS = 3.0
INSERT_ROWS_BYTES = 1_600_000  # Milvus Lite inserts cost superlinearly past a few MB a request: stay under
WRITE_BATCH = 16  # songs per indexer batch (Config.batch_size)
REPEATS = 3  # timings per query vector in the one-route comparison


# ---------------------------------------------------------------- synthetic library


def unit_rows(rng: np.random.Generator, n: int, dim: int, positive: bool = False) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    if positive:
        x = np.abs(x)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def song_scalars(i: int, genre: str, year: int, has_lyrics: bool, has_cover: bool) -> dict:
    """The scalar fields of synthetic song i's row in VectorStore's songs schema (vectors not included)."""
    from store.schema import SCALAR_DEFAULTS, SONG_SCALARS

    sid = SyntheticLibrary.song_id(i)
    unknown = {k: SCALAR_DEFAULTS[t] for k, (t, _) in SONG_SCALARS.items() if t in SCALAR_DEFAULTS}  # descriptors
    return {
        **unknown, "id": sid, "path": f"/music/synthetic/{sid}.flac", "content_hash": sid * 2, "mtime": 0.0, "size": 0,
        "title": f"Song {i}", "artist": f"Artist {i % 5000}", "album": f"Album {i % 20000}", "album_artist": "",
        "genre": genre, "genre_source": "tag", "raw_genre": "", "year": year, "track_number": 1 + i % 12,
        "duration": 240.0, "musicbrainz_track_id": "", "musicbrainz_album_id": "", "musicbrainz_artist_id": "",
        "has_lyrics": has_lyrics, "has_cover": has_cover, "lyrics_source": "embedded" if has_lyrics else "",
        "cover_source": "folder", "profile": "offline", "fusion_version": "synthetic",
        "extra": {"window_policy": "synthetic"}, "key": song_key(sid),
    }


class SyntheticLibrary:
    """Songs start..stop of a reproducible synthetic library: rows for Milvus and the same vectors for numpy.

    Song i's vectors depend only on (seed, block of i), so the 10k library holds the 1k one.
    """

    BLOCK = 1000

    def __init__(self, fields: dict[str, int], windows: int, chunks: int, prints: int, print_dim: int, seed: int = 0):
        self.fields, self.windows, self.chunks, self.seed = dict(fields), windows, chunks, seed
        self.prints, self.print_dim = prints, print_dim
        from scan.genres import GENRES

        self.genres = list(GENRES)

    def block(self, b: int) -> dict:
        """Block b (songs b*1000 .. b*1000+999): song vectors, flags, window and chunk vectors."""
        n = self.BLOCK
        rng = np.random.default_rng([self.seed, b])
        out = {k: unit_rows(rng, n, d, positive=(k == "tags")) for k, d in self.fields.items()}
        out["has_lyrics"] = rng.random(n) < 0.5
        out["has_cover"] = rng.random(n) < 0.8
        out["lyrics"][~out["has_lyrics"]] = 0.0  # the indexer stores zero vectors for what a song lacks
        out["cover"][~out["has_cover"]] = 0.0
        out["genre"] = rng.integers(0, len(self.genres), n)
        out["year"] = rng.integers(1960, 2025, n)
        out["window_vectors"] = unit_rows(rng, n * self.windows, self.fields["audio"])
        out["chunk_vectors"] = unit_rows(rng, n * self.chunks, self.fields["lyrics"])
        out["print_vectors"] = unit_rows(rng, n * self.prints, self.print_dim)
        return out

    @staticmethod
    def song_id(i: int) -> str:
        return f"{i:016x}"

    def rows(self, b: int, data: dict, searched_windows: int | None = None) -> dict[str, list[dict]]:
        """Rows of block b for each collection ("songs", "windows", "chunks", "prints"), in VectorStore's schema;
        at most `searched_windows` window rows a song, pooled as VectorStore.write_songs pools them."""
        from store.prints import print_rows
        from store.writes import pooled_windows

        songs, windows, chunks, prints = [], [], [], []
        for j in range(self.BLOCK):
            i = b * self.BLOCK + j
            sid = self.song_id(i)
            has_lyrics = bool(data["has_lyrics"][j])
            row = song_scalars(i, self.genres[int(data["genre"][j])], int(data["year"][j]), has_lyrics,
                               bool(data["has_cover"][j]))
            for k in self.fields:
                row[k] = data[k][j].tolist()
            starts = np.arange(self.windows) * WINDOW_SECONDS
            searched = pooled_windows(starts, starts + WINDOW_SECONDS,
                                      data["window_vectors"][j * self.windows : (j + 1) * self.windows], searched_windows)
            row["extra"]["parts"] = {"windows": len(searched[2]), "chunks": self.chunks if has_lyrics else 0, "prints": self.prints}
            songs.append(row)
            key = song_key(sid)
            for n, (start, end, vector) in enumerate(zip(*searched)):
                windows.append({"id": part_key(key, n), "song_id": sid, "start": float(start), "end": float(end),
                                "vector": vector.tolist()})
            if self.prints:  # one print a second from 0, stored as codes (rows of 10 prints)
                prints += print_rows(key, data["print_vectors"][j * self.prints : (j + 1) * self.prints])
            if has_lyrics:
                for n in range(self.chunks):
                    chunks.append({"id": part_key(key, n), "song_id": sid, "text": f"line {n} of song {i}",
                                   "vector": data["chunk_vectors"][j * self.chunks + n].tolist()})
        return {"songs": songs, "windows": windows, "chunks": chunks, "prints": prints}


def load_block(store, lib: SyntheticLibrary, b: int) -> tuple[dict, dict, float]:
    """Write block b of the synthetic library into the store: parts first, song rows last, as
    VectorStore.write_songs orders them. Returns the block's data, its rows and the seconds the writes took."""
    data = lib.block(b)
    rows = lib.rows(b, data, store.searched_windows)
    t0 = time.perf_counter()
    insert_rows(store, store.windows, rows["windows"], lib.fields["audio"])
    insert_rows(store, store.chunks, rows["chunks"], lib.fields["lyrics"])
    insert_rows(store, store.prints, rows["prints"], PRINT_CODES_LENGTH // 4)  # a row: the codes' base64
    store.prints_changed()  # as write_songs does: the posting lists are built again for the new prints
    copy_windows(store, lib, b, data)
    insert_songs(store, rows["songs"], lib.fields)
    return data, rows, time.perf_counter() - t0


def copy_windows(store, lib: SyntheticLibrary, b: int, data: dict) -> None:
    """Block b's song windows into the copy a Milvus Lite store keeps beside its file (as write_songs
    does), named as song rows without a parts nonce name theirs (store/reads.py: _parts_version)."""
    if store.window_copies is None:
        return
    starts = np.arange(lib.windows, dtype=np.float32) * WINDOW_SECONDS
    vectors = data["window_vectors"].reshape(lib.BLOCK, lib.windows, -1)
    store.window_copies.put(store.prefix, [(song_key(lib.song_id(b * lib.BLOCK + j)), copy_version(store, lib), starts,
                                            starts + WINDOW_SECONDS, vectors[j]) for j in range(lib.BLOCK)])


def copy_version(store, lib: SyntheticLibrary) -> str:
    """The version a synthetic song's row names its windows by: the number of window rows it has in Milvus."""
    from store.writes import pooled_windows

    none = np.zeros(lib.windows)
    return f"n{len(pooled_windows(none, none, np.zeros((lib.windows, 1)), store.searched_windows)[2])}"


def has_window_copies(store, lib: SyntheticLibrary, b: int) -> bool:
    """Whether block b's windows were copied (its last song's copy is there: blocks are copied whole)."""
    key = song_key(lib.song_id((b + 1) * lib.BLOCK - 1))
    return store.window_copies is None or bool(store.window_copies.get(store.prefix, {key: copy_version(store, lib)}))


def insert_rows(store, collection: str, rows: list[dict], dim: int) -> None:
    """Insert rows into one of the store's collections in requests of at most ~INSERT_ROWS_BYTES of vectors.

    Bulk loading goes straight to the store's client and collections (same schema and keys as
    VectorStore.write_songs), in larger requests than the indexer's batches of 16 songs.
    """
    per = max(1, INSERT_ROWS_BYTES // (4 * dim))
    for i in range(0, len(rows), per):
        store.client.insert(collection, rows[i : i + per])


def insert_songs(store, rows: list[dict], dims: dict[str, int]) -> None:
    """Song rows in bulk: straight into the songs collection, or through VectorStore.upsert_rows where the
    store splits song vectors into side collections (Milvus servers before 2.4)."""
    if not store.split:
        store.songs_changing()  # as upsert_rows does: the copy of song vectors beside a Lite index follows
        insert_rows(store, store.songs, rows, sum(dims.values()))
        store.songs_written(rows)
        return
    per = max(1, INSERT_ROWS_BYTES // (4 * sum(dims.values())))
    for i in range(0, len(rows), per):
        store.upsert_rows(rows[i : i + per])


def wait_for_indexes(store, timeout: float = 1800.0) -> float:
    """On a Milvus server, wait until every vector index covers all its collection's rows; returns seconds waited.

    A server builds HNSW graphs for sealed segments in the background: searching before they are built
    would time brute-force scans of growing segments instead. It also keeps rebuilding graphs as it
    compacts segments (an upsert is a delete plus an insert), while the old graphs still cover those
    rows, so "every row indexed" is the point where searches run on HNSW.
    """
    start = time.perf_counter()
    names = [n for n in store.client.list_collections() if n.startswith(store.prefix + "_")]
    while time.perf_counter() - start < timeout:
        behind = 0
        for name in names:
            for index in store.client.list_indexes(name):
                d = store.client.describe_index(name, index)
                behind += max(0, int(d.get("total_rows", 0) or 0) - int(d.get("indexed_rows", 0) or 0))
        if behind == 0:
            break
        time.sleep(2.0)
    return time.perf_counter() - start


def record_batch(lib: SyntheticLibrary, start: int, n: int, rng: np.random.Generator):
    """n new SongRecords (ids from `start`), as the indexer hands them to VectorStore.write_songs."""
    from store import SongRecord

    out = []
    for k in range(n):
        sid = lib.song_id(start + k)
        row = {"id": sid, "path": "", "content_hash": "", "mtime": 0.0, "size": 0, "title": "new", "artist": "",
               "album": "", "album_artist": "", "genre": "Rock", "genre_source": "tag", "raw_genre": "", "year": 0,
               "track_number": 0, "duration": 240.0, "musicbrainz_track_id": "", "musicbrainz_album_id": "",
               "musicbrainz_artist_id": "", "has_lyrics": True, "has_cover": True, "lyrics_source": "", "cover_source": "",
               "profile": "offline", "fusion_version": "synthetic", "extra": {}}
        row.update({f: unit_rows(rng, 1, d, f == "tags")[0] for f, d in lib.fields.items()})
        starts = np.arange(lib.windows) * WINDOW_SECONDS
        out.append(SongRecord(row, starts, starts + WINDOW_SECONDS, unit_rows(rng, lib.windows, lib.fields["audio"]),
                              [f"line {c}" for c in range(lib.chunks)], unit_rows(rng, lib.chunks, lib.fields["lyrics"]),
                              np.arange(lib.prints, dtype=np.float64), unit_rows(rng, lib.prints, lib.print_dim)))
    return out


# ---------------------------------------------------------------- queries


def build_queries(n: int, n_clips: int, library_dir: Path) -> dict[str, list]:
    """n text queries, n_clips 10 s WAV clips of demo tracks, n phone photos of demo covers."""
    from crossgenre.demo import MOOD_COLOURS, clip_bytes, make_cover, phone_photo
    from search import Query

    tracks = report.demo_library(library_dir)
    texts = [Query(text=TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" {i}"), k=10) for i in range(n)]
    clips = [Query(audio=clip_bytes(tracks[i % len(tracks)], 2.0 + 3.0 * (i // len(tracks)) % 15, 10.0), k=10) for i in range(n_clips)]
    moods = list(MOOD_COLOURS)
    images = [Query(image=phone_photo(make_cover(moods[i % len(moods)]), seed=i // len(moods) % 5), k=10) for i in range(n)]
    return {"text": texts, "clip": clips, "image": images}


def exact_top(matrix: np.ndarray, vector: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k rows of `matrix` with the largest inner product with `vector`, best first."""
    scores = matrix @ vector
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def route_vectors(engine, queries: dict[str, list]) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray]]:
    """The query vectors of each single-route comparison (field -> one vector per query), and each clip's print
    probes (what VectorStore.find_clip takes)."""
    out = {"tags": [], "lyrics": [], "audio": [], "cover": []}
    prints = []
    for kind, field_names in (("text", {"sound": "tags", "lyrics": "lyrics"}), ("clip", {"audio_track": "audio"}),
                              ("image", {"cover": "cover"})):
        for q in queries[kind]:
            plan = engine.plan(q)
            for r in plan.routes:
                if r.name in field_names:
                    out[field_names[r.name]].append(r.vector)
            if plan.prints is not None:
                prints.append(plan.prints)
    return out, prints


class CallTimes:
    """Seconds each query kind spends in each VectorStore read method, while a `with` block runs.

    The store's methods are wrapped on the instance for the block's length and put back after.
    """

    METHODS = ("search", "get_songs", "search_windows", "find_clip", "song_windows", "song_chunks")

    def __init__(self, store):
        self.store, self.kind, self.seconds = store, "", {}

    def __enter__(self):
        for name in self.METHODS:
            def timed(*a, _f=getattr(self.store, name), _name=name, **kw):
                t0 = time.perf_counter()
                try:
                    return _f(*a, **kw)
                finally:
                    per = self.seconds.setdefault(self.kind, {})
                    per[_name] = per.get(_name, 0.0) + time.perf_counter() - t0

            setattr(self.store, name, timed)
        return self

    def __exit__(self, *exc):
        for name in self.METHODS:
            delattr(self.store, name)  # back to the class's method
        return False


def measure(engine, store, queries, vectors, prints, matrices, rounds: int, threads: list[int]) -> dict:
    """Latencies at the current library size: end-to-end and encode-only per type and torch thread count,
    one route vs exact, window searches and print lookups (the posting lists already built)."""
    import torch

    e2e = {t: {k: [] for k in queries} for t in threads}
    enc = {t: {k: [] for k in queries} for t in threads}
    for q in (queries["text"][0], queries["clip"][0], queries["image"][0]):
        engine.search(q)  # warm-up: Milvus loads segments, torch allocates
    n = max(len(v) for v in queries.values())
    calls = CallTimes(store)
    with calls:
        for _ in range(rounds):
            for i in range(n):
                for t in threads:  # thread settings and query types take turns
                    torch.set_num_threads(t)
                    for kind in queries:
                        if i >= len(queries[kind]):
                            continue
                        q = queries[kind][i]
                        t0 = time.perf_counter()
                        calls.kind = kind
                        engine.search(q)
                        calls.kind = ""
                        e2e[t][kind].append(time.perf_counter() - t0)
    # The same queries with every song search sent to Milvus, not to the copy of the song vectors that a
    # Lite store keeps in memory (store/song_vectors.py): the baseline of that copy, in the same run.
    on_milvus = {k: [] for k in queries}
    torch.set_num_threads(threads[0])
    store.use_song_copy = False
    try:
        for i in range(n):
            for kind in queries:
                if i < len(queries[kind]):
                    t0 = time.perf_counter()
                    engine.search(queries[kind][i])
                    on_milvus[kind].append(time.perf_counter() - t0)
    finally:
        store.use_song_copy = True
    # Encoding alone, in a pass of its own: the sentence encoder remembers the last text it encoded,
    # so planning a query just before searching it would make the search's own encoding free.
    for i in range(n):
        for t in threads:
            torch.set_num_threads(t)
            for kind in queries:
                if i < len(queries[kind]):
                    t0 = time.perf_counter()
                    engine.plan(queries[kind][i])
                    enc[t][kind].append(time.perf_counter() - t0)
    torch.set_num_threads(threads[0])
    done = {kind: rounds * len(queries[kind]) * len(threads) for kind in queries}
    store_ms = {kind: {m: round(1000 * s / done[kind], 2) for m, s in per.items()} for kind, per in calls.seconds.items() if kind}
    routes = {}
    ids = matrices["ids"]
    for field_name, vecs in vectors.items():
        mil, ex, recall = [], [], []
        for v in vecs:
            for _ in range(REPEATS):  # alternate the two, so load changes fall on both
                store.use_song_copy = False  # Milvus's own search
                t0 = time.perf_counter()
                found = store.search(field_name, v, 10)
                t1 = time.perf_counter()
                store.use_song_copy = True
                top = exact_top(matrices[field_name], v, 10)
                t2 = time.perf_counter()
                mil.append(t1 - t0)
                ex.append(t2 - t1)
            recall.append(len({h["id"] for h in found} & {ids[j] for j in top}) / 10)
        m, x = report.percentiles(mil), report.percentiles(ex)
        routes[field_name] = {"dim": int(matrices[field_name].shape[1]), "milvus": m, "exact_numpy": x,
                              "p50_ratio_milvus_over_exact": round(m["p50_ms"] / x["p50_ms"], 2),
                              "recall_at_10": round(float(np.mean(recall)), 4)}
    win = []
    for v in vectors["audio"]:
        t0 = time.perf_counter()
        store.search_windows(v, 240)
        win.append(time.perf_counter() - t0)
    prt = []
    for p in prints:
        t0 = time.perf_counter()
        store.find_clip(p, 1)
        prt.append(time.perf_counter() - t0)
    return {
        "end_to_end": {f"{t}_threads": {k: report.percentiles(v) for k, v in e2e[t].items()} for t in threads},
        "end_to_end_song_searches_on_milvus": {f"{threads[0]}_threads": {k: report.percentiles(v) for k, v in on_milvus.items()}},
        "store_ms_per_query": store_ms,  # mean ms in each VectorStore call, over all thread settings
        "encode_only": {f"{t}_threads": {k: report.percentiles(v) for k, v in enc[t].items()} for t in threads},
        "one_route": routes,
        "window_search_240": report.percentiles(win),
        # prints a clip: at the speed it was recorded (each other speed has about as many)
        "print_search": {**report.percentiles(prt), "speeds": len(prints[0]) if prints else 0,
                         "prints_per_clip": round(float(np.mean([len(p[0][1]) for p in prints])), 1) if prints else 0.0},
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="library sizes (songs), ascending, multiples of 1000")
    parser.add_argument("--queries", type=int, default=20, help="text and image queries at each size")
    parser.add_argument("--clip-queries", type=int, default=10, help="clip queries at each size")
    parser.add_argument("--rounds", type=int, default=1, help="times each query runs at each size")
    parser.add_argument("--windows", type=int, default=10, help="audio windows stored per song")
    parser.add_argument("--chunks", type=int, default=3, help="lyric chunks stored per song with lyrics")
    parser.add_argument("--prints", type=int, default=10, help="audio prints stored per song (real songs: one a second)")
    parser.add_argument("--threads", default="", help="torch thread counts to compare, e.g. 1,2 (default: every "
                        "core, as `crossgenre serve` sets); they take turns query by query")
    parser.add_argument("--serving-memory", action="store_true",
                        help="Milvus Lite: at the end, the RSS of a fresh search process on the file (bench/serving_memory.py)")
    parser.add_argument("--workdir", type=Path, help="where the Milvus Lite file goes (default: a temporary folder)")
    parser.add_argument("--milvus-uri", default="", help="a Milvus server (http://host:19530) instead of a Lite "
                        "file: HNSW indexes; the bench's collections (prefix `bench`) are dropped first and after; "
                        "`embedded`: start the `milvus` package's server for this run")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if any(s % SyntheticLibrary.BLOCK for s in sizes):
        parser.error("sizes must be multiples of 1000")

    import torch

    from encoders.device import configure_threads
    from encoders.device import hub_offline

    hub_offline()
    configure_threads()  # what `crossgenre serve` does
    threads = [int(t) for t in args.threads.split(",") if t] or [torch.get_num_threads()]
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    from encoders.profile import load_profile
    from crossgenre.workspace import Workspace
    from fusion import fit
    from search import SearchEngine
    from store import VectorStore

    started = time.perf_counter()
    info = {"date": report.now(), "command": report.command("queries.py", argv), "machine_before": report.machine()}
    with tempfile.TemporaryDirectory(prefix="crossgenre-queries-", dir=args.workdir) as tmp:
        profile = load_profile("offline", Path(tmp) / "models")
        fields = profile.vector_fields
        server = None
        if args.milvus_uri == "embedded":
            from tests.fixtures.milvus_server import start_server

            server, args.milvus_uri = start_server(tmp)
        store = VectorStore(args.milvus_uri or str(Path(tmp) / "bench.db"), prefix="bench")
        store.drop()  # a server may hold a previous run's collections
        store.open(fields)
        backend = (f"Milvus server {store.client.get_server_version()} ({'split' if store.split else 'one'} songs "
                   "collection, HNSW M 16, efConstruction 200, ef max(64, 2 x limit))" if store.is_server
                   else "Milvus Lite (FLAT)")
        lib = SyntheticLibrary(fields, args.windows, args.chunks, args.prints, profile.printer.dim)
        queries = build_queries(args.queries, args.clip_queries, report.ROOT / "data" / "bench" / "demo-library")

        matrices = {f: [] for f in ("tags", "lyrics", "audio", "cover")}
        ids: list[str] = []
        engine = None
        results, have, fusion_s, path = [], 0, 0.0, None
        for size in sizes:
            load_s = 0.0
            for b in range(have // lib.BLOCK, size // lib.BLOCK):
                data, rows, seconds = load_block(store, lib, b)
                load_s += seconds
                for f in matrices:
                    matrices[f].append(data[f])
                ids += [s["id"] for s in rows["songs"]]
                if engine is None:
                    t0 = time.perf_counter()
                    model, _ = fit({m: data[m] for m in ("audio", "lyrics", "cover")},
                                   {"audio": np.ones(lib.BLOCK, bool), "lyrics": data["has_lyrics"], "cover": data["has_cover"]},
                                   seed=0, encoders={"audio": profile.audio.name, "lyrics": profile.lyrics.name, "cover": profile.cover.name})
                    fusion_s = time.perf_counter() - t0
                    engine = SearchEngine(Workspace(None, profile, store, model))
            t0 = time.perf_counter()
            store.flush()
            if store.is_server:
                wait_for_indexes(store)
            flush_s = time.perf_counter() - t0
            # the posting lists of every stored print, built from scratch (the first clip lookup would build
            # them; a large library's would otherwise be rebuilt in the background while the older lists answer)
            store.drop_saved_print_index()  # (and the lists saved beside a Lite file)
            t0 = time.perf_counter()
            index, _ = store.print_index()
            print_index = {"build_s": round(time.perf_counter() - t0, 2), "prints": index.prints,
                           "mib": round(index.nbytes / 2**20, 1)}
            have = size
            mats = {f: np.concatenate(v) for f, v in matrices.items()}
            matrices = {f: [m] for f, m in mats.items()}
            mats["ids"] = ids
            t0 = time.perf_counter()
            store.song_matrix(wait=True)  # (a Lite store's copy of the song vectors: current, or read now)
            print_index["song_copy_s"] = round(time.perf_counter() - t0, 2)
            print(f"N={size}: loaded in {load_s:.1f} s (+ flush and index {flush_s:.1f} s); posting lists of "
                  f"{print_index['prints']} prints built in {print_index['build_s']:.2f} s ({print_index['mib']} MiB); "
                  "measuring...", flush=True)
            vectors, prints = route_vectors(engine, queries)
            row = {"songs": size, "windows": size * args.windows, "prints": size * args.prints,
                   "load_s": round(load_s, 1), "flush_s": round(flush_s, 1), "print_index": print_index,
                   **measure(engine, store, queries, vectors, prints, mats, args.rounds, threads)}
            rng = np.random.default_rng(size)
            batch = record_batch(lib, 10**9 + size, WRITE_BATCH, rng)
            t0 = time.perf_counter()
            store.write_songs(batch)
            t1 = time.perf_counter()
            store.delete_songs([r.row["id"] for r in batch])
            row["indexer_batch"] = {"songs": WRITE_BATCH, "write_s": round(t1 - t0, 3), "delete_s": round(time.perf_counter() - t1, 3)}
            row["memory"] = report.memory()
            row["exact_arrays_mib"] = round(sum(m.nbytes for f, m in mats.items() if f != "ids") / 2**20, 1)
            row["loadavg_1m"] = report.machine()["loadavg_1m"]
            results.append(row)
            print_size(row)
            out = {**info, "setup": {"windows_per_song": args.windows, "prints_per_song": args.prints,
                                     "chunks_per_song_with_lyrics": args.chunks, "queries": {k: len(v) for k, v in queries.items()},
                                     "rounds": args.rounds, "torch_threads": threads, "fusion_fit_s": round(fusion_s, 1),
                                     "fields": fields, "backend": backend},
                   "sizes": results, "machine_after": report.machine(), "total_s": round(time.perf_counter() - started, 1)}
            path = report.write("queries", out, args.out, path)  # after each size: a long run keeps what it measured
        if store.is_server:
            store.drop()
        store.close()
        if server is not None:
            server.stop()
        elif args.serving_memory:
            out["serving_memory"] = serving_memory(Path(tmp), store.prefix, model)
            print(f"  a search process as `serve` holds it: {out['serving_memory']}")
            path = report.write("queries", out, args.out, path)
    print_summary(out)
    print(f"\nwrote {path}")
    return out


def serving_memory(folder: Path, prefix: str, fusion_model) -> dict:
    """RSS of a fresh search process on the Lite file just measured, as `serve` holds it (bench/serving_memory.py),
    and of its Milvus Lite: the figure a user's machine sees, without this bench's own arrays."""
    import json
    import subprocess

    from milvus_lite.server_manager import server_manager_instance

    from crossgenre.config import Config
    from crossgenre.workspace import fusion_dir

    server_manager_instance.release_server(str(folder / "bench.db"))  # this process's Milvus Lite lets go of the file
    fusion_model.save(fusion_dir(Config(data_dir=folder), prefix))
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("serving_memory.py")), "--data-dir", str(folder),
                           "--db", str(folder / "bench.db"), "--prefix", prefix], capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_size(row: dict) -> None:
    print(f"\n  {'query':8} {'threads':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}   {'encode p50':>10}")
    for t, kinds in row["end_to_end"].items():
        for kind, s in kinds.items():
            print(f"  {kind:8} {t.split('_')[0]:>7} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f}   "
                  f"{row['encode_only'][t][kind]['p50_ms']:10.1f}")
    for t, kinds in row["end_to_end_song_searches_on_milvus"].items():
        print("  every song search on Milvus: " + ", ".join(f"{k} p50 {s['p50_ms']:.1f} ms" for k, s in kinds.items()))
    for kind, per in row["store_ms_per_query"].items():
        print(f"  {kind} search, mean ms in the store: " + ", ".join(f"{m} {v:.1f}" for m, v in per.items()))
    print(f"  {'route':8} {'dim':>4} {'milvus p50':>11} {'exact p50':>10} {'ratio':>6} {'R@10':>6}")
    for f, r in row["one_route"].items():
        print(f"  {f:8} {r['dim']:4d} {r['milvus']['p50_ms']:11.2f} {r['exact_numpy']['p50_ms']:10.2f} "
              f"{r['p50_ratio_milvus_over_exact']:6.2f} {r['recall_at_10']:6.3f}")
    m = row["memory"]
    print(f"  windows search (240) p50 {row['window_search_240']['p50_ms']:.1f} ms; print search "
          f"({row['print_search']['prints_per_clip']:.0f} prints x {row['print_search']['speeds']} speeds) p50 "
          f"{row['print_search']['p50_ms']:.1f} ms (posting lists built in {row['print_index']['build_s']} s); indexer batch of "
          f"{row['indexer_batch']['songs']}: write {row['indexer_batch']['write_s']} s, delete {row['indexer_batch']['delete_s']} s")
    print(f"  RSS: python {m['python_rss_mib']} MiB (of which exact-search arrays {row['exact_arrays_mib']} MiB), "
          f"milvus {m['milvus_rss_mib']} MiB; load average {row['loadavg_1m']}", flush=True)


def print_summary(out: dict) -> None:
    print(f"\n{'songs':>8} {'threads':>7} {'text p50':>9} {'p95':>7} {'p99':>7} {'clip p50':>9} {'p95':>7} {'p99':>7} "
          f"{'image p50':>10} {'p95':>7} {'p99':>7} {'milvus MiB':>11} {'python MiB':>11}")
    for r in out["sizes"]:
        for t, e in r["end_to_end"].items():
            cells = " ".join(f"{e[k]['p50_ms']:{w}.1f} {e[k]['p95_ms']:7.1f} {e[k]['p99_ms']:7.1f}"
                             for k, w in (("text", 9), ("clip", 9), ("image", 10)))
            print(f"{r['songs']:8d} {t.split('_')[0]:>7} {cells} {r['memory']['milvus_rss_mib']:11.1f} "
                  f"{r['memory']['python_rss_mib']:11.1f}")
    last = out["sizes"][-1]
    for t, e in last["end_to_end"].items():
        p50 = e["text"]["p50_ms"]
        print(f"goal text p50 <= 50 ms at {last['songs']} songs, {t.replace('_', ' ')}: "
              f"{'met' if p50 <= 50 else 'not met'} ({p50} ms)")


if __name__ == "__main__":
    main()
