"""Measure the tag bridge (text -> musicnn tags) on the 28 labelled tracks of immich-memories-music.

Each track is labelled by its folder (mood: calm, energetic, happy, nostalgic, tender) and its name
(style: acoustic, electronic). A query names the labels a listener would expect; a track's gain is the
number of those labels it has (so "calm acoustic guitar" gives 2 to calm acoustic tracks, 1 to other
calm or acoustic ones). Prints nDCG@10 per query and on average for the bridge as built by the
offline profile, for a few alternatives (--sweep), and for a random ranking.

    .venv/bin/python scripts/eval_tag_bridge.py [--sweep] [--cache /tmp/immich_tags.npz]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# query -> the labels it asks for: a set of accepted moods and/or a style
QUERIES = {
    "calm relaxing music": {"mood": {"calm"}},
    "energetic upbeat music": {"mood": {"energetic"}},
    "happy cheerful song": {"mood": {"happy"}},
    "nostalgic melancholic song": {"mood": {"nostalgic"}},
    "tender gentle music": {"mood": {"tender"}},
    "acoustic": {"style": "acoustic"},
    "electronic": {"style": "electronic"},
    "calm acoustic guitar": {"mood": {"calm"}, "style": "acoustic"},
    "energetic electronic": {"mood": {"energetic"}, "style": "electronic"},
    "upbeat dance": {"mood": {"energetic", "happy"}, "style": "electronic"},
    "sad acoustic ballad": {"mood": {"nostalgic", "tender"}, "style": "acoustic"},
    "chill ambient electronica": {"mood": {"calm", "tender", "nostalgic"}, "style": "electronic"},
    # a common tag (electronic ~0.6, acoustic ~0.4 on these tracks) with a rare one (happy ~0.01)
    "happy electronic": {"mood": {"happy"}, "style": "electronic"},
    "happy acoustic": {"mood": {"happy"}, "style": "acoustic"},
    "energetic acoustic": {"mood": {"energetic"}, "style": "acoustic"},
    "calm electronic": {"mood": {"calm"}, "style": "electronic"},
    "sad electronic": {"mood": {"nostalgic"}, "style": "electronic"},
}
MOOD_ONLY = 5  # the first five queries name a mood and nothing else
K = 10


def gains(query: str, moods: list[str], styles: list[str]) -> np.ndarray:
    want = QUERIES[query]
    g = np.zeros(len(moods))
    if "mood" in want:
        g += [m in want["mood"] for m in moods]
    if "style" in want:
        g += [s == want["style"] for s in styles]
    return g


def ndcg_at_k(scores: np.ndarray, gain: np.ndarray, k: int = K) -> float:
    """nDCG@k with linear gains; ties in score broken by track order (stable sort)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gain[np.argsort(-scores, kind="stable")][:k] * discounts).sum()
    ideal = (np.sort(gain)[::-1][:k] * discounts).sum()
    return float(dcg / ideal)


def song_tags(cache: Path | None) -> tuple[list[str], np.ndarray]:
    """(track keys 'mood/name', (28, 50) song-level tag probabilities from MusicnnEncoder, full coverage)."""
    if cache and cache.exists():
        data = np.load(cache)
        return list(data["keys"]), data["tags"]
    import immich_memories_music

    from check_musicnn_port import decode_16k_mono
    from encoders.musicnn import build

    enc = build({"model": "MSD_musicnn"}, Path("."))
    paths = sorted(immich_memories_music.tracks_dir().glob("*/*.opus"))
    keys = [f"{p.parent.name}/{p.stem}" for p in paths]
    tags = np.stack([enc.embed_song(decode_16k_mono(p)).tags for p in paths])
    if cache:
        np.savez(cache, keys=np.array(keys), tags=tags)
    return keys, tags


def evaluate(query_vectors: np.ndarray, song_vectors: np.ndarray, moods, styles) -> list[float]:
    return [ndcg_at_k(song_vectors @ q, gains(query, moods, styles)) for query, q in zip(QUERIES, query_vectors)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="npz to keep the tracks' tag probabilities in between runs")
    parser.add_argument("--sweep", action="store_true", help="also score alternative settings")
    args = parser.parse_args()

    import torch

    from encoders.base import l2_normalize
    from encoders.tag_bridge import build

    torch.set_num_threads(2)
    keys, tags = song_tags(args.cache)
    moods = [k.split("/")[0] for k in keys]
    styles = ["acoustic" if "acoustic" in k else "electronic" for k in keys]
    bridge = build({"model": "MSD_musicnn"}, Path("/nonexistent-model-dir"))
    queries = list(QUERIES)

    default = evaluate(bridge.encode(queries), bridge.song_vector(tags), moods, styles)
    rng = np.random.default_rng(0)
    random = np.mean([evaluate(np.eye(1, 50).repeat(len(queries), 0), rng.random((len(keys), 50)), moods, styles) for _ in range(200)], axis=0)
    print(f"{'query':32s} {'nDCG@10':>8s} {'random':>7s}  top tags of the query")
    for query, score, rnd in zip(queries, default, random):
        top = ", ".join(f"{t} {w:.2f}" for t, w in bridge.explain(query, 3))
        print(f"{query:32s} {score:8.3f} {rnd:7.3f}  {top}")
    print(f"{'mean':32s} {np.mean(default):8.3f} {np.mean(random):7.3f}  ({bridge.name}, T={bridge.temperature}, top_k={bridge.top_k})")
    print(f"{'mean of the mood-only queries':32s} {np.mean(default[:MOOD_ONLY]):8.3f} {np.mean(random[:MOOD_ONLY]):7.3f}")
    print(f"{'mean of the others':32s} {np.mean(default[MOOD_ONLY:]):8.3f} {np.mean(random[MOOD_ONLY:]):7.3f}")

    if args.sweep:
        # where the prior goes: nowhere, on the query (the bridge's choice), or on the stored song vectors
        placements = {
            "no prior": lambda w: (l2_normalize(w), l2_normalize(tags)),
            "query/prior": lambda w: (l2_normalize(w / bridge.prior), l2_normalize(tags)),
            "songs/prior": lambda w: (l2_normalize(w), l2_normalize(tags / bridge.prior)),
        }
        print(f"\nmean nDCG@10 (all {len(queries)} queries / the {MOOD_ONLY} mood-only ones / the others)")
        print(f"{'T':>5s} {'top_k':>5s}  " + "  ".join(f"{name:>17s}" for name in placements))
        for temperature in (0.05, 0.1, 0.2):
            for top_k in (1, 3, 5, 10, 50):
                variant = copy.copy(bridge)  # shares the embedded phrases
                variant.temperature, variant.top_k = temperature, top_k
                weights = variant.tag_weights(queries)
                cells = []
                for place in placements.values():
                    s = np.array(evaluate(*place(weights), moods, styles))
                    cells.append(f"{s.mean():.3f}/{s[:MOOD_ONLY].mean():.3f}/{s[MOOD_ONLY:].mean():.3f}")
                print(f"{temperature:5.2f} {top_k:5d}  " + "  ".join(f"{c:>17s}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
