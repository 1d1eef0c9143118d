"""Cross-genre mode: how much of a song's feel its other-genre results keep, against a random ranking.

    .venv/bin/python bench/feel.py --data-dir /tmp/demo-data          # an index made by `crossgenre demo`
    .venv/bin/python bench/feel.py --data-dir /tmp/testlib-data        # any offline index

Every indexed song is a query: a 10 s clip of it (from 10 s in, or from the start of a shorter song) in
cross-genre mode, with the song's own genre as the one to move away from. Of the top 10 results it
reports the share outside that genre and how much of the query song's feel they keep:

  tempo       results within 8 % of the query song's tempo (and, apart, allowing half or double time)
  mode        results in the same mode (major or minor)
  mood tags   cosine of the two songs' musicnn probabilities over its mood tags (beautiful, chillout,
              Mellow, chill, party, easy listening, sexy, catchy, sad, happy)
  energy      mean absolute energy difference (lower is closer)

for three rankings: `feel` (cross-genre mode as it is: sound routes plus the feel and mood-tag routes),
`sound only` (the same with the feel and mood routes at weight 0: cross-genre mode before it had them),
and `random` (the expected figure of a random ranking of the other genres' songs: their mean).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MOOD_TAGS = ("beautiful", "chillout", "Mellow", "chill", "party", "easy listening", "sexy", "catchy", "sad", "happy")
FIELDS = ["id", "path", "genre", "bpm", "mode", "energy", "tags"]


def clip_bytes(path: str, rate: int = 22050) -> bytes:
    import soundfile as sf

    from scan import decode_audio

    wave = decode_audio(path, rate)
    start = 10 * rate if len(wave) >= 22 * rate else 0
    buf = io.BytesIO()
    sf.write(buf, wave[start : start + 10 * rate], rate, format="WAV")
    return buf.getvalue()


def kept(q: dict, r: dict, mood_index: list[int]) -> dict[str, float]:
    """How much of song q's feel song r keeps."""
    def mood(row):
        v = np.asarray(row["tags"], np.float32)[mood_index]
        return v / max(float(np.linalg.norm(v)), 1e-9)

    ratio = r["bpm"] / q["bpm"] if q["bpm"] and r["bpm"] else 0.0
    return {
        "outside": float(r["genre"] != q["genre"]),
        "tempo": float(abs(ratio - 1) <= 0.08),
        "tempo_hd": float(any(abs(ratio * f - 1) <= 0.08 for f in (1.0, 0.5, 2.0))),
        "mode": float(r["mode"] == q["mode"]),
        "mood": float(mood(q) @ mood(r)),
        "energy": abs(r["energy"] - q["energy"]),
    }


def mean(rows: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    from crossgenre.config import load_config
    from crossgenre.workspace import open_for_search
    from search import Query, SearchEngine

    config = load_config(None, data_dir=str(args.data_dir), profile="offline")
    ws = open_for_search(config, "offline")
    try:
        engine = SearchEngine(ws)
        names = ws.profile.audio.tag_names
        mood_index = [names.index(t) for t in MOOD_TAGS]
        rows = {r["id"]: r for r in ws.store.iter_songs(FIELDS)}
        results = {"feel": [], "sound only": [], "random": []}
        for sid, q in rows.items():
            others = [r for r in rows.values() if r["genre"] != q["genre"]]
            if not others:
                continue
            audio = clip_bytes(q["path"])
            for name, weights in (("feel", None), ("sound only", {"feel": 0.0, "mood": 0.0})):
                hits = engine.search(Query(audio=audio, k=args.k, cross_genre=True, query_genre=q["genre"],
                                           weights=weights, ranker="rrf"))
                results[name].append(mean([kept(q, rows[h.id], mood_index) for h in hits if h.id in rows]))
            results["random"].append(mean([kept(q, r, mood_index) for r in others]))
    finally:
        ws.close()
    genres = sorted({r["genre"] for r in rows.values()})
    print(f"{len(rows)} songs, {len(results['feel'])} queries, genres: {', '.join(genres)}; top {args.k}")
    print(f"{'ranking':<12}{'outside':>9}{'tempo 8%':>10}{'(x2, /2)':>10}{'mode':>8}{'mood tags':>11}{'|energy|':>10}")
    for name, rs in results.items():
        m = mean(rs)
        print(f"{name:<12}{m['outside']:9.3f}{m['tempo']:10.3f}{m['tempo_hd']:10.3f}{m['mode']:8.3f}{m['mood']:11.3f}"
              f"{m['energy']:10.3f}")


if __name__ == "__main__":
    main()
