"""Album art as a fixed, hand-built vector that finds the same album from a phone photo of its cover.

No pretrained image model ships on PyPI, so the offline profile describes covers with measured,
deterministic image statistics, each chosen to survive what a photo does to a cover
(crop to 80-95 % of the area, rotation ±8°, mild perspective, JPEG 30-60, brightness ±20 %, blur):

  layout   6 x 6 grid of mean CIELAB colours over the central 76 %, blurred first   108 dims
  colour   soft 4 x 6 x 6 CIELAB histogram, compressed (power 0.3) so rare colours
           such as a small emblem or title still count                            144 dims
  edges    12-bin edge-orientation histograms (soft bins) in 2 x 2 cells           48 dims
  shape    8 x 8 lowest DCT frequencies of the lightness (a soft perceptual hash),
           scaled by the image's total detail, so textures weigh little            63 dims
  detail   8 x 8 map of where the edges are (titles, emblems), scaled likewise     64 dims
  light    soft histogram of the log mean grey level (black vs grey vs white)        8 dims

Colour, layout and the rest are measured after scaling the image to a fixed mean grey level
(brightness invariance); `light` keeps the absolute level, softly, so a black cover and a grey
one stay apart. Each block is weighted, the whole L2-normalised: compare with cosine.
Measured in docs/covers.md (scripts/eval_cover_descriptor.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.fft import dctn

from .base import Encoder, l2_normalize

SIDE = 96  # pixels: the analysis size every image is first resized to
TARGET_GREY = 118.0  # mean grey level (0-255) images are scaled to before measuring
CENTRE = 0.10  # fraction of each side left out around the centre region (crops cut there first)
LAYOUT_CENTRE = 0.12
LAYOUT_GRID = 6
HIST_BINS = (4, 6, 6)  # CIELAB L*, a*, b*
AB_RANGE = 64.0  # a*, b* histogram range: ±64
HIST_POWER = 0.3
ORIENT_BINS = 12
ORIENT_GRID = 2
DCT_KEEP = 8
DETAIL_GRID = 8
LIGHT_BINS = 8
# block weights, measured on the synthetic set (docs/covers.md): colour and shape carry most
WEIGHTS = {"layout": 2.0, "colour": 3.0, "edges": 1.0, "shape": 2.0, "detail": 2.0, "light": 1.0}

_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32
) / np.array([[0.95047], [1.0], [1.08883]], dtype=np.float32)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB values 0-255 to CIELAB (D65): L* 0-100, a* and b* about -128..127."""
    c = rgb.astype(np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def _centre(a: np.ndarray, margin: float) -> np.ndarray:
    m = int(round(a.shape[0] * margin))
    return a[m : a.shape[0] - m, m : a.shape[1] - m]


def _grid_mean(a: np.ndarray, grid: int) -> np.ndarray:
    n = a.shape[0] // grid
    a = a[: n * grid, : n * grid]
    return a.reshape(grid, n, grid, n, *a.shape[2:]).mean(axis=(1, 3))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


class CoverDescriptor(Encoder):
    """Deterministic cover-art descriptor: PIL images in, (n, 435) unit float32 rows out (cosine).

    Args:
        weights: block name -> weight, replacing WEIGHTS for the blocks it names (for ablations;
            vectors made with other weights get another `name` and do not mix with stored ones).
    """

    modalities = ("image",)
    dim = 108 + 144 + 48 + 63 + 64 + 8

    def __init__(self, weights: dict[str, float] | None = None):
        unknown = set(weights or {}) - set(WEIGHTS)
        if unknown:
            raise ValueError(f"unknown descriptor block {sorted(unknown)}; known: {', '.join(WEIGHTS)}")
        self.weights = {**WEIGHTS, **(weights or {})}
        custom = ",".join(f"{k}={v:g}" for k, v in self.weights.items() if v != WEIGHTS[k])
        self.name = "cover-descriptor-v1" + (f"[{custom}]" if custom else "")

    def encode(self, inputs: list[Image.Image], modality: str = "image") -> np.ndarray:
        """(len(inputs), dim) unit float32 rows, in input order; any size or mode of PIL image."""
        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.describe(img) for img in inputs])

    def describe(self, img: Image.Image) -> np.ndarray:
        """One image's (dim,) unit float32 vector."""
        img = img if img.mode == "RGB" else img.convert("RGB")
        # reducing_gap: box-reduce large images first (fast, and averages away sensor/JPEG noise)
        rgb = np.asarray(img.resize((SIDE, SIDE), Image.BILINEAR, reducing_gap=2.0), dtype=np.float32)
        grey = float(_centre(rgb, 0.2).mean())
        # brightness invariance: a photo taken darker or brighter is scaled back to the same mean
        lab = srgb_to_lab(np.clip(rgb * (TARGET_GREY / max(grey, 1.0)), 0, 255))
        lightness = lab[..., 0]
        gradient = np.hypot(ndimage.sobel(lightness, 1), ndimage.sobel(lightness, 0))
        blocks = {
            "layout": _layout(lab),
            "colour": _colour_histogram(lab),
            "edges": _orientation_histograms(lightness),
            "shape": _dct_shape(lightness),
            "detail": _detail_map(gradient),
            "light": _light(grey),
        }
        return l2_normalize(np.concatenate([blocks[k] * self.weights[k] for k in WEIGHTS]))


