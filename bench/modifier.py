"""The "like this, but ..." modifier's effect on an index of the demo tracks (names say acoustic or electronic).

    .venv/bin/python bench/modifier.py --data-dir data                   # after `crossgenre demo --no-serve`
    .venv/bin/python bench/modifier.py --data-dir data --words held-out  # wordings the method was not chosen on

For every acoustic seed, "but electronic synthesizer"; for every electronic seed, "but acoustic guitar"
(the wordings the definition was chosen with). `--words held-out` takes three other wordings each way,
written down before they were first run, and averages over them.
Reported, for the top 10 with and without the modifier: the share of songs of the named style (it should
rise), the share of the seed's mood album (the rest of what "like this" means), and the mean cosine
between each result's and the seed's sound vectors (it should stay near the seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODIFIERS = {"acoustic": ("electronic", ["electronic synthesizer"]), "electronic": ("acoustic", ["acoustic guitar"])}
HELD_OUT = {"acoustic": ("electronic", ["with synth pads and a drum machine", "as a club track", "made on computers"]),
            "electronic": ("acoustic", ["played unplugged", "on a wooden folk guitar", "with real strings and no machines"])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--words", choices=["chosen", "held-out"], default="chosen")
    args = parser.parse_args(argv)
    from crossgenre.config import load_config
    from crossgenre.workspace import open_for_search
    from search.similar import SongOptions, SongSearch, text_modifier

    ws = open_for_search(load_config(None, data_dir=args.data_dir), "auto")
    try:
        songs = SongSearch(ws.store)
        rows = {r["id"]: r for r in ws.store.iter_songs(["id", "path", "album", "audio"])}
        style = {sid: "acoustic" if "acoustic" in Path(r["path"]).name else "electronic" for sid, r in rows.items()}
        out = {"plain": [], "modified": []}
        words = MODIFIERS if args.words == "chosen" else HELD_OUT
        for sid, r in sorted(rows.items(), key=lambda kv: kv[1]["path"]):
            wanted, texts = words[style[sid]]
            plain = songs.similar(sid, SongOptions(k=10), explain=False)
            runs = [("plain", plain)] + [("modified", songs.similar(sid, SongOptions(k=10), explain=False,
                                                                     modifier=text_modifier(ws, text))) for text in texts]
            for kind, hits in runs:
                seed = np.asarray(r["audio"])
                out[kind].append({"styled": np.mean([style[h.id] == wanted for h in hits]),
                                  "same_album": np.mean([rows[h.id]["album"] == r["album"] for h in hits]),
                                  "sound_cos": np.mean([np.asarray(rows[h.id]["audio"]) @ seed for h in hits])})
    finally:
        ws.close()
    summary = {kind: {k: round(float(np.mean([q[k] for q in qs])), 3) for k in qs[0]} for kind, qs in out.items()}
    summary["seeds"] = len(out["plain"])
    summary["words"] = {style: texts for style, (_, texts) in (MODIFIERS if args.words == "chosen" else HELD_OUT).items()}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
