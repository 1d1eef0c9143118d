"""Load benchmark: `crossgenre serve` on 127.0.0.1, N concurrent clients sending mixed text/clip/image searches.

Usage:
    python bench/load.py                           # builds an index of the demo tracks in data/bench first
    python bench/load.py --data-dir DIR            # an existing index (made by `crossgenre index`)
    python bench/load.py --clients 50 --seconds 60 --threads 8

The server runs as its own process (the real `crossgenre serve`, stopped with SIGTERM at the end), so
client threads do not share its interpreter. Prints errors and p50/p95/p99 latencies, overall and per
query kind, and writes them as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXTS = ["calm acoustic guitar", "upbeat electronic dance", "gentle piano for a rainy evening", "energetic drums",
         "nostalgic warm melody", "happy summer song", "tender and quiet", "driving synth bass", "dreamy ambient pads",
         "sad strings"]
MIX = {"text": 0.5, "audio": 0.3, "image": 0.2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "crossgenre.cli", *args]


def build_demo_index(data_dir: Path) -> None:
    if (data_dir / "crossgenre.db").exists():
        return
    print(f"Building the demo index in {data_dir} (the 28 demo tracks, offline profile)...", flush=True)
    subprocess.run(cli("demo", "--no-serve", "--data-dir", str(data_dir), "--profile", "offline", "-q"),
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def query_bodies(data_dir: Path, n_clips: int = 12) -> dict[str, list[tuple[bytes, str]]]:
    """Request bodies (bytes, content type) per kind: JSON texts, multipart WAV clips and cover photos."""
    from crossgenre.demo import MOOD_COLOURS, clip_bytes, make_cover, phone_photo
    from scan import find_audio_files

    tracks = find_audio_files([data_dir / "demo-library"]) if (data_dir / "demo-library").exists() else []
    if not tracks:
        raise SystemExit("no demo-library beside the index: clips come from it; run without --data-dir once")
    rng = random.Random(0)
    clips = [clip_bytes(t, rng.uniform(2, 15), rng.uniform(5, 10)) for t in rng.sample(tracks, min(n_clips, len(tracks)))]
    images = [phone_photo(make_cover(mood), seed=i % 3) for i, mood in enumerate(MOOD_COLOURS)]
    return {
        "text": [(json.dumps({"text": t, "k": 10}).encode(), "application/json") for t in TEXTS],
        "audio": [multipart("audio", "clip.wav", c) for c in clips],
        "image": [multipart("image", "photo.jpg", i) for i in images],
    }


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + \
           f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n10\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not answer /api/health in time")


def client(port: int, bodies: dict, deadline: float, seed: int, out: list) -> None:
    """One client: a keep-alive connection sending searches back to back until the deadline."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    kinds, weights = list(MIX), list(MIX.values())
    while time.time() < deadline:
        kind = rng.choices(kinds, weights)[0]
        body, ctype = rng.choice(bodies[kind])
        began = time.perf_counter()
        try:
            conn.request("POST", "/api/search", body=body, headers={"Content-Type": ctype})
            response = conn.getresponse()
            payload = response.read()
            ok = response.status == 200 and b'"results"' in payload
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            ok, status = False, type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        out.append((kind, time.perf_counter() - began, ok, status, time.time()))


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def q(p: float) -> float:
        return round(1000 * v[min(len(v) - 1, int(round(p * (len(v) - 1))))], 1)

    return {"n": len(v), "p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": round(1000 * v[-1], 1),
            "mean_ms": round(1000 * sum(v) / len(v), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="an existing index's data folder (default: build data/bench)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=8, help="server worker threads")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)

    data_dir = (args.data_dir or ROOT / "data" / "bench").resolve()
    if args.data_dir is None:
        build_demo_index(data_dir)
    bodies = query_bodies(data_dir)
    port = free_port()
    env = {**os.environ, "CROSSGENRE_THREADS": str(args.threads)}
    log_path = args.out / "server.log"
    args.out.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cli("serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)),
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc)
        print(f"Server up on 127.0.0.1:{port}; {args.clients} clients for {args.seconds:.0f} s...", flush=True)
        results: list = []
        began = time.time()
        deadline = began + args.seconds
        threads = [threading.Thread(target=client, args=(port, bodies, deadline, i, results), daemon=True)
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - began
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "killed"

    errors = [(k, s) for k, _, ok, s, _ in results if not ok]
    summary = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clients": args.clients, "seconds": args.seconds, "wall_s": round(wall, 1), "server_threads": args.threads,
        "cpus": os.cpu_count(), "index": str(data_dir), "mix": MIX,
        "requests": len(results), "errors": len(errors), "error_kinds": sorted({f"{k}:{s}" for k, s in errors}),
        "throughput_rps": round(len(results) / wall, 2),
        "all": percentiles([t for _, t, ok, _, _ in results if ok]),
        **{kind: percentiles([t for k, t, ok, _, _ in results if ok and k == kind]) for kind in MIX},
        "server_exit_code_after_sigterm": code,
    }
    name = f"load-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    (args.out / name).write_text(json.dumps(summary, indent=2))
    print(f"{summary['requests']} requests in {wall:.0f} s ({summary['throughput_rps']} req/s), {len(errors)} errors")
    for kind in ("all", *MIX):
        p = summary[kind]
        if p.get("n"):
            print(f"  {kind:6} n={p['n']:5}  p50 {p['p50_ms']:8.1f} ms  p95 {p['p95_ms']:8.1f} ms  p99 {p['p99_ms']:8.1f} ms")
    print(f"Server exit code after SIGTERM: {code}. Results: {args.out / name}")
    return 0 if not errors and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
