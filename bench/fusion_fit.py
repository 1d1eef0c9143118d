"""Benchmark: time `fusion.fit` on a synthetic library (default 10,000 songs) and print its FitReport.

    .venv/bin/python bench/fusion_fit.py                      # offline dims: audio 200, lyrics 384, cover 256
    .venv/bin/python bench/fusion_fit.py --profile full       # full dims: audio 512, lyrics 384, cover 512
    .venv/bin/python bench/fusion_fit.py --seeds 0 1 2        # several libraries + fits, with the mean recall

Prints wall and CPU seconds (s) per fit and the 1-minute load average: on a shared machine wall time
grows with other processes, CPU time much less. The target is under 120 s wall for 10,000 songs on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion import FitConfig, fit  # noqa: E402
from tests.fusion.synthetic import make_library  # noqa: E402

PROFILE_DIMS = {"offline": {"audio": 200, "lyrics": 384, "cover": 256}, "full": {"audio": 512, "lyrics": 384, "cover": 512}}
PAIRS = ("lyrics→audio", "cover→audio", "lyrics→cover")
COLUMNS = ("no fusion", "ridge", "fitted")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=10_000)
    ap.add_argument("--profile", choices=sorted(PROFILE_DIMS), default="offline")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one synthetic library and fit per seed")
    ap.add_argument("--threads", type=int, default=1, help="torch threads while fitting (FitConfig.threads)")
    ap.add_argument("--json", type=Path, help="also write the figures here (e.g. bench/results/fusion_fit.json)")
    args = ap.parse_args()

    runs = []
    for seed in args.seeds:
        lib = make_library(args.songs, seed=seed, dims=PROFILE_DIMS[args.profile])
        wall, cpu = time.perf_counter(), time.process_time()
        model, report = fit(lib.arrays, lib.masks, seed=seed, config=FitConfig(threads=args.threads))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(report.summary())
        print(f"seed {seed}: wall {wall:.1f} s, CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f}, version {model.version}\n")
        runs.append({"seed": seed, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "report": report.to_dict()})

    print(f"{args.songs} songs, {args.profile} dims, {len(runs)} fit(s), threads {args.threads}")
    print(f"wall s: {' '.join(str(r['wall_s']) for r in runs)}   CPU s: {' '.join(str(r['cpu_s']) for r in runs)}")
    print(f"mean held-out recall (R@1 / R@10) over seeds {' '.join(map(str, args.seeds))}:")
    print(f"  {'pair':<15}" + "".join(f"{c:>16}" for c in COLUMNS))
    for pair in PAIRS:
        cells = []
        for c in COLUMNS:
            r1 = np.mean([r["report"]["recall"][pair][c]["R@1"] for r in runs])
            r10 = np.mean([r["report"]["recall"][pair][c]["R@10"] for r in runs])
            cells.append(f"{r1:.3f} / {r10:.3f}")
        print(f"  {pair:<15}" + "".join(f"{c:>16}" for c in cells))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"songs": args.songs, "profile": args.profile, "threads": args.threads, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
