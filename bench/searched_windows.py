"""What pooling the searched windows costs a clip query: the window route's recall with 1, 2 or 4 windows a row.

    .venv/bin/python bench/searched_windows.py          # ~3 min here

Milvus Lite searches at most LITE_SEARCHED_WINDOWS (10) windows a song (store/milvus.py): a 4-minute song's
40 windows are stored for search as 10 rows, each the mean of 4 consecutive windows (store.writes.
pooled_windows). The demo tracks are ~30 s, 10 windows each, so the store leaves them as they are; here
they are pooled harder on purpose, to 5 and 3 rows (2 and 4 windows a row, as a 40-window song gets), to
see what the pooling itself costs.

The clip queries of data/dev.jsonl (10 s of each demo track, clean and degraded, with `crossgenre eval`'s
seeds) rank the 28 demo tracks by their best searched row (cosine with the clip's pooled vector), as the
engine's window route does. Printed per clip group: R@1, MRR, and the mean margin of the clip's own track
(its best row's cosine minus the best other track's). The print route, which finds most clips before
this one, is left out. 28 tracks is a small library: the margin shows the trend that R@1 hides.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)
from fast_mode import clip_queries  # noqa: E402

ROWS = {1: None, 2: 5, 4: 3}  # windows a searched row -> at most this many rows for a 10-window track


def ranks(songs: dict[str, np.ndarray], clips: list[dict], clip_vectors: list[np.ndarray]) -> dict:
    """Per clip group: R@1, MRR and mean margin of the clip's own track, ranking tracks by their best row."""
    names = list(songs)
    out: dict[str, dict[str, list[float]]] = {}
    for c, q in zip(clips, clip_vectors):
        best = np.array([float(np.max(songs[n] @ q)) for n in names])
        truth = names.index(c["relevant"])
        rank = 1 + int(np.sum(best > best[truth]))
        group = out.setdefault(c["group"], {"r1": [], "rr": [], "margin": []})
        group["r1"].append(rank == 1)
        group["rr"].append(1.0 / rank)
        group["margin"].append(best[truth] - np.max(np.delete(best, truth)))
    return {g: {"R@1": round(float(np.mean(v["r1"])), 3), "MRR": round(float(np.mean(v["rr"])), 3),
                "margin": round(float(np.mean(v["margin"])), 4), "n": len(v["r1"])} for g, v in out.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=report.ROOT / "data" / "dev.jsonl")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)

    report.prepare_torch()
    from encoders.base import l2_normalize
    from encoders.profile import load_profile
    from scan import decode_audio
    from store.writes import pooled_windows

    info = {"date": report.now(), "command": report.command("searched_windows.py", argv), "machine_before": report.machine()}
    with tempfile.TemporaryDirectory(prefix="crossgenre-pool-") as tmp:
        audio = load_profile("offline", Path(tmp) / "models").audio
        library = Path(tmp) / "library"
        tracks = report.demo_library(library)
        songs = {str(t.relative_to(library)): audio.embed_song(decode_audio(t, audio.sample_rate)) for t in tracks}
        clips = clip_queries(args.manifest, library, audio.sample_rate)
        clip_vectors = [l2_normalize(audio.embed_song(c["wave"]).windows.mean(axis=0)) for c in clips]

    results = {}
    for per_row, most in ROWS.items():
        rows = {n: pooled_windows(e.starts, e.ends, e.windows, most)[2] for n, e in songs.items()}
        results[per_row] = {"rows_per_track": round(float(np.mean([len(r) for r in rows.values()])), 1),
                            **ranks(rows, clips, clip_vectors)}
    out = {**info, "tracks": len(songs), "windows_per_track": round(float(np.mean([len(e.windows) for e in songs.values()])), 1),
           "results": results, "machine_after": report.machine()}
    path = report.write("searched_windows", out, args.out)

    groups = sorted({c["group"] for c in clips})
    print(f"{len(songs)} demo tracks, {out['windows_per_track']} windows each; window route only")
    print("  windows a row  rows  " + "  ".join(f"{g:>30}" for g in groups))
    for per_row, r in results.items():
        cells = "  ".join(f"R@1 {r[g]['R@1']:.3f} MRR {r[g]['MRR']:.3f} m {r[g]['margin']:+.3f}" for g in groups)
        print(f"  {per_row:>13}  {r['rows_per_track']:>4}  {cells}")
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
