"""Key estimation variants on the demo tracks, both halves: which profiles, and how much bass.

    .venv/bin/python bench/key_variants.py

Each track's chroma of the upper register (C3-C7) and of the bass (C1-C3) is computed once, as
`encoders/descriptors.py` does. A variant scores each key by the upper chroma's correlation with one
pair of key profiles plus a weight times the bass chroma's correlation with another pair ("match");
the first bass reader added the bass chroma to the upper one before matching ("sum"). Prints key exact
per half (tune: seeds 101 and 202; held-out: 411 and 522, see bench/descriptors.py) and one letter a
track: e exact, r relative, f fifth, p parallel, o other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from descriptors import TUNE_SEEDS, demo_truth, key_relation  # noqa: E402

from encoders import descriptors as D  # noqa: E402

PROFILES = {  # C major, C minor
    "aarden": (D.MAJOR_PROFILE, D.MINOR_PROFILE),
    "krumhansl": ([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88],
                  [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    "temperley": ([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400],
                  [0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]),
    "albrecht-shanahan": ([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081],
                          [0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052]),
}
BASS_WEIGHTS = (0.25, 0.5, 1.0)


def key_of(scores: np.ndarray) -> tuple[str, str]:
    best = int(np.argmax(scores))
    return D.PITCHES[best % 12], "minor" if best >= 12 else "major"


def main() -> None:
    from scan import decode_audio

    tracks = []
    for t in demo_truth():
        y = decode_audio(t["path"], 16000)[: int(D.MAX_SECONDS * 16000)]
        tracks.append((t, *D._chroma(y, 16000)))

    def row(label: str, keys: list[tuple[str, str]]) -> None:
        rel = [key_relation(k, (t["key"], t["mode"])) for k, (t, _, _) in zip(keys, tracks)]
        tune = sum(r == "exact" for r, (t, _, _) in zip(rel, tracks) if t["seed"] in TUNE_SEEDS)
        held = rel.count("exact") - tune
        print(f"{label:<58} {tune:>2}/14  {held:>2}/14  {tune + held:>2}/28  {''.join(r[0] for r in rel)}")

    print(f"{'variant':<58} tune  held-out  all   per track")
    profiles = {name: tuple(np.asarray(p, float) for p in pair) for name, pair in PROFILES.items()}
    for upper, (major, minor) in profiles.items():
        row(f"{upper}, no bass", [key_of(D._key_scores(u, major, minor)) for _, u, _ in tracks])
        for weight in (0.5,):
            row(f"{upper}, sum with bass x{weight}", [key_of(D._key_scores(u + weight * b, major, minor)) for _, u, b in tracks])
        for bass_name, (bmajor, bminor) in profiles.items():
            for weight in BASS_WEIGHTS:
                row(f"{upper}, match bass x{weight} with {bass_name}",
                    [key_of(D._key_scores(u, major, minor) + weight * D._key_scores(b, bmajor, bminor)) for _, u, b in tracks])


if __name__ == "__main__":
    main()
