"""The full profile's encoders (LAION CLAP, OpenCLIP) and its model files, without the hub.

Tiny random-weight models of the real architectures (laion_clap's HTSAT-tiny with a one-layer RoBERTa,
a small OpenCLIP ViT) are written in the published formats into a temporary model dir, at the paths
encoders/profiles/full.json names, and loaded through build_audio/build_text/openclip.build. The
download (through huggingface_hub) is tested against a loopback stand-in for the hub's file endpoint.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import numpy as np
import pytest

from scan.errors import ModelMissingError
from encoders import clap, models, openclip
from encoders.profile import read_profile_settings
from tests.fixtures.random_models import write_model_dir

SR = clap.SAMPLE_RATE


@pytest.fixture(scope="module")
def full_settings(tmp_path_factory) -> tuple[Path, dict]:
    model_dir = tmp_path_factory.mktemp("models")
    return model_dir, write_model_dir(model_dir, read_profile_settings("full"), size="tiny")


@pytest.fixture(scope="module")
def audio(full_settings) -> clap.ClapAudioEncoder:
    model_dir, settings = full_settings
    return clap.build_audio({**settings["audio"], "max_windows": None}, model_dir)


@pytest.fixture(scope="module")
def text(full_settings) -> clap.ClapTextEncoder:
    model_dir, settings = full_settings
    return clap.build_text(settings["describe"], model_dir)


@pytest.fixture(scope="module")
def cover(full_settings) -> openclip.OpenClipEncoder:
    model_dir, settings = full_settings
    return openclip.build(settings["cover"], model_dir)


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
    return (tone + 0.1 * rng.standard_normal(t.size)).astype(np.float32)


# -- CLAP ------------------------------------------------------------------------------------------------


def test_clap_facts(audio, text):
    assert audio.name == "laion-clap:HTSAT-tiny:music_audioset_epoch_15_esc_90.14.pt"
    assert (audio.sample_rate, audio.window_seconds, audio.dim) == (48000, 10.0, 512)
    assert text.dim == audio.dim and text.modalities == ("text",)
    assert text.name.startswith(audio.name)
    assert text.clap is audio.clap  # one loaded module for both towers


def test_windows_cover_a_25s_song(audio):
    song = _noise(25.0, seed=1)
    full = audio.embed_song(song)
    np.testing.assert_allclose(full.starts, [0.0, 10.0, 15.0])
    np.testing.assert_allclose(full.ends, [10.0, 20.0, 25.0])
    assert full.windows.shape == (3, 512) and full.windows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(full.windows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(full.track), 1.0, atol=1e-5)

    sampled = clap.ClapAudioEncoder(audio.clap, max_windows=2)
    assert sampled.window_policy == "sampled:2" and audio.window_policy == "full"
    assert clap.ClapAudioEncoder(audio.clap, max_windows=0).window_policy == "full"  # the config's "0: all"
    few = sampled.embed_song(song)
    np.testing.assert_allclose(few.starts, [0.0, 15.0])
    np.testing.assert_allclose(few.ends, [10.0, 25.0])
    # the same window gives the same vector whichever policy chose it
    np.testing.assert_allclose(few.windows, full.windows[[0, 2]], atol=1e-5)


def test_short_clip_is_one_window_ending_at_its_length(audio):
    emb = audio.embed_song(_noise(3.5, seed=2))
    assert emb.windows.shape == (1, 512)
    np.testing.assert_allclose([emb.starts[0], emb.ends[0]], [0.0, 3.5])


def test_deterministic_and_batch_equals_singles(audio):
    songs = [_noise(s, seed=10 + i) for i, s in enumerate([4.0, 12.0])]
    batched = audio.embed_songs(songs)  # three windows of two songs in one batch
    singles = [audio.embed_song(s) for s in songs]
    for b, s in zip(batched, singles):
        np.testing.assert_allclose(b.windows, s.windows, atol=1e-4)
        np.testing.assert_allclose(b.track, s.track, atol=1e-4)
        np.testing.assert_array_equal(b.starts, s.starts)
    # the same batch again gives the very same pooled vectors
    np.testing.assert_array_equal(audio.encode(songs, "audio"), np.stack([b.track for b in batched]))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def _laion_per_window(audio, windows: list[np.ndarray]) -> np.ndarray:
    """laion_clap's own path, one window at a time: numpy preparation, then its model."""
    import torch

    with torch.inference_mode():
        return np.concatenate([audio.clap.module.get_audio_embedding_from_data([w], use_tensor=False) for w in windows])


