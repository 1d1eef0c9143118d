"""Distributed batch embedding with Ray Data on a local one-node cluster: decode + musicnn over the demo tracks.

    .venv/bin/python bench/distributed_embed.py                 # 2 actors of 1 CPU each, ~3 min here
    .venv/bin/python bench/distributed_embed.py --actors 1

Needs `ray[data]` (and a pyarrow that takes numpy 1.26: pyarrow 20). Steps, in one run:

  single   this process embeds every demo track the way the indexer does: scan.decode_audio at 16 kHz,
           then the offline profile's audio encoder (`load_profile("offline", ...).audio.embed_song`),
           torch on every core; songs/min and CPU seconds per song, before and after the Ray job.
  ray      `ray.init(num_cpus=2, include_dashboard=False)`, a Ray Data dataset of track paths, and
           `map_batches` with a callable class that builds the same encoder in each actor (one CPU and
           one torch thread each); songs/min over the whole job (actor start and model load included)
           and in steady state (each actor's busy time). The vectors must equal the single-process
           ones within 1e-5 (track vectors, window vectors, tag probabilities). The actors build only
           the audio role, through the factory load_profile uses (`build_encoder` with the profile's
           audio settings): the whole profile would also import and load MiniLM, which this stage
           never calls (measured: ~100 s per actor on the loaded 2-core machine, for nothing).
  long     one 4-minute song (demo tracks joined) through embed_song with the profile's window policy,
           at one torch thread as an actor runs, and the decode CPU time scaled from the demo tracks:
           the per-song figure a scale-out projection needs.

docs/scale-out.md turns the measured per-song CPU seconds into time and cost for 10M songs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)

TOLERANCE = 1e-5
LONG_SONG_SECONDS = 240.0


class EmbedSongs:
    """Ray Data callable class: a batch of {"path"} rows -> their musicnn vectors, with timings.

    The encoder is built once per actor (its constructor), by the same factory the indexer uses.
    Window vectors vary in number per song, so they travel flattened with a per-song count.
    """

    def __init__(self, root: str, model_dir: str, threads: int):
        t0 = time.perf_counter()
        sys.path.insert(0, root)
        import torch

        from encoders.device import hub_offline
        from encoders.profile import build_encoder, read_profile_settings

        hub_offline()
        torch.set_num_threads(threads)  # one CPU per actor: more threads would only contend
        self.audio = build_encoder(read_profile_settings("offline")["audio"], Path(model_dir))
        self.load_s = time.perf_counter() - t0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from scan import decode_audio

        out = {"path": [], "track": [], "tags": [], "windows": [], "n_windows": [], "busy_s": [], "cpu_s": [], "pid": [], "load_s": []}
        for path in batch["path"]:
            t0, c0 = time.perf_counter(), time.process_time()
            e = self.audio.embed_song(decode_audio(str(path), self.audio.sample_rate))
            out["busy_s"].append(time.perf_counter() - t0)
            out["cpu_s"].append(time.process_time() - c0)
            out["path"].append(str(path))
            out["track"].append(e.track)
            out["tags"].append(e.tags)
            out["windows"].append(e.windows.ravel())
            out["n_windows"].append(len(e.windows))
            out["pid"].append(os.getpid())
            out["load_s"].append(self.load_s)
            self.load_s = 0.0  # count the model load once per actor
        return {k: (np.stack(v) if k in ("track", "tags") else np.array(v, dtype=object) if k == "windows" else np.array(v))
                for k, v in out.items()}


def single_process(tracks: list[Path], model_dir: Path) -> tuple[dict, dict]:
    """Vectors of every track embedded in this process, and the timings."""
    import torch

    from encoders.device import configure_threads
    from encoders.profile import load_profile
    from scan import decode_audio

    configure_threads()
    audio = load_profile("offline", model_dir).audio
    audio.embed_song(decode_audio(tracks[0], audio.sample_rate))  # warm-up
    vectors = {}
    decode_s = embed_s = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for t in tracks:
        t0 = time.perf_counter()
        wave = decode_audio(t, audio.sample_rate)
        t1 = time.perf_counter()
        e = audio.embed_song(wave)
        embed_s += time.perf_counter() - t1
        decode_s += t1 - t0
        vectors[str(t)] = e
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    audio_s = sum(len(decode_audio(t, audio.sample_rate)) for t in tracks[:4]) / audio.sample_rate / 4
    n = len(tracks)
    timing = {"torch_threads": torch.get_num_threads(), "songs_per_min": round(60 * n / wall, 2),
              "wall_s_per_song": round(wall / n, 3), "cpu_s_per_song": round(cpu / n, 3),
              "decode_s_per_song": round(decode_s / n, 3), "embed_s_per_song": round(embed_s / n, 3),
              "audio_seconds_per_song": round(audio_s, 1), "window_policy": audio.window_policy}
    return vectors, timing


def long_song(tracks: list[Path], model_dir: Path) -> dict:
    """CPU seconds for one 4-minute song at one torch thread: decoding (scaled from the demo tracks' rate) and embed_song."""
    import torch

    from encoders.profile import build_encoder, read_profile_settings
    from scan import decode_audio

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each actor runs
    audio = build_encoder(read_profile_settings("offline")["audio"], model_dir)
    waves, decode_cpu = [], 0.0
    for t in tracks:
        c0 = time.process_time()
        waves.append(decode_audio(t, audio.sample_rate))
        decode_cpu += time.process_time() - c0
    joined = np.concatenate(waves)
    song = np.resize(joined, int(LONG_SONG_SECONDS * audio.sample_rate))
    decode_per_audio_s = decode_cpu / (len(joined) / audio.sample_rate)
    audio.embed_song(song[: 10 * audio.sample_rate])  # warm-up
    c0, w0 = time.process_time(), time.perf_counter()
    e = audio.embed_song(song)
    torch.set_num_threads(threads)
    return {"seconds": LONG_SONG_SECONDS, "window_policy": audio.window_policy, "windows": len(e.windows), "torch_threads": 1,
            "embed_cpu_s": round(time.process_time() - c0, 3), "embed_wall_s": round(time.perf_counter() - w0, 3),
            "decode_cpu_s_estimate": round(decode_per_audio_s * LONG_SONG_SECONDS, 3)}


def ray_job(tracks: list[Path], model_dir: Path, actors: int, cpus: int, batch_size: int) -> tuple[dict, dict]:
    """Vectors from a Ray Data job over the tracks, and its timings."""
    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}})
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        t0 = time.perf_counter()
        ds = ray.data.from_items([{"path": str(t)} for t in tracks], override_num_blocks=max(1, len(tracks) // batch_size))
        ds = ds.map_batches(EmbedSongs, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                            num_cpus=cpus / actors, fn_constructor_kwargs={"root": str(ROOT), "model_dir": str(model_dir),
                                                                           "threads": max(1, cpus // actors)})
        rows = ds.take_all()
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    vectors = {}
    busy: dict[int, float] = {}
    load: dict[int, float] = {}
    cpu = 0.0
    for r in rows:
        n = int(r["n_windows"])
        vectors[r["path"]] = {"track": np.asarray(r["track"]), "tags": np.asarray(r["tags"]),
                              "windows": np.asarray(r["windows"], np.float32).reshape(n, -1)}
        busy[int(r["pid"])] = busy.get(int(r["pid"]), 0.0) + float(r["busy_s"])
        load[int(r["pid"])] = load.get(int(r["pid"]), 0.0) + float(r["load_s"])
        cpu += float(r["cpu_s"])
    n = len(rows)
    timing = {"actors": actors, "cpus": cpus, "batch_size": batch_size, "actors_seen": len(busy),
              "job_wall_s": round(wall, 2), "songs_per_min_job": round(60 * n / wall, 2),
              "songs_per_min_steady": round(60 * n / max(busy.values()), 2),
              "model_load_s_per_actor": round(float(np.mean(list(load.values()))), 2),
              "busy_s_per_actor": {str(k): round(v, 2) for k, v in busy.items()},
              "cpu_s_per_song": round(cpu / n, 3)}
    return vectors, timing


def compare(single: dict, distributed: dict) -> dict:
    """Largest absolute difference per kind of vector between the two runs (same songs)."""
    if set(single) != set(distributed):
        raise SystemExit(f"Ray returned {len(distributed)} songs, the single run {len(single)}")
    out = {"track": 0.0, "windows": 0.0, "tags": 0.0}
    for path, e in single.items():
        d = distributed[path]
        out["track"] = max(out["track"], float(np.abs(e.track - d["track"]).max()))
        out["tags"] = max(out["tags"], float(np.abs(e.tags - d["tags"]).max()))
        if e.windows.shape != d["windows"].shape:
            raise SystemExit(f"{path}: {e.windows.shape} windows here, {d['windows'].shape} from Ray")
        out["windows"] = max(out["windows"], float(np.abs(e.windows - d["windows"]).max()))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (ray.init num_cpus)")
    parser.add_argument("--actors", type=int, default=2, help="encoder actors (each gets cpus/actors CPUs)")
    parser.add_argument("--batch-size", type=int, default=2, help="songs per map_batches call")
    parser.add_argument("--songs", type=int, default=28, help="demo tracks to embed (at most 28)")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)

    from encoders.device import hub_offline

    hub_offline()
    info = {"date": report.now(), "command": report.command("distributed_embed.py", argv), "machine_before": report.machine()}
    with tempfile.TemporaryDirectory(prefix="crossgenre-ray-") as tmp:
        tracks = report.demo_library(Path(tmp) / "library")[: args.songs]
        model_dir = Path(tmp) / "models"
        # the single-process run goes before and after the Ray job, so a change in the shared
        # machine's load between them shows (and the two are averaged)
        single, before = single_process(tracks, model_dir)
        distributed, ray_timing = ray_job(tracks, model_dir, args.actors, args.cpus, args.batch_size)
        _, after = single_process(tracks, model_dir)
        long = long_song(tracks, model_dir)
    single_timing = {**before, "songs_per_min": round(2 / (1 / before["songs_per_min"] + 1 / after["songs_per_min"]), 2),
                     "cpu_s_per_song": round((before["cpu_s_per_song"] + after["cpu_s_per_song"]) / 2, 3),
                     "songs_per_min_before_after": [before["songs_per_min"], after["songs_per_min"]]}
    diff = compare(single, distributed)
    import ray

    out = {
        **info,
        "ray": ray.__version__,
        "songs": len(tracks),
        "single_process": single_timing,
        "ray_data": ray_timing,
        "max_abs_diff": diff,
        "equal_within_tolerance": all(v <= TOLERANCE for v in diff.values()),
        "tolerance": TOLERANCE,
        "long_song": long,
        "machine_after": report.machine(),
    }
    print_table(out)
    print(f"\nwrote {report.write('distributed_embed', out, args.out)}")
    if not out["equal_within_tolerance"]:
        raise SystemExit(f"Ray vectors differ from the single-process ones by more than {TOLERANCE}: {diff}")
    return out


def print_table(out: dict) -> None:
    s, r, lg = out["single_process"], out["ray_data"], out["long_song"]
    print(f"\n{out['songs']} demo tracks (~{s['audio_seconds_per_song']} s each), musicnn {s['window_policy']}; "
          f"load average {out['machine_before']['loadavg_1m']} -> {out['machine_after']['loadavg_1m']}")
    print(f"{'run':44} {'songs/min':>10} {'CPU s/song':>11}")
    print(f"{'single process, ' + str(s['torch_threads']) + ' torch threads':44} {s['songs_per_min']:10.1f} {s['cpu_s_per_song']:11.3f}"
          f"   (before / after Ray: {s['songs_per_min_before_after'][0]} / {s['songs_per_min_before_after'][1]})")
    print(f"{'Ray Data, ' + str(r['actors']) + ' actors, whole job':44} {r['songs_per_min_job']:10.1f} {r['cpu_s_per_song']:11.3f}")
    print(f"{'Ray Data, steady state (busiest actor)':44} {r['songs_per_min_steady']:10.1f}")
    print(f"model load per actor {r['model_load_s_per_actor']} s; job wall {r['job_wall_s']} s")
    d = out["max_abs_diff"]
    print(f"Ray vs single process, max |diff|: track {d['track']:.1e}, windows {d['windows']:.1e}, tags {d['tags']:.1e} "
          f"({'equal' if out['equal_within_tolerance'] else 'NOT equal'} within {out['tolerance']:g})")
    print(f"one {lg['seconds']:.0f} s song ({lg['window_policy']}, {lg['windows']} windows, 1 thread): embed {lg['embed_cpu_s']} CPU s, "
          f"decode ~{lg['decode_cpu_s_estimate']} CPU s")


if __name__ == "__main__":
    main()
