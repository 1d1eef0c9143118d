"""Server fixtures: a real Milvus Lite index of the generated test library (offline profile), built once per
session, the app over it, Flask's test client, and the app served by waitress on 127.0.0.1."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TOKEN  # noqa: F401  (the index fixture is shared with tests/search)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def app(indexed):
    from crossgenre.serve import build_app

    config, ws, _ = indexed
    return build_app(config, ws)


@pytest.fixture(scope="session")
def open_app(indexed, app):
    """The same index served with no token configured: write endpoints off."""
    from crossgenre.serve import build_app

    config, ws, _ = indexed
    return build_app(replace(config, token=""), ws)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_url(app):
    """The app served by waitress on 127.0.0.1 and a free port, for the browser and fuzz tests."""
    from server.run import BackgroundServer

    with BackgroundServer(app, "127.0.0.1", 0, threads=6) as server:
        yield server.url


@pytest.fixture(scope="session")
def song_ids(library):
    """Song title -> its id in the index (ids come from the file path)."""
    from crossgenre.indexer import song_id

    return {(s.title or s.path.stem): song_id(s.path) for s in library.songs}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def clip_wav(path: Path, start: float, seconds: float, rate: int = 22050) -> bytes:
    """A WAV clip cut from a song file, as a user would trim or record it."""
    import soundfile as sf

    from scan import decode_audio

    samples = decode_audio(path, rate)[int(start * rate): int((start + seconds) * rate)]
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def cover_photo(cover: bytes, seed: int = 0) -> bytes:
    """A JPEG 'phone photo' of a cover: cropped, slightly rotated, dimmer, recompressed."""
    from PIL import Image, ImageEnhance

    img = Image.open(io.BytesIO(cover)).convert("RGB")
    w, h = img.size
    img = img.crop((int(w * 0.05), int(h * 0.04), int(w * 0.96), int(h * 0.95))).rotate(3 + seed)
    img = ImageEnhance.Brightness(img).enhance(0.88)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    return buf.getvalue()
