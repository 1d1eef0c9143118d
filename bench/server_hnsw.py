"""A million songs on a Milvus server with HNSW: recall@10 against exact search, and search latency.

    .venv/bin/python bench/server_hnsw.py                      # 1M songs on an embedded Milvus server
    .venv/bin/python bench/server_hnsw.py --songs 100000       # a quick run
    .venv/bin/python bench/server_hnsw.py --milvus-uri http://host:19530 --keep   # then again with --reuse

Without `--milvus-uri` it starts the embedded Milvus standalone server of the `milvus` package
(`pip install -e ".[bench]"`) with its files under `--workdir`. The store is crossgenre's own
VectorStore (the same code the indexer and the search engine use) with the songs' two main vector
fields, both 200-d as in the offline profile, with the store's HNSW index (M 16, efConstruction 200);
a token 8-d `lyrics` field stands in for the rest. The two fields hold two kinds of synthetic vectors:
  audio   random unit vectors: the hardest case for a graph index, no structure to exploit, every
          song nearly as far from a query as every other
  joint   structured vectors: a 24-d latent through a fixed random 200 x 24 map, plus noise, as learned
          embeddings lie near a low-dimensional subspace

Measured on each field, per ef (the search list size; the store uses max(64, 2 x limit)):
  near    queries that are a stored song's vector plus noise, as a clip of an indexed song is to that
          song's track vector
  new     fresh vectors from the same distribution, as a description query is to the songs it matches
  for each: p50/p95/p99 of one `VectorStore.search` (the store's ef) or a client search at that ef, and
  recall@10 against an exact numpy search (matrix @ query) over the same vectors.
Plus the load rate, the time to build the indexes, and the server's resident memory.
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
from queries import INSERT_ROWS_BYTES, SyntheticLibrary, song_scalars, unit_rows, wait_for_indexes  # noqa: E402

from store.milvus import SESSION  # noqa: E402

FIELDS = {"audio": 200, "joint": 200, "lyrics": 8}  # lyrics: a token field the schema needs (chunk dimension)
BLOCK = 10_000  # songs written (and made) at a time
LATENT = 24  # dimension of the structured vectors' latent space


def structured_rows(rng: np.random.Generator, n: int, basis: np.ndarray) -> np.ndarray:
    """n unit vectors near the subspace spanned by `basis` (LATENT x dim)."""
    dim = basis.shape[1]
    x = rng.standard_normal((n, LATENT)).astype(np.float32) @ basis
    x += 0.3 * rng.standard_normal((n, dim)).astype(np.float32) * np.sqrt(LATENT / dim)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_basis(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 10**6]).standard_normal((LATENT, FIELDS["joint"])).astype(np.float32)


def block_vectors(seed: int, b: int, basis: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, b])
    return {"audio": unit_rows(rng, BLOCK, FIELDS["audio"]), "joint": structured_rows(rng, BLOCK, basis),
            "lyrics": unit_rows(rng, BLOCK, FIELDS["lyrics"])}


def load(store, songs: int, seed: int, basis: np.ndarray, genres: list[str]) -> tuple[dict[str, np.ndarray], float]:
    """Write `songs` synthetic songs in blocks; returns ({field: matrix} of audio and joint, seconds spent writing)."""
    from tqdm import tqdm

    kept, spent = {"audio": [], "joint": []}, 0.0
    per = max(1, INSERT_ROWS_BYTES // (4 * sum(FIELDS.values())))
    with tqdm(total=songs, unit="song", desc="loading") as bar:
        for b in range(songs // BLOCK):
            vec = block_vectors(seed, b, basis)
            rows = []
            for j in range(BLOCK):
                i = b * BLOCK + j
                row = song_scalars(i, genres[i % len(genres)], 1960 + i % 65, False, False)
                rows.append({**row, **{f: vec[f][j].tolist() for f in FIELDS}})
            t0 = time.perf_counter()
            for k in range(0, BLOCK, per):
                store.upsert_rows(rows[k : k + per])
            spent += time.perf_counter() - t0
            for f in kept:
                kept[f].append(vec[f])
            bar.update(BLOCK)
    return {f: np.concatenate(m) for f, m in kept.items()}, spent


def stored_matrices(songs: int, seed: int, basis: np.ndarray) -> dict[str, np.ndarray]:
    """The audio and joint vectors `load` writes, made again (they depend only on the seed)."""
    blocks = [block_vectors(seed, b, basis) for b in range(songs // BLOCK)]
    return {f: np.concatenate([v[f] for v in blocks]) for f in ("audio", "joint")}


def near_queries(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Stored vectors plus noise, renormalised: cosine ~0.9 to the song they come from."""
    picks = matrix[rng.choice(len(matrix), n, replace=False)]
    noisy = picks + 0.5 * unit_rows(rng, n, matrix.shape[1])
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def exact_top10(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row indices of each query's 10 best stored vectors by inner product (any order)."""
    return np.stack([np.argpartition(-(matrix @ q), 10)[:10] for q in queries])


def measure(store, field: str, exact: np.ndarray, ids: np.ndarray, queries: np.ndarray, ef: int | None,
            repeats: int) -> dict:
    """Latency and recall@10 of one vector field at one ef (None: the store's own search call)."""
    collection, anns = (store.side(field), "vector") if store.split and field != "joint" else (store.songs, field)
    seconds, recall = [], []
    for _ in range(repeats):
        for q, top in zip(queries, exact):
            t0 = time.perf_counter()
            if ef is None:
                found = [h["id"] for h in store.search(field, q, 10)]
            else:
                res = store.client.search(collection, data=[q.tolist()], anns_field=anns, limit=10,
                                          search_params={"metric_type": "IP", "params": {"ef": ef}}, **SESSION)
                found = [h["id"] for h in res[0]]
            seconds.append(time.perf_counter() - t0)
            recall.append(len(set(found) & set(ids[top])) / 10)
    return {**report.percentiles(seconds), "recall_at_10": round(float(np.mean(recall)), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1_000_000, help="songs to store (a multiple of 10,000)")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--repeats", type=int, default=2, help="times each query runs at each ef")
    parser.add_argument("--ef", default="32,64,128,256", help="HNSW search list sizes to compare with the store's default")
    parser.add_argument("--milvus-uri", default="", help="a Milvus server; default: start the embedded one")
    parser.add_argument("--keep", action="store_true", help="leave the collections on the server (with --milvus-uri)")
    parser.add_argument("--reuse", action="store_true", help="measure the songs a --keep run left on the server")
    parser.add_argument("--workdir", type=Path, help="where the embedded server keeps its files (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)
    if args.songs % BLOCK:
        parser.error(f"--songs must be a multiple of {BLOCK}")
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    from scan.genres import GENRES
    from store import VectorStore

    started = time.perf_counter()
    info = {"date": report.now(), "command": report.command("server_hnsw.py", argv), "machine_before": report.machine()}
    with tempfile.TemporaryDirectory(prefix="crossgenre-hnsw-", dir=args.workdir) as tmp:
        server = None
        uri = args.milvus_uri
        if not uri:
            from tests.fixtures.milvus_server import start_server

            print("starting the embedded Milvus server...", flush=True)
            server, uri = start_server(tmp)
        try:
            store = VectorStore(uri, prefix="hnsw")
            basis = make_basis(args.seed)
            ids = np.array([SyntheticLibrary.song_id(i) for i in range(args.songs)])
            if args.reuse:
                store.open(FIELDS)
                if store.count() != args.songs:
                    parser.error(f"--reuse: the server holds {store.count():,} songs, not {args.songs:,}")
                matrices, load_s, index_s = stored_matrices(args.songs, args.seed, basis), 0.0, 0.0
            else:
                store.drop()
                store.open(FIELDS)
                matrices, load_s = load(store, args.songs, args.seed, basis, list(GENRES))
                print(f"loaded {args.songs:,} songs in {load_s:.0f} s; building indexes...", flush=True)
                t0 = time.perf_counter()
                store.flush()
                wait_for_indexes(store, timeout=7200.0)
                index_s = time.perf_counter() - t0
                for name in store.client.list_collections():  # serve the indexed sealed segments, not the
                    if name.startswith(store.prefix + "_"):  # growing ones' interim index
                        store.client.release_collection(name)
                        store.client.load_collection(name)
                print(f"indexes built in {index_s:.0f} s; measuring...", flush=True)
            version = store.client.get_server_version()
            rng = np.random.default_rng(args.seed + 1)
            fresh = {"audio": unit_rows(rng, args.queries, FIELDS["audio"]), "joint": structured_rows(rng, args.queries, basis)}
            efs = [int(e) for e in args.ef.split(",") if e]
            results = {}
            for field, matrix in matrices.items():
                kinds = {"near": near_queries(matrix, args.queries, rng), "new": fresh[field]}
                for q in kinds["near"][:5]:
                    store.search(field, q, 10)  # warm-up: the server loads the collection's segments
                for kind, qs in kinds.items():
                    exact = exact_top10(matrix, qs)
                    runs = {"store_default": None, **{f"ef_{ef}": ef for ef in efs}}
                    results[f"{field} {kind}"] = {name: measure(store, field, exact, ids, qs, ef, args.repeats)
                                                  for name, ef in runs.items()}
            matrix = matrices["audio"]
            exact_s = []
            for q in fresh["audio"][:50]:
                t0 = time.perf_counter()
                np.argpartition(-(matrix @ q), 10)[:10]
                exact_s.append(time.perf_counter() - t0)
            out = {**info, "server": f"Milvus {version}" + (" (embedded, this machine)" if server else ""),
                   "songs": args.songs, "fields": FIELDS, "index": "HNSW M 16, efConstruction 200, IP",
                   "vectors": {"audio": "random", "joint": f"structured ({LATENT}-d latent)"},
                   "reused": args.reuse, "load_s": round(load_s, 1),
                   "load_songs_per_s": round(args.songs / load_s, 1) if load_s else None,
                   "index_build_s": round(index_s, 1), "search": results, "exact_numpy": report.percentiles(exact_s),
                   "memory": report.memory(), "machine_after": report.machine(),
                   "total_s": round(time.perf_counter() - started, 1)}
            if not args.keep:
                store.drop()
            store.close()
        finally:
            if server is not None:
                server.stop()
    path = report.write("server_hnsw", out, args.out)
    print(f"\n{out['server']}, {args.songs:,} songs, {out['index']}; exact numpy p50 {out['exact_numpy']['p50_ms']} ms")
    print(f"{'queries':12} {'ef':>14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'recall@10':>10}")
    for kind, per in results.items():
        for name, r in per.items():
            print(f"{kind:12} {name:>14} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} {r['recall_at_10']:10.3f}")
    if not args.reuse:
        print(f"load {out['load_songs_per_s']:.0f} songs/s, index build {out['index_build_s']:.0f} s")
    print(f"server RSS {out['memory']['milvus_rss_mib']:.0f} MiB (0: a server this process did not start)\nwrote {path}")
    return out


if __name__ == "__main__":
    main()
