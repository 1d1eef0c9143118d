"""Indexing speed on a GPU: the encoders' bare forward passes against crossgenre's own paths, in one run.

    python3 bench/gpu.py --out gpu.json                                      # on a GPU: a few minutes
    .venv/bin/python bench/gpu.py --device cpu --size tiny --windows 16 --songs 2 --covers 8 --patches 64

Models: the full profile's architectures with random weights at the published sizes (CLAP HTSAT-base,
OpenCLIP ViT-B-32; tests/fixtures/random_models.py, `--size real`), written in the real formats and loaded by
the code users run; musicnn with its real weights (the `musicnn` package). Audio: the demo tracks
(immich-memories-music, 30 s Opus, read with soundfile), 4-minute songs made by joining them, and 10 s
windows cut from them; covers: random 1000 x 1000 photos-sized images.

Rows (each timed after a warm-up, the GPU synchronised before the clock stops):
  clap bare      the audio tower's forward + projection on a ready (B, 480000) batch on the device
  clap project   ClapAudioEncoder.embed_windows from a list of numpy windows (what the indexer calls)
  clap songs     ClapAudioEncoder.embed_songs on 4-minute songs, 4 at a time (full coverage, 24 windows)
  fp16 agreement cosine of fp16 window vectors with fp32 ones, on the demo tracks' windows
  covers         OpenClipEncoder.encode on PIL images, against encode_image on a ready batch
  musicnn        MusicnnEncoder.embed_song on 4-minute songs (16 kHz) and its network on ready patches
Projections: GPU-hours for 1M and 10M songs at the profile's 12 CLAP windows a song.
Writes JSON to --out and prints it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SR = 48000
WINDOW = 10 * SR
SONG_SECONDS = 240
WINDOWS_PER_SONG = 12  # the full profile's max_windows


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int = 1) -> float:
    """Seconds per call of fn (after one warm-up call), the device synchronised around it."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def demo_audio(n_tracks: int, folder: Path | None) -> list[np.ndarray]:
    """Mono 48 kHz float32 demo tracks (soundfile decodes their Opus) from `folder` (default: the
    immich-memories-music package's); synthetic tones if there are none."""
    try:
        import soundfile as sf

        if folder is None:
            import immich_memories_music

            folder = immich_memories_music.tracks_dir()
        out = []
        for path in sorted(Path(folder).rglob("*.opus"))[:n_tracks]:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
            if rate != SR:
                raise ValueError(f"{path.name} is {rate} Hz")
            out.append(audio.mean(axis=1))
        if out:
            return out
    except Exception as exc:  # report and go on: speed does not depend on the content
        print(f"demo tracks unavailable ({type(exc).__name__}: {exc}); using synthetic audio")
    rng = np.random.default_rng(0)
    t = np.arange(30 * SR) / SR
    return [(0.3 * np.sin(2 * np.pi * rng.uniform(80, 2000) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
            for _ in range(n_tracks)]


def long_songs(tracks: list[np.ndarray], n: int, seconds: int, rate: int) -> list[np.ndarray]:
    joined = np.concatenate(tracks)
    per = seconds * rate
    return [np.resize(np.roll(joined, -i * per // 3), per).astype(np.float32) for i in range(n)]


def clap_rows(args, model_dir: Path, settings: dict, tracks: list[np.ndarray]) -> dict:
    import torch

    from encoders import clap

    device = args.device
    base = clap.build_audio({**settings["audio"], "device": device, "precision": "fp32", "max_windows": None}, model_dir)
    model = base.clap.module.model
    joined = np.concatenate(tracks)
    windows = [np.resize(np.roll(joined, -i * SR), WINDOW) for i in range(args.windows)]
    precisions = ["fp32", "fp16"] if device.startswith("cuda") else ["fp32"]
    out = {"model": base.name, "windows": args.windows, "bare": {}, "project": {}, "songs": {}}
    for precision in precisions:
        enc = clap.ClapAudioEncoder(base.clap, max_windows=None, precision=precision)
        for batch in args.batches:
            ready = clap.prepare_batch(clap.stack_windows(windows[:batch], WINDOW).to(device))

            def bare(ready=ready):
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                    for _ in range(args.windows // batch):
                        model.audio_projection(model.encode_audio({"waveform": ready}, device=ready.device)["embedding"])

            n_bare = (args.windows // batch) * batch
            bare_rate = n_bare / timed(bare, device)
            enc.batch_size = batch
            project_rate = args.windows / timed(lambda: enc.embed_windows(windows), device)
            key = f"{precision} batch {batch}"
            out["bare"][key] = round(bare_rate, 1)
            out["project"][key] = {"windows_per_s": round(project_rate, 1), "ratio_to_bare": round(project_rate / bare_rate, 3)}
            print(f"clap {key}: bare {bare_rate:.1f} windows/s, project {project_rate:.1f} ({project_rate / bare_rate:.2f}x)", flush=True)
        songs = long_songs(tracks, args.songs, SONG_SECONDS, SR)
        enc.batch_size = max(args.batches)

        def embed_all():
            for i in range(0, len(songs), 4):  # the indexer hands the encoder 4 songs at a time
                enc.embed_songs(songs[i : i + 4])

        seconds = timed(embed_all, device)
        out["songs"][precision] = {"songs_per_s": round(len(songs) / seconds, 2), "song_seconds": SONG_SECONDS,
                                   "windows_each": len(clap.window_starts(SONG_SECONDS * SR, WINDOW, None))}
        print(f"clap songs {precision}: {len(songs) / seconds:.2f} songs/s", flush=True)
    if "fp16" in precisions:
        real = [w[i : i + WINDOW] for w in tracks for i in range(0, len(w) - WINDOW + 1, WINDOW)]
        a = clap.ClapAudioEncoder(base.clap, precision="fp32").embed_windows(real)
        b = clap.ClapAudioEncoder(base.clap, precision="fp16").embed_windows(real)
        cos = (a * b).sum(axis=1)
        out["fp16_cosine"] = {"windows": len(real), "min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}
        print(f"fp16 vs fp32 cosine on {len(real)} demo windows: min {cos.min():.6f}", flush=True)
    best = out["project"].get(f"fp16 batch {max(args.batches)}") or out["project"][f"fp32 batch {max(args.batches)}"]
    songs_per_hour = best["windows_per_s"] * 3600 / WINDOWS_PER_SONG
    out["projection"] = {"windows_per_song": WINDOWS_PER_SONG, "path": "project, largest batch, fastest precision",
                         "gpu_hours_1M": round(1e6 / songs_per_hour, 1), "gpu_hours_10M": round(1e7 / songs_per_hour, 1)}
    return out


def cover_rows(args, model_dir: Path, settings: dict) -> dict:
    import torch
    from PIL import Image

    from encoders import openclip

    device = args.device
    enc = openclip.build({**settings["cover"], "device": device}, model_dir)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (1000, 1000, 3), dtype=np.uint8)
    images = [Image.fromarray(np.roll(base, i * 7, axis=0)) for i in range(args.covers)]
    ready = enc.pixels(images[: enc.batch_size]).to(device)
    out = {"model": enc.name, "images": args.covers, "batch": enc.batch_size, "resize_on_device": enc.resize_on_device}
    for precision in (["fp32", "fp16"] if device.startswith("cuda") else ["fp32"]):
        def bare():
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                for _ in range(max(1, args.covers // len(ready))):
                    enc.model.encode_image(ready, normalize=True)

        rate = max(1, args.covers // len(ready)) * len(ready) / timed(bare, device)
        out[f"bare {precision}"] = round(rate, 1)
    project = args.covers / timed(lambda: enc.encode(images, "image"), device)
    out["project fp32"] = round(project, 1)
    if enc.resize_on_device:
        enc.resize_on_device = False
        out["project fp32, PIL resize"] = round(args.covers / timed(lambda: enc.encode(images, "image"), device), 1)
        enc.resize_on_device = True
    print(f"covers: {out}", flush=True)
    return out


def musicnn_rows(args, tracks48: list[np.ndarray]) -> dict:
    import torch
    from scipy.signal import resample_poly

    from encoders import musicnn

    device = args.device
    enc = musicnn.build({"model": "MSD_musicnn", "device": device, "max_windows": None}, Path("."))
    tracks = [resample_poly(t, 1, 3).astype(np.float32) for t in tracks48]
    songs = long_songs(tracks, args.songs, SONG_SECONDS, musicnn.SAMPLE_RATE)
    patches = torch.randn(args.patches, musicnn.PATCH_FRAMES, musicnn.N_MELS, device=device)

    def bare():
        with torch.inference_mode():
            for i in range(0, len(patches), enc.batch_size):
                enc.net(patches[i : i + enc.batch_size])

    out = {"device": str(next(enc.net.parameters()).device), "batch": enc.batch_size,
           "bare_patches_per_s": round(args.patches / timed(bare, device), 1)}
    seconds = timed(lambda: [enc.embed_song(s) for s in songs], device)
    out["songs_per_s"] = round(len(songs) / seconds, 2)
    out["windows_each"] = len(enc.embed_song(songs[0]).windows)
    print(f"musicnn: {out}", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=("real", "tiny"), default="real", help="model sizes (tiny: to check the script)")
    parser.add_argument("--windows", type=int, default=512, help="10 s windows per CLAP row")
    parser.add_argument("--batches", default="32,128", help="CLAP batch sizes")
    parser.add_argument("--songs", type=int, default=16, help="4-minute songs for the song rows")
    parser.add_argument("--covers", type=int, default=512)
    parser.add_argument("--patches", type=int, default=4096, help="musicnn patches for its bare row")
    parser.add_argument("--tracks", type=int, default=12, help="demo tracks to read")
    parser.add_argument("--tracks-dir", type=Path, help="folder of demo tracks (default: immich-memories-music's)")
    parser.add_argument("--only", default="clap,covers,musicnn")
    parser.add_argument("--out", type=Path, default=Path("gpu.json"))
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]

    from encoders.device import configure_threads, hub_offline
    from encoders.profile import read_profile_settings
    from tests.fixtures.random_models import write_model_dir

    hub_offline()
    configure_threads()
    info = {"command": "bench/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "python": platform.python_version(),
            "torch": torch.__version__, "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None, "size": args.size}
    print(info, flush=True)
    tracks = demo_audio(args.tracks, args.tracks_dir)
    info["audio"] = {"tracks": len(tracks), "seconds": round(sum(len(t) for t in tracks) / SR, 1)}
    with tempfile.TemporaryDirectory(prefix="crossgenre-gpu-") as tmp:
        started = time.perf_counter()
        settings = write_model_dir(Path(tmp), read_profile_settings("full"), size=args.size)
        info["models_written_s"] = round(time.perf_counter() - started, 1)
        for name, fn in (("clap", lambda: clap_rows(args, Path(tmp), settings, tracks)),
                         ("covers", lambda: cover_rows(args, Path(tmp), settings)),
                         ("musicnn", lambda: musicnn_rows(args, tracks))):
            if name not in args.only.split(","):
                continue
            try:
                info[name] = fn()
            except Exception as exc:  # one failing row must not cost the others on a time-limited machine
                traceback.print_exc()
                info[name] = {"error": f"{type(exc).__name__}: {exc}"}
            args.out.write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