def _layout(lab: np.ndarray) -> np.ndarray:
    """Mean L*a*b* of a 6 x 6 grid over the centre, blurred so a shifted crop changes it little."""
    region = ndimage.gaussian_filter(_centre(lab, LAYOUT_CENTRE), (2.0, 2.0, 0))
    cells = _grid_mean(region, LAYOUT_GRID) - np.array([50.0, 0.0, 0.0], np.float32)
    return _unit(cells.reshape(-1))


def _colour_histogram(lab: np.ndarray) -> np.ndarray:
    """Trilinear (soft) L*a*b* histogram of the centre, fractions raised to HIST_POWER."""
    pixels = _centre(lab, CENTRE).reshape(-1, 3)
    nl, na, nb = HIST_BINS
    scaled = [
        np.clip(pixels[:, 0] / 100.0 * nl - 0.5, 0, nl - 1 - 1e-4),
        np.clip((pixels[:, 1] + AB_RANGE) / (2 * AB_RANGE) * na - 0.5, 0, na - 1 - 1e-4),
        np.clip((pixels[:, 2] + AB_RANGE) / (2 * AB_RANGE) * nb - 0.5, 0, nb - 1 - 1e-4),
    ]
    low = [np.floor(s).astype(np.int64) for s in scaled]
    frac = [s - lo for s, lo in zip(scaled, low)]
    hist = np.zeros(nl * na * nb, np.float64)
    for dl in (0, 1):
        for da in (0, 1):
            for db in (0, 1):
                weight = (frac[0] if dl else 1 - frac[0]) * (frac[1] if da else 1 - frac[1]) * (frac[2] if db else 1 - frac[2])
                index = (np.minimum(low[0] + dl, nl - 1) * na + np.minimum(low[1] + da, na - 1)) * nb + np.minimum(low[2] + db, nb - 1)
                hist += np.bincount(index, weight, minlength=hist.size)
    return _unit((hist / hist.sum()) ** HIST_POWER)


def _orientation_histograms(lightness: np.ndarray) -> np.ndarray:
    """Gradient-magnitude-weighted orientation histograms (0-180°, soft bins) in 2 x 2 centre cells."""
    smooth = ndimage.gaussian_filter(lightness, 1.0)
    gx, gy = ndimage.sobel(smooth, 1), ndimage.sobel(smooth, 0)
    magnitude = _centre(np.hypot(gx, gy), CENTRE)
    position = _centre(np.mod(np.arctan2(gy, gx), np.pi), CENTRE) / np.pi * ORIENT_BINS
    low = np.floor(position).astype(np.int64)
    frac = position - low
    n = magnitude.shape[0] // ORIENT_GRID
    cells = []
    for i in range(ORIENT_GRID):
        for j in range(ORIENT_GRID):
            cell = (slice(i * n, (i + 1) * n), slice(j * n, (j + 1) * n))
            m, lo, t = magnitude[cell].ravel(), low[cell].ravel(), frac[cell].ravel()
            cells.append(np.bincount(lo % ORIENT_BINS, m * (1 - t), ORIENT_BINS) + np.bincount((lo + 1) % ORIENT_BINS, m * t, ORIENT_BINS))
    hist = np.concatenate(cells)
    return _unit(np.sqrt(hist / max(hist.sum(), 1e-9)))


def _dct_shape(lightness: np.ndarray) -> np.ndarray:
    """Lowest 8 x 8 DCT frequencies (DC dropped) of the centre's lightness at 32 x 32.

    Divided by the image's total AC energy (plus 1 L* unit), so the block's length is the share of
    the image's detail that is coarse: large for a cover with big shapes, small for a fine texture,
    whose low frequencies are mostly aliasing that moves with every crop.
    """
    region = ndimage.gaussian_filter(_centre(lightness, CENTRE), 1.0)
    small = np.asarray(Image.fromarray(region.astype(np.float32)).resize((32, 32), Image.BILINEAR), dtype=np.float64)
    spectrum = dctn(small, norm="ortho")
    ac_energy = np.sqrt(max(float((spectrum**2).sum() - spectrum[0, 0] ** 2), 0.0))
    return spectrum[:DCT_KEEP, :DCT_KEEP].reshape(-1)[1:] / (ac_energy + 1.0)


def _detail_map(gradient: np.ndarray) -> np.ndarray:
    """Where the edges are: 8 x 8 grid of (sqrt) edge energy, relative to its mean; length at most 1.

    A cover whose detail is even everywhere (a texture) gives a short vector and so weighs little.
    """
    energy = ndimage.gaussian_filter(_centre(gradient, CENTRE), 1.5)
    cells = np.sqrt(_grid_mean(energy, DETAIL_GRID).reshape(-1))
    v = (cells - cells.mean()) / (cells.mean() + 1.0) / np.sqrt(cells.size)
    return v / max(1.0, float(np.linalg.norm(v)))


def _light(grey: float) -> np.ndarray:
    """Soft one-hot of log2 mean grey level (0-255) over LIGHT_BINS centres, 1 to 8 in log2 units.

    ±20 % brightness moves log2 by at most 0.32, less than a bin's width; black (12), grey (128)
    and white (245) covers land 3.4 and 1 bins apart.
    """
    centres = np.linspace(1.0, 8.0, LIGHT_BINS)
    weights = np.exp(-0.5 * ((np.log2(max(grey, 1.0)) - centres) / 0.6) ** 2)
    return _unit(weights)


def build(settings: dict, model_dir: Path) -> CoverDescriptor:
    """CoverDescriptor from profile settings {"family": "cover_descriptor"} (no weights, model_dir unused)."""
    return CoverDescriptor()
