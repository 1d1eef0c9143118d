"""Image bytes (a cover file, an uploaded photo) to an upright RGB PIL image, refusing non-images and bombs."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from scan.errors import CrossgenreError

# 64 megapixels (8000 x 8000): above any cover or phone photo, far below what exhausts memory
# (a decoded RGB image costs 3 bytes a pixel, 192 MB here); checked from the header before decoding
MAX_PIXELS = 64_000_000


class BadImageError(CrossgenreError, ValueError):
    """Bytes that are not a decodable image, or an image too large to decode safely."""


def load_image(data: bytes, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """Decode `data` into an RGB image turned upright by its EXIF orientation.

    Args:
        data: the file's bytes (JPEG, PNG, WebP, GIF: first frame, ...).
        max_pixels: refuse images with more pixels than this (width x height, read from the header).
        max_side: when given, decode at reduced size so the longer side is at most this many pixels
            (JPEG decodes at 1/2, 1/4, 1/8 scale directly, which makes large photos cheap).

    Transparent images are laid on white. Raises BadImageError with a one-line reason.
    """
    if not data:
        raise BadImageError("empty image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise BadImageError(f"image is {w} x {h} pixels, more than the {max_pixels:,} allowed")
            if max_side is not None and max(w, h) > max_side:
                img.draft("RGB", (max_side, max_side))
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
            if max_side is not None and max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.BICUBIC)
            return img
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"image refused as a decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        raise BadImageError("not an image (unknown or unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"image could not be decoded: {exc}") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    return img.convert("RGB")
