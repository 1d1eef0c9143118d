"""Tempo and key of the demo tracks against the tempo and key that generated them.

    .venv/bin/python bench/descriptors.py                  # every track, both splits, and the baseline
    .venv/bin/python bench/descriptors.py --split tune     # only the tracks the estimators were tuned on

The demo package (`immich-memories-music`) lists each track's tempo and key in its LICENSE-MUSIC. The
tracks are split by generation seed: seeds 101 and 202 ("tune", 14 tracks) are the ones the estimators'
choices were made on; seeds 411 and 522 ("held-out", 14 tracks) were not looked at while tuning.

Tempo counts as right within 4 % of the listed bpm, also at half or double it (a beat tracker may count
the half or double beat); key as exact, or as a relative (same notes, other mode) or fifth error. The
baseline is a plain librosa `beat_track` and Krumhansl-Kessler profiles on mean CQT chroma.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoders.descriptors import PITCHES, describe, normalize_key  # noqa: E402

TUNE_SEEDS = {"101", "202"}
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def demo_truth() -> list[dict]:
    """[{path, bpm, key, mode, seed}] from the demo package's LICENSE-MUSIC."""
    from importlib import metadata

    import immich_memories_music

    dist = metadata.distribution("immich-memories-music")
    text = next(f for f in dist.files if f.name == "LICENSE-MUSIC").locate().read_text()
    tracks = Path(immich_memories_music.__file__).parent / "tracks"
    out, folder = [], ""
    for line in text.splitlines():
        if re.match(r"^\w+/$", line.strip()):
            folder = line.strip().rstrip("/")
            continue
        m = re.match(r"\s+(\S+\.opus)\s+(\d+) bpm\s+(\S+) (major|minor)\s+seed (\d+)", line)
        if m:
            key, mode = normalize_key(f"{m.group(3)} {m.group(4)}")
            out.append({"path": tracks / folder / m.group(1), "bpm": float(m.group(2)), "key": key, "mode": mode,
                        "seed": m.group(5)})
    return out


def tempo_ok(estimate: float, truth: float, tolerance: float = 0.04) -> bool:
    return any(abs(estimate * f - truth) <= tolerance * truth for f in (1.0, 0.5, 2.0))


def key_relation(est: tuple[str, str], truth: tuple[str, str]) -> str:
    """"exact", "relative", "fifth", "parallel" or "other"."""
    if est == truth:
        return "exact"
    if not est[0]:
        return "other"
    ei, ti = PITCHES.index(est[0]), PITCHES.index(truth[0])
    if est[1] != truth[1]:
        # relative: A minor <-> C major (minor tonic 9 semitones above the major tonic)
        major, minor = (ti, ei) if truth[1] == "major" else (ei, ti)
        if (major + 9) % 12 == minor:
            return "relative"
        return "parallel" if ei == ti else "other"
    return "fifth" if (ei - ti) % 12 in (5, 7) else "other"


def baseline(y: np.ndarray, sr: int) -> tuple[float, tuple[str, str]]:
    import librosa

    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    best = max(((np.corrcoef(chroma, np.roll(p, t))[0, 1], PITCHES[t], m)
                for m, p in (("major", KK_MAJOR), ("minor", KK_MINOR)) for t in range(12)))
    return float(np.atleast_1d(tempo)[0]), (best[1], best[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["tune", "held-out", "all"], default="all")
    parser.add_argument("--rate", type=int, default=16000, help="decode rate (the offline profile's is 16000)")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    from scan import decode_audio

    rows = []
    for t in demo_truth():
        split = "tune" if t["seed"] in TUNE_SEEDS else "held-out"
        if args.split != "all" and split != args.split:
            continue
        y = decode_audio(t["path"], args.rate)
        started = time.perf_counter()
        d = describe(y, args.rate)
        seconds = time.perf_counter() - started
        row = {"name": t["path"].name, "split": split, "bpm": t["bpm"], "key": (t["key"], t["mode"]), "est_bpm": d.bpm,
               "est_key": (d.key, d.mode), "seconds": seconds, "audio_seconds": len(y) / args.rate}
        if not args.no_baseline:
            row["base_bpm"], row["base_key"] = baseline(y, args.rate)
        rows.append(row)
        print(f"{row['name']:<32} {split:<9} {t['bpm']:>4.0f} {d.bpm:>6.1f} {'ok' if tempo_ok(d.bpm, t['bpm']) else '--'}  "
              f"{t['key']+' '+t['mode']:<9} {d.key+' '+d.mode:<9} {key_relation((d.key, d.mode), row['key'])}")
    print()
    for split in ("tune", "held-out", "all"):
        part = [r for r in rows if split == "all" or r["split"] == split]
        if not part:
            continue
        tempo = sum(tempo_ok(r["est_bpm"], r["bpm"]) for r in part)
        rel = [key_relation(r["est_key"], r["key"]) for r in part]
        line = (f"{split:<9} n={len(part):2d}  tempo within 4 % (x1/2/0.5): {tempo}/{len(part)}  key exact: "
                f"{rel.count('exact')}/{len(part)} (relative {rel.count('relative')}, fifth {rel.count('fifth')}, "
                f"parallel {rel.count('parallel')})")
        if not args.no_baseline:
            bt = sum(tempo_ok(r["base_bpm"], r["bpm"]) for r in part)
            bk = sum(r["base_key"] == r["key"] for r in part)
            line += f"  | baseline tempo {bt}/{len(part)}, key {bk}/{len(part)}"
        print(line)
    cost = sum(r["seconds"] for r in rows) / sum(r["audio_seconds"] for r in rows)
    print(f"descriptor time: {cost * 1000:.1f} ms per second of audio ({cost * 240:.2f} s for a 4-minute song, "
          f"excerpt capped)")


if __name__ == "__main__":
    main()
