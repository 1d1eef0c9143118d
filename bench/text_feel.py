"""Text queries with and without the feel route (tempo, key and mood words read into descriptors).

    .venv/bin/python bench/text_feel.py --data-dir /tmp/demo-data data/dev.jsonl data/mood-heldout.jsonl

Runs the text queries of each manifest twice through the same index and engine: as the engine ranks
them (calibrated fusion with the feel route), and with the feel route's weight at 0 (the ranking before
it existed), and prints nDCG@10, R@1, MRR and mAP per group. `data/mood-heldout.jsonl` holds mood
queries written before the words' values in search/musical.py were set, and never used to choose them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--root", type=Path, help="library root (default: <data-dir>/demo-library)")
    args = parser.parse_args()
    from crossgenre.config import load_config
    from crossgenre.indexer import song_id
    from crossgenre.workspace import open_for_search
    from search import SearchEngine
    from search.evaluate import evaluate, load_manifest

    root = args.root or args.data_dir / "demo-library"
    ws = open_for_search(load_config(None, data_dir=str(args.data_dir), profile="offline"), "offline")
    try:
        engine = SearchEngine(ws)
        print(f"{'group':<20}{'ranking':<14}{'n':>4}{'nDCG@10':>9}{'R@1':>7}{'MRR':>7}{'mAP':>7}")
        for path in args.manifests:
            items = [i for i in load_manifest(path) if "text" in i and not i.get("cross_genre")]
            for name, weights in (("with feel", None), ("without feel", {"feel": 0.0})):
                report = evaluate(engine, items, root, song_id, weights=weights, ranker="calibrated")
                for group, m in sorted(report.groups.items()):
                    print(f"{group:<20}{name:<14}{m['n']:>4}{m['nDCG@10']:9.3f}{m['R@1']:7.3f}{m['MRR']:7.3f}{m['mAP']:7.3f}")
    finally:
        ws.close()


if __name__ == "__main__":
    main()
