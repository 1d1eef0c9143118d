"""`crossgenre index` (fast audio path, the default) against `crossgenre index --exact`: CPU seconds a song, and the clip recall each gives.

    .venv/bin/python bench/fast_index.py                  # ~10 min here
    .venv/bin/python bench/fast_index.py --long-songs 2   # quicker

Offline profile, in this process, each mode with its own workspace (models loaded once): `Indexer.run`
into an empty Milvus Lite index over (1) the 28 demo tracks (~31 s each, tagged, with covers) and (2)
`--long-songs` 4-minute songs (Opus, 48 kHz mono, written from the demo tracks joined end to end).
Time is this process's CPU time (every thread: decode, ONNX Runtime or torch, lyrics, prints) and wall
time; Milvus Lite's own process is not counted (its inserts are ~1.5 % of an index run,
docs/benchmarks.md §2). Modes take turns for `--rounds`, so load changes fall on both.

Recall: `crossgenre eval`'s metrics on the dev manifest's clip queries (clean and degraded, 28 each)
against the demo tracks indexed by each mode, without a fitted fusion (the same for both).
Projection: a 100,000-song library of 4-minute songs on 2 cores, from the long songs' CPU seconds a song.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)

LONG_SECONDS = 240
MODES = {"exact": True, "fast": False}


def write_long_songs(tracks: list[Path], folder: Path, n: int) -> list[Path]:
    """n 4-minute Opus files, each a different stretch of the demo tracks joined end to end."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    joined = np.concatenate([sf.read(str(t), dtype="float32", always_2d=True)[0].mean(axis=1) for t in tracks])
    per = LONG_SECONDS * 48000
    out = []
    for i in range(n):
        path = folder / f"long-{i:02d}.opus"
        sf.write(str(path), np.resize(np.roll(joined, -i * per // 3), per), 48000, format="OGG", subtype="OPUS")
        out.append(path)
    return out


def index_once(ws, paths: list[Path]) -> tuple[float, float]:
    """(process CPU s, wall s) of one Indexer.run over paths into an empty index."""
    from crossgenre.indexer import Indexer

    ws.store.drop()
    ws.store.open(ws.profile.vector_fields)
    cpu, wall = time.process_time(), time.perf_counter()
    result = Indexer(ws, progress=False).run(paths)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if result.failed or result.added != len(paths):
        raise SystemExit(f"indexing failed: {result.summary()}")
    return cpu, wall


def clip_recall(ws, manifest: Path, root: Path) -> dict:
    from crossgenre.indexer import song_id
    from search import SearchEngine
    from search.evaluate import evaluate, load_manifest

    queries = [q for q in load_manifest(manifest) if q.get("group", "").startswith("clip")]
    groups = evaluate(SearchEngine(ws), queries, root, song_id).groups
    return {g: {"R@1": round(100 * v["R@1"], 1), "R@10": round(100 * v["R@10"], 1), "n": int(v["n"])} for g, v in groups.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-songs", type=int, default=6, help="4-minute songs to time")
    parser.add_argument("--rounds", type=int, default=1, help="turns each mode takes, interleaved")
    parser.add_argument("--manifest", type=Path, default=report.ROOT / "data" / "dev.jsonl")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)

    threads = report.prepare_torch()
    from crossgenre.config import Config
    from crossgenre.workspace import open_for_indexing

    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    info = {"date": report.now(), "command": report.command("fast_index.py", argv), "machine_before": report.machine(),
            "threads": threads}
    with tempfile.TemporaryDirectory(prefix="crossgenre-fast-index-") as tmp:
        library = Path(tmp) / "library"
        demo = report.demo_library(library)
        long_songs = write_long_songs(demo, Path(tmp) / "long", args.long_songs)
        spaces = {}
        for mode, exact in MODES.items():
            config = replace(Config(), data_dir=Path(tmp) / f"data-{mode}", model_dir=Path(tmp) / "models", profile="offline")
            spaces[mode] = open_for_indexing(config, "offline", exact=exact)
            index_once(spaces[mode], demo[:2])  # warm-up: models, allocator, collections
        timing = {mode: {"demo": [0.0, 0.0], "long": [0.0, 0.0]} for mode in MODES}
        recall = {}
        try:
            for _ in range(args.rounds):
                for kind, paths in (("long", long_songs), ("demo", demo)):  # the demo index stays for recall
                    for mode, ws in spaces.items():
                        cpu, wall = index_once(ws, paths)
                        timing[mode][kind][0] += cpu
                        timing[mode][kind][1] += wall
                        print(f"{mode} {kind}: {cpu / len(paths):.3f} CPU s, {wall / len(paths):.3f} wall s a song", flush=True)
            for mode, ws in spaces.items():
                recall[mode] = clip_recall(ws, args.manifest, library)
        finally:
            for ws in spaces.values():
                ws.close()
    counts = {"demo": len(demo) * args.rounds, "long": len(long_songs) * args.rounds}
    rows = {}
    for mode in MODES:
        rows[mode] = {kind: {"cpu_s_per_song": round(timing[mode][kind][0] / n, 3), "wall_s_per_song": round(timing[mode][kind][1] / n, 3),
                             "songs_per_cpu_s": round(n / timing[mode][kind][0], 3)} for kind, n in counts.items()}
        rows[mode]["clip_recall"] = recall[mode]
    for kind in counts:
        rows["fast"][kind]["speedup_cpu"] = round(timing["exact"][kind][0] / timing["fast"][kind][0], 2)
    drop = max(recall["exact"][g]["R@1"] - recall["fast"][g]["R@1"] for g in recall["exact"])
    per_song = rows["fast"]["long"]["cpu_s_per_song"]
    out = {
        **info,
        "songs": {"demo": len(demo), "long": len(long_songs), "long_seconds": LONG_SECONDS},
        "rounds": args.rounds,
        "modes": rows,
        "max_r1_drop_points": round(drop, 1),
        "projection_100k_4min_2cores_h": {"from_cpu": round(per_song * 100_000 / 2 / 3600, 1),
                                          "from_wall": round(rows["fast"]["long"]["wall_s_per_song"] * 100_000 / 3600, 1)},
        "machine_after": report.machine(),
    }
    for mode, r in rows.items():
        r1 = ", ".join(f"{g} {v['R@1']}" for g, v in r["clip_recall"].items())
        print(f"{mode:6} demo {r['demo']['cpu_s_per_song']:.3f} CPU s/song, 4-min {r['long']['cpu_s_per_song']:.3f} CPU s/song; "
              f"clip R@1 {r1}")
    print(f"fast/exact CPU speed-up: demo {rows['fast']['demo']['speedup_cpu']}x, 4-min {rows['fast']['long']['speedup_cpu']}x; "
          f"worst R@1 drop {out['max_r1_drop_points']} points; 100k x 4-min on 2 cores: {out['projection_100k_4min_2cores_h']} h")
    print(f"wrote {report.write('fast_index', out, args.out)}")
    return out


if __name__ == "__main__":
    main()
