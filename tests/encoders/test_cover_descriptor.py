"""CoverDescriptor, the photo degradations it must survive, and load_image's refusals."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from encoders import augment
from encoders.cover_descriptor import CoverDescriptor
from encoders.images import BadImageError, load_image
from encoders.profile import build_encoder

ROOT = Path(__file__).resolve().parents[2]


def _eval_script():
    """scripts/eval_cover_descriptor.py as a module: its synthetic covers are the test set too."""
    spec = importlib.util.spec_from_file_location("eval_cover_descriptor", ROOT / "scripts" / "eval_cover_descriptor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evaluation():
    return _eval_script()


@pytest.fixture(scope="module")
def covers(evaluation) -> list[Image.Image]:
    return [img for _, img in evaluation.synthetic_covers(40, seed=3)]


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_built_through_the_profile_factory(tmp_path):
    enc = build_encoder({"family": "cover_descriptor"}, tmp_path)
    assert isinstance(enc, CoverDescriptor)
    assert enc.name == "cover-descriptor-v1" and enc.modalities == ("image",)
    assert enc.dim <= 512


def test_shape_normalisation_and_determinism(covers):
    enc = CoverDescriptor()
    odd = [covers[0].convert("L"), covers[1].convert("RGBA"), covers[2].convert("P"), Image.new("RGB", (3, 7), (0, 0, 0)),
           covers[3].resize((1200, 900))]
    v = enc.encode(covers[:5] + odd, "image")
    assert v.shape == (10, enc.dim) and v.dtype == np.float32
    assert np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v, CoverDescriptor().encode(covers[:5] + odd, "image"))
    np.testing.assert_array_equal(v[1], enc.encode([covers[1]], "image")[0])
    assert enc.encode([], "image").shape == (0, enc.dim)
    with pytest.raises(ValueError, match="text"):
        enc.encode(["a cover"], "text")


def test_distinct_covers_get_distinct_vectors(covers):
    v = CoverDescriptor().encode(covers, "image")
    sims = v @ v.T
    np.fill_diagonal(sims, -1)
    assert sims.max() < 0.999


@pytest.mark.parametrize(
    "spec",
    [
        {"crop": 0.8},
        {"rotate": 8},
        {"perspective": 0.04},
        {"jpeg": 30},
        {"brightness": 0.8},
        {"blur": 2.0},
        {"crop": 0.85, "rotate": -6, "jpeg": 40, "brightness": 1.2, "blur": 1.5, "perspective": 0.03},
    ],
    ids=lambda spec: "+".join(spec),
)
def test_photo_finds_its_cover(covers, evaluation, spec):
    enc = CoverDescriptor()
    index = enc.encode(covers, "image")
    photos = [augment.apply(c, spec, seed=i) for i, c in enumerate(covers)]
    assert evaluation.recall_at_1(index, enc.encode(photos, "image"), np.arange(len(covers))) >= 0.9


def test_random_phone_photos_find_their_covers(covers, evaluation):
    enc = CoverDescriptor()
    index = enc.encode(covers, "image")
    rng = np.random.default_rng(7)
    truth = np.repeat(np.arange(len(covers)), 2)
    photos = [augment.apply(covers[i], augment.random_spec(rng), int(rng.integers(1 << 30))) for i in truth]
    assert evaluation.recall_at_1(index, enc.encode(photos, "image"), truth) >= 0.9


def test_photos_at_the_limits_of_every_range_find_their_covers(covers, evaluation):
    # the far end of each range at once: 80 % crop, 8°, 4 % keystone, JPEG 30, +20 % light, blur 2 px
    enc = CoverDescriptor()
    spec = {"crop": 0.8, "rotate": 8, "perspective": 0.04, "jpeg": 30, "brightness": 1.2, "blur": 2.0}
    photos = [augment.apply(c, spec, seed=100 + i) for i, c in enumerate(covers)]
    assert evaluation.recall_at_1(enc.encode(covers, "image"), enc.encode(photos, "image"), np.arange(len(covers))) >= 0.95


# -- augment -----------------------------------------------------------------------------------------


def test_augment_is_seeded_and_keeps_the_asked_area(covers):
    spec = {"perspective": 0.03, "rotate": 4, "crop": 0.85, "brightness": 0.9, "blur": 1.0, "jpeg": 50}
    a = np.asarray(augment.apply(covers[0], spec, seed=5))
    assert np.array_equal(a, np.asarray(augment.apply(covers[0], spec, seed=5)))
    assert not np.array_equal(a, np.asarray(augment.apply(covers[0], spec, seed=6)))
    w, h = covers[0].size
    for seed in range(10):
        cropped = augment.crop(covers[0], 0.8, np.random.default_rng(seed))
        assert cropped.width * cropped.height == pytest.approx(0.8 * w * h, rel=0.02)
    with pytest.raises(ValueError, match="known"):
        augment.apply(covers[0], {"sepia": 1}, seed=0)


# -- load_image ----------------------------------------------------------------------------------------


def test_load_image_decodes_formats_to_rgb(covers):
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        img = load_image(_bytes(covers[0], fmt))
        assert img.mode == "RGB" and img.size == covers[0].size


def test_load_image_lays_transparency_on_white():
    transparent = Image.new("RGBA", (20, 10), (255, 0, 0, 0))
    assert load_image(_bytes(transparent, "PNG")).getpixel((5, 5)) == (255, 255, 255)


def test_load_image_turns_exif_orientation_upright():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: rotate 90° clockwise to view
    assert load_image(_bytes(img, "JPEG", exif=exif.tobytes())).size == (20, 40)


def test_load_image_max_side_decodes_smaller():
    img = load_image(_bytes(Image.new("RGB", (4000, 3000), (10, 200, 30)), "JPEG"), max_side=500)
    assert max(img.size) <= 500 and img.size[0] > img.size[1]


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20], ids=["empty", "text", "bad-png"])
def test_load_image_refuses_non_images(data):
    with pytest.raises(BadImageError):
        load_image(data)


def test_load_image_refuses_truncated_files(covers):
    data = _bytes(covers[0], "PNG")
    with pytest.raises(BadImageError):
        load_image(data[: len(data) // 2])


def test_load_image_refuses_decompression_bombs():
    # 9000 x 9000 one-bit pixels compress to a few kB but would decode to 243 MB of RGB
    bomb = _bytes(Image.new("1", (9000, 9000)), "PNG")
    assert len(bomb) < 100_000
    with pytest.raises(BadImageError, match="9000 x 9000"):
        load_image(bomb)
    with pytest.raises(BadImageError, match="allowed"):
        load_image(_bytes(Image.new("RGB", (200, 200)), "PNG"), max_pixels=10_000)
