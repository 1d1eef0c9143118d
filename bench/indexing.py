"""Indexing throughput: `crossgenre index` over the 28 demo tracks against the bare encoders, with a stage split.

    .venv/bin/python bench/indexing.py                 # 1 round, ~7 min here
    .venv/bin/python bench/indexing.py --songs 10 --no-lyrics

In one process, on the same offline-profile models (musicnn, MiniLM, the tag bridge, the cover
descriptor), three modes take turns each round:

  bare        the encoders alone on ready inputs: musicnn (log-mel front end + network) on decoded
              waveforms, MiniLM on ready lyric chunks, the cover descriptor on decoded images;
              the network alone on ready log-mel patches is timed too.
  indexer     the real Indexer.run into a fresh Milvus Lite index, decode prefetched in a worker
              thread (what `crossgenre index` does); songs/min and its ratio to bare (goal >= 0.8).
  sequential  the same Indexer.run with prefetching off (crossgenre.indexer.PREFETCH_DEPTH = 0), so its
              stages do not overlap and their times add up: the per-stage split.

Stages are timed by wrapping the functions the indexer calls (module globals of crossgenre.indexer,
methods of the profile's encoders, of the Indexer and of the VectorStore) for the length of a run; the
indexer itself is not changed. In the prefetching run the decode-side stages run in the worker thread,
so there the stage times overlap with the encoders'.

The demo tracks carry no lyrics; unless --no-lyrics, each copy gets a sidecar .txt of ~30 generated
lines (what a song's lyrics cost MiniLM), so the lyrics stage has work. A warm-up run indexes 4 tracks
and the fusion is fitted on them (below 30 songs the fit falls back to joint = audio, as it does for
the 28 demo tracks), so every timed run fuses alike; the fit time is reported apart.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import report  # noqa: E402  (bench/report.py, beside this file)

WORDS = ("love night heart baby light dance rain road home fire dream tonight forever summer city heaven river "
         "broken blue gold cold wild shadow morning train window whisper ocean hold me never let go").split()
STAGES = ("hash", "read tags+cover", "decode", "descriptors", "encode audio", "tag vector", "prints", "lyrics", "cover",
          "fuse", "genre", "insert")


def write_lyrics(tracks: list[Path], lines: int = 30, seed: int = 0) -> None:
    """A sidecar <stem>.txt of `lines` generated lyric lines (6-10 words, stanzas of 4) beside each track."""
    rng = np.random.default_rng(seed)
    for t in tracks:
        text = [" ".join(rng.choice(WORDS, rng.integers(6, 11))) + ("\n" if (i + 1) % 4 == 0 else "") for i in range(lines)]
        t.with_suffix(".txt").write_text("\n".join(text) + "\n")


class Wrapped:
    """Replace attributes with timed wrappers for the length of a `with` block, then put them back."""

    def __init__(self, sw: report.Stopwatch, targets: list[tuple[object, str, str]]):
        self.sw, self.targets, self.saved = sw, targets, []

    def __enter__(self):
        for obj, attr, stage in self.targets:
            original = getattr(obj, attr)
            self.saved.append((obj, attr, vars(obj).get(attr, _MISSING)))  # _MISSING: a class attribute

            def timed(*a, _f=original, _s=stage, **kw):
                with self.sw(_s):
                    return _f(*a, **kw)

            setattr(obj, attr, timed)
        return self

    def __exit__(self, *exc):
        for obj, attr, value in reversed(self.saved):
            if value is _MISSING:
                delattr(obj, attr)  # it was a class attribute: drop the instance's wrapper
            else:
                setattr(obj, attr, value)
        self.saved = []
        return False


_MISSING = object()


def stage_targets(indexer, ws) -> list[tuple[object, str, str]]:
    """What to wrap, and the stage each call counts toward: the indexer's own calls, unchanged."""
    import crossgenre.indexer as ix

    p = ws.profile
    targets = [
        (ix, "content_hash", "hash"), (ix, "read_track", "read tags+cover"), (ix, "decode_audio", "decode"),
        (ix, "describe", "descriptors"),
        (p.audio, "embed_songs", "encode audio"), (p.audio, "embed_song", "encode audio"),
        (p.describe, "song_vector", "tag vector"), (ix, "to_print_rate", "prints"), (p.printer, "song_prints", "prints"),
        (p.lyrics, "embed_lyrics", "lyrics"), (indexer, "_cover_vector", "cover"), (indexer, "_joint", "fuse"),
        (p, "predict_genre", "genre"), (indexer, "predict_genre", "genre"), (ws.store, "write_songs", "insert"),
    ]
    # the indexer moves pieces between rooms now and then: time the ones this version has
    # (embed_songs calls embed_song inside some encoders: wrap one of the two, the outer)
    present = [t for t in targets if hasattr(t[0], t[1])]
    if any(t[1] == "embed_songs" for t in present):
        present = [t for t in present if t[1] != "embed_song"]
    return present