def test_stack_windows_repeats_short_windows_whole_then_pads():
    w = np.array([0.1, -0.2, 0.3], np.float32)
    rows = clap.stack_windows([w, np.arange(10, dtype=np.float32) / 10], 10).numpy()
    np.testing.assert_array_equal(rows[0], np.concatenate([w, w, w, [0.0]]).astype(np.float32))
    np.testing.assert_array_equal(rows[1], np.arange(10, dtype=np.float32) / 10)
    with pytest.raises(ValueError, match="at most 10 samples"):
        clap.stack_windows([np.zeros(11, np.float32)], 10)


def test_batched_windows_equal_laion_per_window(audio):
    """Clean 10 s windows, short windows and loud ones (clipped by the 16-bit round trip), in one batch,
    give laion_clap's per-window vectors."""
    clean = [_noise(10.0, seed=30 + i) for i in range(3)]
    short = [_noise(s, seed=40 + i) for i, s in enumerate([0.5, 3.3, 7.0, 9.99])]
    loud = [3.0 * _noise(10.0, seed=50)]
    windows = clean + short + loud
    batched = audio.embed_windows(windows)
    assert batched.shape == (len(windows), 512)
    assert _cosines(batched, _laion_per_window(audio, windows)).min() >= 0.9999


def test_short_song_equals_laion(audio):
    song = _noise(4.2, seed=60)
    ours = audio.embed_song(song).track[None]
    assert _cosines(ours, _laion_per_window(audio, [song]))[0] >= 0.9999


def test_precision_is_checked(audio):
    assert audio.precision == ("fp16" if audio.clap.device.startswith("cuda") else "fp32")
    with pytest.raises(ValueError, match="precision"):
        clap.ClapAudioEncoder(audio.clap, precision="int4")
    if not audio.clap.device.startswith("cuda"):
        with pytest.raises(ValueError, match="CUDA"):
            clap.ClapAudioEncoder(audio.clap, precision="fp16")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_on_cuda_keeps_vectors_of_real_tracks(full_settings):
    """On a GPU, fp16 autocast gives vectors within cosine 0.999 of fp32 on the demo tracks' audio."""
    music = pytest.importorskip("immich_memories_music")
    import soundfile as sf

    model_dir, settings = full_settings
    fp32 = clap.build_audio({**settings["audio"], "device": "cuda", "precision": "fp32", "max_windows": None}, model_dir)
    fp16 = clap.ClapAudioEncoder(fp32.clap, precision="fp16")
    tracks = sorted(music.tracks_dir().rglob("*.opus"))[:6]
    songs = [sf.read(str(t), dtype="float32", always_2d=True)[0].mean(axis=1) for t in tracks]  # Opus is 48 kHz
    a = np.concatenate([e.windows for e in fp32.embed_songs(songs)])
    b = np.concatenate([e.windows for e in fp16.embed_songs(songs)])
    assert _cosines(a, b).min() >= 0.999


def test_bad_waveforms_are_refused(audio):
    with pytest.raises(ValueError, match="empty"):
        audio.embed_song(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="mono"):
        audio.embed_song(np.zeros((2, SR), np.float32))
    with pytest.raises(ValueError, match="image"):
        audio.encode([np.zeros(SR, np.float32)], "image")


