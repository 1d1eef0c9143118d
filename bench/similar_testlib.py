"""Similar songs on the generated test library: song-seeded queries through `crossgenre eval`'s evaluator.

    .venv/bin/python bench/similar_testlib.py      # ~3 min on a 2-core machine: builds, indexes, evaluates

The test library (tests/fixtures/library.py: 13 songs of 6 genres, albums of 2 or 3 songs by one artist)
is built in a temporary folder and indexed with the offline profile. Each song is a seed twice: group
`song-album` (relevant: its album-mates, where it has any) and `song-genre` (relevant: the other songs of
its genre, 1 or 2). With 12 other songs and 1-2 relevant, P@10 can reach at most 0.1-0.2; R@1 and MRR
say more. Nothing here was tuned on this library.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from encoders.device import hub_offline

    hub_offline()
    from crossgenre.config import Config
    from crossgenre.indexer import index_library, song_id
    from crossgenre.workspace import open_for_indexing
    from search import SearchEngine
    from search.evaluate import evaluate
    from tests.fixtures.library import make_library

    with tempfile.TemporaryDirectory(prefix="crossgenre-testlib-") as tmp:
        library = make_library(Path(tmp) / "music")
        ws = open_for_indexing(Config(data_dir=Path(tmp) / "data", profile="offline"), "offline")
        try:
            index_library(ws, [library.root], progress=False)
            manifest = []
            for s in library.songs:
                rel = lambda o: str(o.path.relative_to(library.root))  # noqa: E731
                mates = [rel(o) for o in library.songs if o is not s and s.album and o.album == s.album]
                if mates:
                    manifest.append({"id": f"album {s.path.stem}", "group": "song-album", "song": rel(s), "relevant": mates})
                manifest.append({"id": f"genre {s.path.stem}", "group": "song-genre", "song": rel(s),
                                 "relevant": [rel(o) for o in library.songs if o is not s and o.genre == s.genre]})
            report = evaluate(SearchEngine(ws), manifest, library.root, song_id)
        finally:
            ws.close()
    print(report.table())
    print(json.dumps(report.groups, indent=2))
    return report.groups


if __name__ == "__main__":
    main()