def fresh_index(ws) -> None:
    """Empty the workspace's index (same collections, no songs), keeping its models and fitted fusion."""
    ws.store.drop()
    ws.store.open(ws.profile.vector_fields)


def run_indexer(ws, library: list[Path], prefetch: bool) -> tuple[float, dict[str, float], object]:
    """One Indexer.run over the library's files into an empty index: (wall s, stage s, IndexReport)."""
    import crossgenre.indexer as ix

    fresh_index(ws)
    sw = report.Stopwatch()
    indexer = ix.Indexer(ws, progress=False)
    depth = ix.PREFETCH_DEPTH
    ix.PREFETCH_DEPTH = depth if prefetch else 0
    try:
        with Wrapped(sw, stage_targets(indexer, ws)):
            t0 = time.perf_counter()
            result = indexer.run(library)
            wall = time.perf_counter() - t0
    finally:
        ix.PREFETCH_DEPTH = depth
    if result.failed or result.added != result.found:
        raise SystemExit(f"indexing failed: {result.summary()}")
    return wall, sw.seconds, result


def bare_inputs(ws, tracks: list[Path]) -> dict:
    """Ready inputs for the bare encoders: waveforms, log-mel patches, lyric chunks, cover images."""
    from encoders.images import load_image
    from scan import decode_audio, read_track

    p = ws.profile
    waves = [decode_audio(t, p.audio.sample_rate) for t in tracks]
    patches = [p.audio.patches(w)[1] for w in waves]
    infos = [read_track(t) for t in tracks]
    chunks = [c for i in infos if i.lyrics for c in p.lyrics.chunk_lyrics(i.lyrics)]
    covers = [load_image(i.cover) for i in infos if i.cover]
    return {"waves": waves, "patches": patches, "chunks": chunks, "covers": covers,
            "windows": int(sum(len(x) for x in patches)), "audio_s": float(sum(len(w) for w in waves) / p.audio.sample_rate)}


