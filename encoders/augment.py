"""Image degradations that turn a clean album cover into something like a phone photo of it.

Plain, seeded functions on PIL images, shared by the cover-descriptor tests and the evaluation harness.
Each takes an RGB image and returns a new RGB image; sizes are in pixels, angles in degrees.
`apply(img, spec, seed)` chains them in a fixed, photo-like order (geometry, light, optics, compression).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

# a grey-brown table top: what shows around a cover photographed at an angle
BACKGROUND = (96, 88, 80)

ORDER = ("perspective", "rotate", "crop", "brightness", "blur", "jpeg")


def crop(img: Image.Image, keep: float, rng: np.random.Generator) -> Image.Image:
    """A rectangle holding `keep` (0-1] of the area, aspect ratio jittered ±5 %, placed anywhere inside."""
    w, h = img.size
    aspect = float(np.exp(rng.uniform(-0.05, 0.05)))
    cw = min(w, round(w * np.sqrt(keep) * aspect))
    ch = min(h, round(h * keep * w / max(cw, 1)))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def rotate(img: Image.Image, deg: float, fill: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Rotated by `deg` (counter-clockwise) about the centre, same size; uncovered corners show `fill`."""
    return img.rotate(deg, resample=Image.BICUBIC, expand=False, fillcolor=fill)


def perspective(img: Image.Image, amount: float, rng: np.random.Generator, fill: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """A keystone view: each corner moved inward/outward by up to `amount` (fraction of the side), same size."""
    w, h = img.size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    moved = corners + rng.uniform(-amount, amount, size=(4, 2)) * [w, h]
    # PERSPECTIVE maps output pixels to input pixels: solve for the 8 coefficients from moved -> corners
    rows = []
    for (x, y), (u, v) in zip(moved, corners):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(rows), corners.reshape(-1))
    return img.transform((w, h), Image.PERSPECTIVE, tuple(coeffs), resample=Image.BICUBIC, fillcolor=fill)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """Re-encoded as JPEG at `quality` (1-95) and decoded again."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def brightness(img: Image.Image, factor: float) -> Image.Image:
    """Every channel multiplied by `factor` (0.8 = 20 % darker), clipped at white."""
    return ImageEnhance.Brightness(img).enhance(factor)


def blur(img: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur of `radius` pixels (an out-of-focus or shaken photo)."""
    return img.filter(ImageFilter.GaussianBlur(radius))


def apply(img: Image.Image, spec: dict, seed: int) -> Image.Image:
    """The degradations named in `spec` applied in ORDER, random parts drawn from `seed`.

    spec maps a name to its parameter: {"crop": 0.85, "rotate": 5, "perspective": 0.04, "jpeg": 40,
    "brightness": 1.2, "blur": 1.5}. Unknown names raise ValueError listing the known ones.
    """
    unknown = set(spec) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown degradation {sorted(unknown)}; known: {', '.join(ORDER)}")
    rng = np.random.default_rng(seed)
    out = img.convert("RGB")
    for name in ORDER:
        if name not in spec:
            continue
        value = spec[name]
        if name == "perspective":
            out = perspective(out, value, rng)
        elif name == "rotate":
            out = rotate(out, value)
        elif name == "crop":
            out = crop(out, value, rng)
        elif name == "brightness":
            out = brightness(out, value)
        elif name == "blur":
            out = blur(out, value)
        elif name == "jpeg":
            out = jpeg(out, value)
    return out


def random_spec(rng: np.random.Generator, names: tuple[str, ...] = ORDER) -> dict:
    """A random phone-photo spec over `names`, in the ranges a cover photo is expected to show.

    crop keeps 80-95 % of the area, rotate ±8°, perspective up to 4 % of a side per corner,
    JPEG quality 30-60, brightness ±20 %, blur radius 1-2 px.
    """
    spec: dict = {}
    for name in names:
        if name == "crop":
            spec[name] = float(rng.uniform(0.80, 0.95))
        elif name == "rotate":
            spec[name] = float(rng.uniform(-8, 8))
        elif name == "perspective":
            spec[name] = float(rng.uniform(0.01, 0.04))
        elif name == "jpeg":
            spec[name] = int(rng.integers(30, 61))
        elif name == "brightness":
            spec[name] = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.20) + 1)
        elif name == "blur":
            spec[name] = float(rng.uniform(1.0, 2.0))
        else:
            raise ValueError(f"unknown degradation {name!r}; known: {', '.join(ORDER)}")
    return spec
