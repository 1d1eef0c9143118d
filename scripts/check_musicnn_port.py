"""Check the torch port of musicnn (encoders/musicnn.py) against the original TensorFlow code.

Two steps, in two environments (see docs/musicnn-port.md for the exact commands):

  --reference OUT.npz   in a throwaway venv with tensorflow, tf_keras, librosa, numpy<2 and
                        `musicnn` (--no-deps): decodes each track of the immich-memories-music
                        package to 16 kHz mono (decode_16k_mono), writes it as a float WAV, runs
                        musicnn's own extractor() unchanged on that file (its librosa.load passes a
                        16 kHz file through untouched) and saves the waveform, per-patch tag
                        probabilities and penultimate vectors.
  --compare REF.npz     in the project venv: runs our MusicnnEncoder on the same waveforms and prints
                        the differences, per track and overall; exits 1 above --tolerance (tag
                        probabilities, max abs diff).

Only the reference step imports TensorFlow; only the compare step imports torch and the project.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def immich_tracks() -> list[Path]:
    """The 28 tracks of immich-memories-music, sorted by mood folder and name."""
    import immich_memories_music

    return sorted(immich_memories_music.tracks_dir().glob("*/*.opus"))


def decode_16k_mono(path: Path) -> np.ndarray:
    """Opus 48 kHz stereo -> 16 kHz mono float32: soundfile decodes, scipy's polyphase filter resamples.

    The same in both venvs (bit for bit with soundfile 0.14 / libsndfile 1.2.2 / scipy 1.17), so the
    tests can pin reference outputs for a waveform they decode themselves.
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr % 16000:
        raise ValueError(f"{path}: {sr} Hz is not a multiple of 16 kHz")
    return resample_poly(audio.mean(axis=1), 1, sr // 16000).astype(np.float32)


def reference(out: Path, model: str) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1.layers needs tf_keras on TF >= 2.16
    import tempfile

    import librosa
    import soundfile as sf
    import tensorflow as tf
    from musicnn import configuration, extractor

    # extractor() feeds the patches in batches of BATCH_SIZE, but for every batch after the first it
    # re-appends the first batch's penultimate vectors (a bug in musicnn 0.1.0): one batch avoids it.
    configuration.BATCH_SIZE = 100_000
    arrays = {"model": np.array(model), "versions": np.array(f"tensorflow {tf.__version__}, librosa {librosa.__version__}, numpy {np.__version__}")}
    tmp = Path(tempfile.mkdtemp())
    for path in immich_tracks():
        key = f"{path.parent.name}/{path.stem}"
        wave = decode_16k_mono(path)
        wav = tmp / f"{path.stem}.wav"
        sf.write(wav, wave, configuration.SR, subtype="FLOAT")
        assert np.array_equal(librosa.load(str(wav), sr=configuration.SR)[0], wave)  # what extractor() will see
        taggram, _, features = extractor.extractor(str(wav), model=model, input_length=3, input_overlap=False, extract_features=True)
        arrays[f"{key}/wave"] = wave.astype(np.float32)
        arrays[f"{key}/tags"] = taggram.astype(np.float32)
        arrays[f"{key}/penultimate"] = features["penultimate"].astype(np.float32)
        print(f"{key}: {taggram.shape[0]} patches", flush=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}")


def compare(ref_path: Path, tolerance: float) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch

    from encoders.musicnn import PATCH_FRAMES, build

    torch.set_num_threads(2)
    ref = np.load(ref_path)
    model = str(ref["model"])
    enc = build({"model": model}, Path("."))
    keys = sorted({k.rsplit("/", 1)[0] for k in ref.files if k.endswith("/wave")})
    print(f"reference: {ref['versions']}; ours: torch {torch.__version__}, {enc.name}")
    print(f"{'track':40s} {'patches':>7s} {'tags max':>9s} {'tags mean':>9s} {'song tags':>9s} {'pen max':>8s} {'pen cos min':>11s}")
    worst_tags, worst_song, worst_pen, all_tag_diffs, min_cos = 0.0, 0.0, 0.0, [], 1.0
    for key in keys:
        out = enc.analyse(ref[f"{key}/wave"])
        ref_tags, ref_pen = ref[f"{key}/tags"], ref[f"{key}/penultimate"]
        n = len(ref_tags)
        # musicnn's patches start every 187 frames and drop the tail; ours are the same plus a tail window
        expected = np.arange(n) * PATCH_FRAMES * 256 / 16000
        assert np.allclose(out.starts[:n], expected), (key, out.starts[:n], expected)
        tag_diff = np.abs(out.tags[:n] - ref_tags)
        song_diff = np.abs(out.tags[:n].mean(0) - ref_tags.mean(0)).max()
        pen_diff = np.abs(out.penultimate[:n] - ref_pen).max()
        cos = (out.penultimate[:n] * ref_pen).sum(1) / np.linalg.norm(out.penultimate[:n], axis=1) / np.linalg.norm(ref_pen, axis=1)
        print(f"{key:40s} {n:7d} {tag_diff.max():9.2e} {tag_diff.mean():9.2e} {song_diff:9.2e} {pen_diff:8.2e} {cos.min():11.8f}")
        worst_tags, worst_song, worst_pen = max(worst_tags, tag_diff.max()), max(worst_song, song_diff), max(worst_pen, pen_diff)
        min_cos = min(min_cos, cos.min())
        all_tag_diffs.append(tag_diff.ravel())
    diffs = np.concatenate(all_tag_diffs)
    print(
        f"\n{len(keys)} tracks, {len(diffs) // 50} patches: tag probabilities max abs diff {worst_tags:.2e}, "
        f"mean {diffs.mean():.2e}; song-level tags max {worst_song:.2e}; penultimate max abs diff {worst_pen:.2e}, "
        f"min cosine {min_cos:.8f}"
    )
    ok = worst_tags <= tolerance
    print(("PASS" if ok else "FAIL") + f": tolerance {tolerance:g} on tag probabilities")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--reference", type=Path, metavar="OUT.npz", help="run the original TF musicnn (TF venv)")
    mode.add_argument("--compare", type=Path, metavar="REF.npz", help="compare our port with a reference file")
    parser.add_argument("--model", default="MSD_musicnn", choices=["MSD_musicnn", "MTT_musicnn"])
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    if args.reference:
        reference(args.reference, args.model)
        return 0
    return compare(args.compare, args.tolerance)


if __name__ == "__main__":
    sys.exit(main())