def run_bare(ws, inputs: dict) -> dict[str, float]:
    """Seconds of each bare encoder over all songs' ready inputs."""
    p = ws.profile
    out = {}
    t0 = time.perf_counter()
    for w in inputs["waves"]:
        p.audio.embed_song(w)
    out["audio (mel + net)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for x in inputs["patches"]:
        p.audio.run_patches(x)
    out["audio net only"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if inputs["chunks"]:
        p.lyrics.encode(inputs["chunks"], "lyrics")
    out["lyrics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for img in inputs["covers"]:  # one cover per song, as the indexer encodes them
        p.cover.encode([img], "image")
    out["cover"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="turns each mode takes, interleaved")
    parser.add_argument("--songs", type=int, default=28, help="demo tracks to index (at most 28)")
    parser.add_argument("--no-lyrics", action="store_true", help="index the demo tracks as they are (no lyrics)")
    parser.add_argument("--threads", type=int, help="torch threads (default: every core, as `crossgenre index` sets)")
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)

    report.prepare_torch(args.threads)
    from crossgenre.config import Config
    from crossgenre.fusing import refit_if_needed
    from crossgenre.workspace import open_for_indexing

    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    info = {"date": report.now(), "command": report.command("indexing.py", argv), "machine_before": report.machine()}

    with tempfile.TemporaryDirectory(prefix="crossgenre-indexing-") as tmp:
        library = Path(tmp) / "library"
        tracks = report.demo_library(library)[: args.songs]
        if not args.no_lyrics:
            write_lyrics(tracks)
        config = replace(Config(), data_dir=Path(tmp) / "data", model_dir=Path(tmp) / "models", profile="offline")
        ws = open_for_indexing(config, "offline")
        try:
            # warm-up: file cache, torch allocator, Milvus collections; then the fusion, fitted once
            warm_s, _, _ = run_indexer(ws, tracks[:4], prefetch=True)
            t0 = time.perf_counter()
            refit_if_needed(ws, progress=False)
            fit_s = time.perf_counter() - t0
            print(f"warm-up: 4 songs indexed in {warm_s:.1f} s, fusion fitted in {fit_s:.1f} s", flush=True)
            inputs = bare_inputs(ws, tracks)
            run_bare(ws, inputs)  # warm-up
            bare, e2e, seq = {}, [], []
            stages_seq: dict[str, float] = {}
            stages_pre: dict[str, float] = {}
            for r in range(args.rounds):
                for name, s in run_bare(ws, inputs).items():
                    bare[name] = bare.get(name, 0.0) + s
                print(f"round {r + 1}: bare encoders {sum(bare.values()):.1f} s so far", flush=True)
                wall, stages, _ = run_indexer(ws, tracks, prefetch=True)
                e2e.append(wall)
                for k, v in stages.items():
                    stages_pre[k] = stages_pre.get(k, 0.0) + v
                print(f"round {r + 1}: indexer (prefetch) {wall:.1f} s", flush=True)
                wall, stages, _ = run_indexer(ws, tracks, prefetch=False)
                print(f"round {r + 1}: indexer (sequential) {wall:.1f} s", flush=True)
                seq.append(wall)
                for k, v in stages.items():
                    stages_seq[k] = stages_seq.get(k, 0.0) + v
            versions = ws.profile.versions
        finally:
            ws.close()

    n = len(tracks) * args.rounds
    per_min = lambda seconds: round(60 * n / seconds, 2)  # noqa: E731
    bare_models = bare["audio (mel + net)"] + bare["lyrics"] + bare["cover"]
    bare_net = bare["audio net only"] + bare["lyrics"] + bare["cover"]
    seq_total = sum(seq)
    split = {s: round(stages_seq.get(s, 0.0) / n, 4) for s in STAGES}
    split["other (rows, bookkeeping)"] = round((seq_total - sum(stages_seq.get(s, 0.0) for s in STAGES)) / n, 4)
    out = {
        **info,
        "profile": versions,
        "songs": len(tracks),
        "rounds": args.rounds,
        "lyrics": "generated sidecar .txt, 30 lines" if not args.no_lyrics else "none",
        "audio_seconds_per_song": round(inputs["audio_s"] / len(tracks), 1),
        "windows_per_song": round(inputs["windows"] / len(tracks), 1),
        "lyric_chunks_per_song": round(len(inputs["chunks"]) / len(tracks), 1),
        "warmup_index_s": round(warm_s, 1),
        "fusion_fit_s": round(fit_s, 2),
        "songs_per_min": {
            "bare_encoders": per_min(bare_models),
            "bare_audio_net_only_plus_lyrics_cover": per_min(bare_net),
            "indexer_prefetch": per_min(sum(e2e)),
            "indexer_sequential": per_min(seq_total),
        },
        "ratio_indexer_over_bare": round(bare_models / sum(e2e), 3),
        "ratio_indexer_over_bare_net_only": round(bare_net / sum(e2e), 3),
        "ratio_sequential_over_bare": round(bare_models / seq_total, 3),
        "bare_s_per_song": {k: round(v / n, 4) for k, v in bare.items()},
        "stage_s_per_song_sequential": split,
        "stage_s_per_song_prefetch_overlapping": {s: round(stages_pre.get(s, 0.0) / n, 4) for s in STAGES},
        "indexer_s_per_song": {"prefetch": round(sum(e2e) / n, 4), "sequential": round(seq_total / n, 4)},
        "descriptors_share_of_sequential": round(stages_seq.get("descriptors", 0.0) / seq_total, 4),
        "machine_after": report.machine(),
    }
    print_table(out)
    print(f"\nwrote {report.write('indexing', out, args.out)}")
    return out


def print_table(out: dict) -> None:
    r = out["songs_per_min"]
    print(f"\n{out['songs']} demo tracks x {out['rounds']} rounds, {out['audio_seconds_per_song']} s audio and "
          f"{out['windows_per_song']} musicnn windows a song, lyrics: {out['lyrics']}; "
          f"load average {out['machine_before']['loadavg_1m']} -> {out['machine_after']['loadavg_1m']}")
    print(f"{out['lyric_chunks_per_song']} lyric chunks a song; torch threads {out['machine_before']['torch_threads']}")
    print(f"{'mode':48} {'songs/min':>10} {'ratio to bare':>14}")
    print(f"{'bare encoders (musicnn mel+net, MiniLM, cover)':48} {r['bare_encoders']:10.1f}")
    print(f"{'bare, musicnn network only (+ MiniLM, cover)':48} {r['bare_audio_net_only_plus_lyrics_cover']:10.1f}")
    print(f"{'indexer (decode prefetched)':48} {r['indexer_prefetch']:10.1f} {out['ratio_indexer_over_bare']:14.3f}")
    print(f"{'indexer, sequential':48} {r['indexer_sequential']:10.1f} {out['ratio_sequential_over_bare']:14.3f}")
    print(f"goal indexer / bare >= 0.8: {'met' if out['ratio_indexer_over_bare'] >= 0.8 else 'not met'}")
    print(f"\n{'stage (sequential run)':28} {'ms/song':>9} {'share':>7}")
    total = out["indexer_s_per_song"]["sequential"]
    for stage, s in out["stage_s_per_song_sequential"].items():
        print(f"{stage:28} {1000 * s:9.1f} {s / total:7.1%}")
    print(f"{'total':28} {1000 * total:9.1f}")
    print(f"musical descriptors: {out['descriptors_share_of_sequential']:.1%} of the per-song time (goal <= 15 %)")


if __name__ == "__main__":
    main()
