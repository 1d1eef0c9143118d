"""Memory of a search process as `crossgenre serve` holds it: the index opened for search, the song vectors
and print lists loaded, one text, clip and cover-photo query answered; RSS (now and at its peak) of this
process and of its Milvus Lite.

    .venv/bin/python bench/serving_memory.py --data-dir DIR --db DIR/bench.db --prefix bench   # queries.py runs it

DB is a Milvus Lite file with collections under `prefix`, DIR the folder with the fusion fitted for them
(`<prefix>-fusion`), as bench/queries.py --serving-memory leaves them. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args(argv)

    from encoders.device import configure_threads

    configure_threads()  # what `crossgenre serve` does
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    from crossgenre.config import Config
    from crossgenre.serve import load_prints_in_background
    from crossgenre.workspace import open_for_search
    from search import SearchEngine

    config = Config(data_dir=args.data_dir, milvus_uri=str(args.db), collection_prefix=args.prefix,
                    model_dir=args.data_dir / "models", profile="offline")
    ws = open_for_search(config)
    load_prints_in_background(ws.store).join()
    engine = SearchEngine(ws)
    from queries import build_queries  # (bench/queries.py)

    queries = build_queries(1, 1, report.ROOT / "data" / "bench" / "demo-library")
    found = {kind: len(engine.search(q[0])) for kind, q in queries.items()}
    out = {"results": found, **report.memory(), "python_peak_rss_mib": report.rss_mib("self", "VmHWM"),
           "milvus_peak_rss_mib": round(sum(report.rss_mib(pid, "VmHWM") for pid in report.children(os.getpid())
                                          if report.process_name(pid).startswith("milvus")), 1)}
    ws.store.close()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