def test_text_lands_in_the_audio_space(audio, text):
    queries = ["slow brushed drums", "energetic electronic dance music", "", "a " * 200]
    vectors = text.encode(queries)
    assert vectors.shape == (4, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(text.encode(queries[:1]), vectors[:1], atol=1e-4)  # batch == single
    assert not np.allclose(vectors[0], vectors[1])  # a working tokenizer tells texts apart
    scores = vectors @ audio.embed_song(_noise(5.0, seed=3)).track
    assert scores.shape == (4,) and np.all(np.abs(scores) <= 1.0 + 1e-5)


def test_missing_checkpoint_names_file_and_command(tmp_path):
    settings = read_profile_settings("full")["audio"]
    with pytest.raises(ModelMissingError) as info:
        clap.build_audio(settings, tmp_path)
    message = str(info.value)
    assert "clap/music_audioset_epoch_15_esc_90.14.pt" in message
    assert "crossgenre models download" in message
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert len(traceback.extract_tb(info.value.__traceback__)) <= 4  # raised at the door, not deep inside torch


def test_incomplete_tokenizer_is_refused(audio, tmp_path):
    # the offline trap: from a folder without vocabulary files RobertaTokenizer quietly comes back with 5 tokens
    import transformers

    hollow = transformers.RobertaTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    vocab_size = audio.clap.module.model.text_branch.config.vocab_size
    with pytest.raises(ModelMissingError, match="tokenizer in .* has 5 tokens"):
        clap.check_tokenizer(hollow, tmp_path, vocab_size)
    clap.check_tokenizer(audio.clap.module.tokenize, tmp_path, vocab_size)  # the real folder passes


def test_checkpoint_of_another_architecture_is_refused(full_settings):
    model_dir, settings = full_settings
    with pytest.raises(ModelMissingError, match="does not fit"):
        clap.build_audio({**settings["audio"], "amodel": "PANN-6"}, model_dir)


# -- OpenCLIP --------------------------------------------------------------------------------------------


def _covers(n: int) -> list:
    from PIL import Image

    rng = np.random.default_rng(5)
    sizes = [(300, 300), (500, 420), (64, 90), (1200, 1200)]
    images = [Image.fromarray(rng.integers(0, 255, (*sizes[i % 4], 3), dtype=np.uint8)) for i in range(n)]
    images[1] = images[1].convert("L")  # greyscale covers exist
    return images


def test_openclip_images_and_text(cover):
    assert cover.name == "openclip:ViT-B-32:laion2b_s34b_b79k"
    assert cover.modalities == ("image", "text") and cover.dim == 32
    images = _covers(5)
    vectors = cover.encode(images, "image")
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(cover.encode(images, "image"), vectors)
    singles = np.concatenate([cover.encode([im], "image") for im in images])
    np.testing.assert_allclose(vectors, singles, atol=1e-4)
    # batched preprocessing gives open_clip's own per-image preprocessing, to the bit
    reference = np.stack([cover.preprocess(im.convert("RGB")).numpy() for im in images])
    np.testing.assert_allclose(cover.pixels(images).numpy(), reference, atol=1e-6)
    texts = cover.encode(["a red album cover with a skull", "jazz"], "text")
    assert texts.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert cover.encode([], "image").shape == (0, 32)
    with pytest.raises(ValueError, match="audio"):
        cover.encode(images, "audio")


def test_openclip_resize_in_torch_matches_pil(cover):
    """The GPU cover path (resize and crop in torch), run here on the CPU, gives PIL's pixels within a grey
    level or two and the same vectors."""
    import torch

    assert cover._resize_crop is not None and not cover.resize_on_device  # a CPU encoder keeps PIL
    images = _covers(6)
    pil, torch_px = cover.pixels(images), cover.pixels_on_device(images)
    assert torch_px.shape == pil.shape
    grey_level = 1 / 255 / min(cover._normalize.std)
    assert float((torch_px - pil).abs().max()) <= 3 * grey_level
    with torch.inference_mode():
        a = cover.model.encode_image(pil, normalize=True).numpy()
        b = cover.model.encode_image(torch_px, normalize=True).numpy()
    assert _cosines(a, b).min() >= 0.9999


def test_openclip_missing_weights(full_settings, tmp_path):
    _, settings = full_settings
    with pytest.raises(ModelMissingError) as info:
        openclip.build(settings["cover"], tmp_path)
    assert "open_clip_config.json" in str(info.value) and "crossgenre models download" in str(info.value)
    assert info.value.__context__ is None


# -- model files -----------------------------------------------------------------------------------------


def test_missing_files_and_list_models(full_settings, tmp_path):
    model_dir, _ = full_settings
    full = read_profile_settings("full")
    assert models.missing_files(full, model_dir) == []
    assert models.missing_files(read_profile_settings("offline"), tmp_path) == []
    missing = models.missing_files(full, tmp_path)
    assert missing == [f.path for f in models.FULL_FILES]  # every downloadable file, profile order, once
    rows = {row["file"]: row for row in models.list_models(model_dir)}
    assert set(rows) == {f.path for f in models.FULL_FILES}
    ckpt = rows["clap/music_audioset_epoch_15_esc_90.14.pt"]
    assert ckpt["present"] and ckpt["size"] == (model_dir / ckpt["file"]).stat().st_size
    assert ckpt["expected_size"] == 2_352_471_003
    assert not any(row["present"] for row in models.list_models(tmp_path))


def test_default_model_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSGENRE_MODEL_DIR", str(tmp_path / "m"))
    assert models.default_model_dir() == tmp_path / "m"
    monkeypatch.delenv("CROSSGENRE_MODEL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert models.default_model_dir() == tmp_path / "xdg" / "crossgenre" / "models"


class _Hub:
    """A loopback stand-in for the Hugging Face Hub's file endpoint (HEAD for the metadata, GET honouring
    Range), serving in-memory files, that can cut its first GET short."""

    def __init__(self, files: dict[str, bytes], cut_first: bool = False):
        self.files, self.cut_first, self.gets = files, cut_first, []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _head(self) -> bytes | None:
                body = hub.files.get(self.path)  # /<repo>/resolve/<revision>/<name>
                if body is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return body

            def do_HEAD(self):
                if (body := self._head()) is not None:
                    self.send_response(200)
                    self.send_header("X-Repo-Commit", self.path.split("/")[4])
                    self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()

            def do_GET(self):
                hub.gets.append((self.path, self.headers.get("Range")))
                if (body := self._head()) is None:
                    return
                start = int(self.headers["Range"][len("bytes="):].split("-")[0]) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if hub.cut_first and len(hub.gets) == 1:
                    self.wfile.write(body[: len(body) // 3])  # then hang up mid-body
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


REV = "0123456789abcdef0123456789abcdef01234567"


def _spec(path: str, body: bytes, sha256: str | None = None) -> models.ModelFile:
    digest = hashlib.sha256(body).hexdigest() if sha256 is None else sha256
    return models.ModelFile(f"sub/{path}", "someone/weights", REV, digest, len(body), "test file")


def test_download_through_the_hub_library_survives_a_dropped_connection(tmp_path):
    body = np.random.default_rng(0).bytes(300_000)
    served = {f"/someone/weights/resolve/{REV}/w.bin": body, f"/someone/weights/resolve/{REV}/small.json": b"{}"}
    with _Hub(served, cut_first=True) as hub:
        unchecked = models.ModelFile("sub/small.json", "someone/weights", REV, None, None, "no published checksum")
        files = (_spec("w.bin", body), unchecked)
        fetched = models.download(tmp_path, progress=False, files=files, endpoint=hub.endpoint)
        assert fetched == ["sub/w.bin", "sub/small.json"]
        assert (tmp_path / "sub/w.bin").read_bytes() == body and (tmp_path / "sub/small.json").read_bytes() == b"{}"
        # the cut connection was retried (the library resumes from the last whole chunk it wrote)
        assert [path.rsplit("/", 1)[1] for path, _ in hub.gets] == ["w.bin", "w.bin", "small.json"]
        # a file that is not there, and a download that is not the published file (deleted, not kept)
        with pytest.raises(models.ModelDownloadError, match="x.bin"):
            models.download(tmp_path, progress=False, files=(_spec("x.bin", b"?"),), endpoint=hub.endpoint)
        wrong = _spec("w2.bin", body, sha256="0" * 64)
        hub.files[f"/someone/weights/resolve/{REV}/w2.bin"] = body
        with pytest.raises(models.ModelDownloadError, match="sha256") as info:
            models.download(tmp_path, progress=False, files=(wrong,), endpoint=hub.endpoint)
        assert "sub/w2.bin" in str(info.value) and not (tmp_path / "sub/w2.bin").exists()


def test_download_keeps_present_files_and_offline_names_the_command(tmp_path):
    """Files already in the model dir (made here) are checked and kept without a hub; offline, a missing
    file is the one-line message with the download command."""
    body = np.random.default_rng(1).bytes(50_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/w.bin").write_bytes(body)
    assert models.download(tmp_path, progress=False, files=(_spec("w.bin", body),), offline=True) == []
    # no hub at this endpoint: a present, verified file never asks one
    assert models.download(tmp_path, progress=False, files=(_spec("w.bin", body),), endpoint="http://127.0.0.1:9") == []
    with pytest.raises(models.ModelDownloadError, match="delete it"):  # present but not the published file
        models.download(tmp_path, progress=False, files=(_spec("w.bin", body, sha256="0" * 64),), offline=True)
    assert (tmp_path / "sub/w.bin").read_bytes() == body  # reported, not overwritten
    with pytest.raises(ModelMissingError) as info:
        models.download(tmp_path, progress=False, files=(_spec("w.bin", body), _spec("v.bin", b"v")), offline=True)
    message = str(info.value)
    assert "sub/v.bin" in message and "crossgenre models download" in message and "\n" not in message
    assert not (tmp_path / "sub/v.bin").exists()


def test_models_download_command_honours_the_users_offline_switch(tmp_path):
    """`crossgenre models download` with HF_HUB_OFFLINE=1 set by the user fetches nothing and says, in one
    line, what is missing and which command fills it (exit 3: weights missing)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "crossgenre.cli", "models", "download", "--model-dir", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "crossgenre models download" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert not any(tmp_path.rglob("*.pt"))
