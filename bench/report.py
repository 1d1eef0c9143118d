"""What every benchmark script shares: the machine it ran on, percentiles, memory of processes, the JSON it writes.

Benchmarks here run on shared 2-core machines: the load average before and after each run goes into
its JSON, and the scripts compare modes inside one process, taking turns, so ratios stay meaningful
while absolute times move with the other processes' load.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    """Platform, Python, torch, cores (usable by this process) and the 1-minute load average now."""
    import torch

    from encoders.device import usable_cpus

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def prepare_torch(threads: int | None = None) -> int:
    """What a benchmark does before loading models: no hub, torch threads as the CLI sets them (or
    `threads`); returns the thread count."""
    from encoders.device import configure_threads, hub_offline, passive_idle_threads

    passive_idle_threads()  # as the CLI does, before torch is imported
    import torch

    hub_offline()
    configure_threads()
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def command(script: str, argv: list[str] | None) -> str:
    """The command line that reproduces this run, relative to the repository root."""
    return " ".join([".venv/bin/python", f"bench/{script}", *(argv if argv is not None else sys.argv[1:])])


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99 and mean of a list of durations, in milliseconds (linear interpolation between samples)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def rss_mib(pid: int | str, field: str = "VmRSS") -> float:
    """Resident memory of one process, MiB (Linux /proc; field "VmHWM": the most it has held); 0.0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Direct child processes of pid (Linux /proc), e.g. the Milvus Lite server a MilvusClient starts."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def memory() -> dict:
    """RSS of this Python process and of each child process (the Milvus Lite server is one), MiB."""
    me = os.getpid()
    kids = {f"{process_name(c)}[{c}]": rss_mib(c) for c in children(me)}
    return {"python_rss_mib": rss_mib(me), "children_rss_mib": kids,
            "milvus_rss_mib": round(sum(v for k, v in kids.items() if k.startswith("milvus")), 1)}


class Stopwatch:
    """`with sw("stage"):` adds the wall seconds of the block to sw.seconds["stage"] (nesting allowed)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def write(name: str, report: dict, out: Path = RESULTS, path: Path | None = None) -> Path:
    """Write report as <out>/<name>-<timestamp>.json (or over `path`, to update a run's file); returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = path or out / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def demo_library(dest: Path | None = None) -> list[Path]:
    """The 28 demo tracks (immich-memories-music), tagged and with covers, in dest (default data/bench/demo-library)."""
    from crossgenre.demo import build_demo_library

    return build_demo_library(Path(dest) if dest else ROOT / "data" / "bench" / "demo-library")
