"""musicnn in torch: the TF checkpoint reader on the installed weights, outputs pinned to the original
TensorFlow code, window timing, sampling, determinism and batching.

The pinned numbers come from scripts/check_musicnn_port.py --reference (musicnn 0.1.0's own extractor
on TensorFlow 2.21, docs/musicnn-port.md), for the first 10 s of two tracks of immich-memories-music,
decoded here exactly as the reference run decoded them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from scan.errors import ModelMissingError
from encoders import musicnn
from encoders.musicnn import MusicnnNet, build, checkpoint_dir, load_tf_weights, mel_filterbank
from encoders.tf_checkpoint import CheckpointFormatError, read_checkpoint, read_index

SR = 16000
TOL = 1e-3

# (track, patch) -> ({tag: probability}, {penultimate index: value of the L2-normalised penultimate})
PINNED_MSD = {
    ("calm/calm_acoustic_1", 0): ({"acoustic": 0.41576, "indie": 0.27363, "folk": 0.26571}, {53: 0.19658, 110: 0.18112, 160: 0.21168, 179: 0.17505}),
    ("calm/calm_acoustic_1", 2): ({"acoustic": 0.44617, "folk": 0.31495, "indie": 0.27817}, {31: 0.20608, 53: 0.21072, 179: 0.21054, 191: 0.18503}),
    ("energetic/energetic_electronic_2", 0): ({"electronic": 0.53158, "dance": 0.18493, "electronica": 0.16275}, {37: 0.19748, 46: 0.21275, 150: 0.23496, 181: 0.193}),
    ("energetic/energetic_electronic_2", 2): ({"electronic": 0.47382, "electronica": 0.1548, "chillout": 0.14416}, {20: 0.1954, 27: 0.19316, 150: 0.22277, 181: 0.23993}),
}  # fmt: skip
PINNED_MTT = {
    ("calm/calm_acoustic_1", 0): ({"guitar": 0.85886, "slow": 0.31303, "country": 0.1239}, {0: 0.2064, 34: 0.21329, 59: 0.18452, 185: 0.263}),
    ("calm/calm_acoustic_1", 2): ({"guitar": 0.82191, "slow": 0.188, "vocal": 0.15194}, {0: 0.25024, 115: 0.25911, 184: 0.21096, 185: 0.21869}),
}  # fmt: skip


def decode_16k_mono(path: Path) -> np.ndarray:
    """As scripts/check_musicnn_port.py decodes for the reference: soundfile, then a polyphase resampler."""
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample_poly(audio.mean(axis=1), 1, sr // SR).astype(np.float32)


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """The first 10 s (3 patches; the third ends at 8.98 s, so cutting changes none of them) of two tracks."""
    import immich_memories_music

    root = immich_memories_music.tracks_dir()
    return {key: decode_16k_mono(root / f"{key}.opus")[: 10 * SR] for key, _ in PINNED_MSD}


@pytest.fixture(scope="module")
def encoder():
    """The reference path (torch), which the TensorFlow numbers pin; the fast path is pinned to it below."""
    torch.set_num_threads(2)
    return build({"family": "musicnn", "model": "MSD_musicnn", "exact": True}, Path("/nonexistent"))


# ---------------------------------------------------------------- checkpoint reader


def test_index_lists_every_tensor_of_the_real_checkpoint():
    folder = checkpoint_dir("MSD_musicnn")
    entries = read_index(folder / ".index")
    assert len(entries) == 150
    assert sum("/Adam" in name for name in entries) == 84  # two Adam slots for each of 42 trainable tensors
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert entries["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert entries["conv2d_2/kernel"].shape == (128, 1, 1, 51)
    assert entries["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert entries["batch_normalization_9/moving_mean"].shape == (1506,)
    assert entries["dense/kernel"].shape == (1506, 200)
    assert entries["dense_1/kernel"].shape == (200, 50)
    assert entries["beta1_power"].shape == ()
    assert {e.dtype for e in entries.values()} == {np.dtype("<f4")}
    # the tensors tile the data file: no gaps, no overlaps
    spans = sorted((e.offset, e.size) for e in entries.values())
    assert spans[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))
    assert spans[-1][0] + spans[-1][1] == (folder / ".data-00000-of-00001").stat().st_size


def test_checkpoint_values_are_plausible():
    tensors = read_checkpoint(checkpoint_dir("MSD_musicnn"))
    variances = [v for name, v in tensors.items() if name.endswith("moving_variance")]
    assert len(variances) == 11 and all((v > 0).all() for v in variances)
    assert tensors and all(np.isfinite(v).all() for v in tensors.values())
    assert tensors["dense_1/bias"].dtype == np.float32 and tensors["dense_1/bias"].flags.writeable


def test_reader_rejects_a_file_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "x.index").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointFormatError, match="magic"):
        read_index(tmp_path / "x.index")


def test_weight_loading_fails_loudly_on_missing_or_unused_tensors():
    tensors = read_checkpoint(checkpoint_dir("MSD_musicnn"))
    missing = {k: v for k, v in tensors.items() if k != "conv2d_3/bias"}
    with pytest.raises(ValueError, match="conv2d_3/bias"):
        load_tf_weights(MusicnnNet(), missing)
    extra = dict(tensors, **{"conv2d_8/kernel": np.zeros((1,), np.float32)})
    with pytest.raises(ValueError, match="conv2d_8/kernel"):
        load_tf_weights(MusicnnNet(), extra)
    wrong = dict(tensors, **{"dense/bias": np.zeros((199,), np.float32)})
    with pytest.raises(ValueError, match="dense/bias"):
        load_tf_weights(MusicnnNet(), wrong)


# ---------------------------------------------------------------- front end and outputs


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    expected = librosa.filters.mel(sr=SR, n_fft=512, n_mels=96)
    np.testing.assert_allclose(mel_filterbank(), expected, atol=1e-7)


@pytest.mark.parametrize("key,patch", list(PINNED_MSD))
def test_msd_outputs_match_the_tensorflow_reference(encoder, clips, key, patch):
    out = encoder.analyse(clips[key])
    tags, pen = PINNED_MSD[(key, patch)]
    names = encoder.tag_names
    for tag, prob in tags.items():
        assert out.tags[patch, names.index(tag)] == pytest.approx(prob, abs=TOL)
    unit = out.penultimate[patch] / np.linalg.norm(out.penultimate[patch])
    for index, value in pen.items():
        assert unit[index] == pytest.approx(value, abs=TOL)


def test_mtt_outputs_match_the_tensorflow_reference(clips):
    enc = build({"model": "MTT_musicnn", "exact": True}, Path("/nonexistent"))
    assert enc.name == "musicnn-MTT-v1" and enc.tag_names[0] == "guitar"
    out = enc.analyse(clips["calm/calm_acoustic_1"])
    for (_, patch), (tags, pen) in PINNED_MTT.items():
        for tag, prob in tags.items():
            assert out.tags[patch, enc.tag_names.index(tag)] == pytest.approx(prob, abs=TOL)
        unit = out.penultimate[patch] / np.linalg.norm(out.penultimate[patch])
        for index, value in pen.items():
            assert unit[index] == pytest.approx(value, abs=TOL)


def test_embed_song_shapes_normalisation_and_timing(encoder, clips):
    wave = clips["calm/calm_acoustic_1"]  # 10 s: three full windows, a 1.02 s tail too short to keep
    emb = encoder.embed_song(wave)
    assert encoder.dim == 200 and encoder.sample_rate == SR
    assert encoder.window_seconds == pytest.approx(2.992)
    assert emb.windows.shape == (3, 200) and emb.windows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.windows, axis=1), 1.0, atol=1e-6)
    assert np.linalg.norm(emb.track) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(emb.starts, [0.0, 2.992, 5.984])
    np.testing.assert_allclose(emb.ends, emb.starts + 2.992)
    assert emb.tags.shape == (50,) and ((emb.tags > 0) & (emb.tags < 1)).all()
    np.testing.assert_allclose(emb.tags, encoder.analyse(wave).tags.mean(axis=0), atol=1e-7)


def test_a_long_enough_tail_gets_its_own_window(encoder):
    import immich_memories_music

    wave = decode_16k_mono(immich_memories_music.tracks_dir() / "happy/happy_acoustic_1.opus")[: 11 * SR]
    emb = encoder.embed_song(wave)
    # 11 s: windows at 0, 2.992, 5.984 s leave a 2.02 s tail (over half a window): one more window ends at the end
    assert len(emb.starts) == 4
    assert emb.starts[-1] == pytest.approx(11 - 2.992, abs=256 / SR)
    assert emb.ends[-1] <= 11 + 256 / SR


def test_max_windows_samples_evenly_and_keeps_window_vectors():
    import immich_memories_music

    wave = decode_16k_mono(immich_memories_music.tracks_dir() / "calm/calm_acoustic_1.opus")  # 32.3 s
    full = build({"model": "MSD_musicnn"}, Path("/nonexistent")).embed_song(wave)
    sampled = build({"model": "MSD_musicnn", "max_windows": 4}, Path("/nonexistent")).embed_song(wave)
    assert len(full.starts) == 11 and len(sampled.starts) == 4  # 10 full windows and the 2.4 s tail
    assert sampled.starts[0] == 0 and sampled.starts[-1] == full.starts[-1]
    # each sampled window is the full-coverage window at the same start
    idx = [int(np.flatnonzero(np.isclose(full.starts, s))[0]) for s in sampled.starts]
    np.testing.assert_allclose(sampled.windows, full.windows[idx], atol=1e-6)


def test_deterministic_and_batch_size_independent(clips):
    wave = clips["energetic/energetic_electronic_2"]
    one = build({"model": "MSD_musicnn", "batch_size": 1}, Path("/nonexistent")).analyse(wave)
    many = build({"model": "MSD_musicnn", "batch_size": 16}, Path("/nonexistent"))
    a, b = many.analyse(wave), many.analyse(wave)
    np.testing.assert_array_equal(a.tags, b.tags)
    np.testing.assert_array_equal(a.penultimate, b.penultimate)
    np.testing.assert_allclose(one.tags, a.tags, atol=1e-6)
    np.testing.assert_allclose(one.penultimate, a.penultimate, atol=1e-4)


def test_encode_gives_one_pooled_vector_per_clip(encoder, clips):
    waves = list(clips.values())
    vectors = encoder.encode(waves, "audio")
    assert vectors.shape == (2, 200)
    np.testing.assert_allclose(vectors[0], encoder.embed_song(waves[0]).track, atol=1e-6)
    with pytest.raises(ValueError):
        encoder.encode(["a text"], "text")


def test_short_clip_is_repeat_padded_and_empty_audio_refused(encoder, clips):
    emb = encoder.embed_song(clips["calm/calm_acoustic_1"][:SR])  # 1 s
    assert emb.windows.shape == (1, 200) and np.isfinite(emb.windows).all()
    assert emb.starts[0] == 0.0
    with pytest.raises(ValueError, match="non-empty mono"):
        encoder.embed_song(np.zeros(0, np.float32))


def test_fast_path_gives_the_exact_paths_vectors():
    """The default CPU path (ONNX Runtime with INT8 timbral convolutions, log-mel over the kept windows
    only) against the reference path (torch, whole-song log-mel): the same windows, every window vector
    within cosine 0.995 of the reference's (0.997 measured on the 28 demo tracks; a network with every
    convolution in INT8 falls to 0.98), tags within 0.06 (0.042), sampled or not, for a song, a clip a
    little longer than a window, and one shorter than a window."""
    import immich_memories_music

    wave = decode_16k_mono(immich_memories_music.tracks_dir() / "happy/happy_acoustic_1.opus")  # not calibrated on
    for max_windows in (None, 4):
        fast = build({"model": "MSD_musicnn", "max_windows": max_windows}, Path("/nonexistent"))
        exact = build({"model": "MSD_musicnn", "max_windows": max_windows, "exact": True}, Path("/nonexistent"))
        assert isinstance(fast.net, musicnn.OnnxMusicnn) and isinstance(exact.net, MusicnnNet)
        for clip in (wave, wave[: int(3.3 * SR)], wave[: SR // 2]):
            a, b = fast.embed_song(clip), exact.embed_song(clip)
            np.testing.assert_array_equal(a.starts, b.starts)
            assert (a.windows * b.windows).sum(axis=1).min() > 0.995
            np.testing.assert_allclose(a.tags, b.tags, atol=0.06)


def test_fast_path_keeps_its_int8_graph_in_the_model_folder(tmp_path, monkeypatch):
    """Calibrated once, then read back from the model folder by a process that has not built it."""
    first = build({"model": "MSD_musicnn"}, tmp_path)
    [cached] = (tmp_path / "musicnn").glob("MSD_musicnn-int8-*.onnx")
    monkeypatch.setattr(musicnn, "_quantized", {})  # a new process
    monkeypatch.setattr(musicnn, "calibration_patches", lambda *a: pytest.fail("calibrated again"))
    second = build({"model": "MSD_musicnn"}, tmp_path)
    assert list(musicnn._quantized) == [cached.stem]
    patches = torch.rand(3, musicnn.PATCH_FRAMES, musicnn.N_MELS) * 3
    np.testing.assert_array_equal(first.net(patches)[0], second.net(patches)[0])


# ---------------------------------------------------------------- factory


def test_build_from_the_offline_profile_settings():
    enc = build({"family": "musicnn", "model": "MSD_musicnn", "max_windows": 40}, Path("/nonexistent"))
    assert enc.name == "musicnn-MSD-v1"
    assert enc.window_policy == "sampled:40"
    assert len(enc.tag_names) == 50 and enc.tag_names[:2] == ["rock", "pop"] and enc.tag_names[-1] == "happy"


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="MSD_musicnn, MTT_musicnn"):
        build({"model": "MSD_vgg"}, Path("/nonexistent"))


def test_missing_weights_package_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(musicnn.importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real_find_spec(name, *a))
    with pytest.raises(ModelMissingError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        build({"model": "MSD_musicnn"}, Path("/nonexistent"))


def test_offline_profile_is_fast_by_default_and_exact_on_request(tmp_path):
    from encoders.profile import load_profile

    fast, exact = load_profile("offline", tmp_path), load_profile("offline", tmp_path, exact=True)
    assert isinstance(fast.audio.net, musicnn.OnnxMusicnn) and fast.audio.mel_per_window
    assert isinstance(exact.audio.net, MusicnnNet) and not exact.audio.mel_per_window
    assert fast.versions == exact.versions  # one index, either path


def test_a_second_tagger_adds_its_tags_from_some_of_the_same_patches(encoder, clips):
    """MSD_musicnn with MTT_musicnn beside it: the embedding and the first 50 tags are MSD's own, the
    next 50 are MTT's tags averaged over the patches it was given (here 2 of 3: the first and last)."""
    clip = clips["calm/calm_acoustic_1"]
    both = build({"model": "MSD_musicnn", "also": "MTT_musicnn", "also_windows": 2, "exact": True}, Path("/nonexistent"))
    mtt = build({"model": "MTT_musicnn", "exact": True}, Path("/nonexistent"))
    assert both.name == "musicnn-MSD+MTT-v1"
    assert len(both.tag_names) == 100 and both.tag_names[50] == "mtt:guitar" and both.tag_names[:50] == encoder.tag_names
    emb, alone = both.embed_song(clip), encoder.embed_song(clip)
    np.testing.assert_allclose(emb.windows, alone.windows, atol=1e-5)
    np.testing.assert_allclose(emb.tags[:50], alone.tags, atol=1e-5)
    per_patch = mtt.analyse(clip).tags
    assert per_patch.shape[0] == 3
    np.testing.assert_allclose(emb.tags[50:], per_patch[[0, 2]].mean(axis=0), atol=1e-5)
    assert emb.tags[50 + mtt.tag_names.index("guitar")] > 0.5  # an acoustic guitar track
