"""Uploaded clips and images: their type told by content sniffing (magic bytes), never by name or client header.

`sniff_audio` / `sniff_image` read the first bytes of a file; `read_clip` / `read_image` turn an uploaded
file into checked bytes or raise an ApiError with a reason. Decoding itself is the search engine's job.
"""

from __future__ import annotations

import io
import warnings

from .errors import ApiError

# format -> MIME type, for uploads and for streaming songs from the library
AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "webm": "audio/webm",  # what Chromium's MediaRecorder records
}
IMAGE_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp"}
AUDIO_NAMES = "MP3, FLAC, Ogg Vorbis/Opus, WAV, M4A/MP4, AAC or WebM"
IMAGE_NAMES = "JPEG, PNG, GIF, WebP or BMP"
MAX_IMAGE_PIXELS = 40_000_000  # uploads only: a 40-megapixel photo is plenty for matching a cover


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a real layer, a valid bitrate and sample-rate index."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _adts(head: bytes) -> bool:
    """An AAC ADTS frame header: 12 sync bits, layer 00, a valid sampling-frequency index."""
    return len(head) >= 4 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13


def sniff_audio(head: bytes) -> str | None:
    """The audio format whose magic bytes start `head` ("mp3", "flac", ...), or None."""
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head[:80] else "ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if _adts(head):
        return "aac"
    if _mp3_frame(head):
        return "mp3"
    return None


def sniff_image(head: bytes) -> str | None:
    """The image format whose magic bytes start `head` ("jpeg", "png", ...), or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    return None


def _read(storage, what: str) -> bytes:
    data = storage.read()
    if not data:
        raise ApiError(400, "empty_file", f"the uploaded {what} is empty (0 bytes)")
    return data


def read_clip(storage) -> bytes:
    """The bytes of an uploaded audio clip, refused unless they start like a known audio format."""
    data = _read(storage, "audio clip")
    if sniff_audio(data[:128]) is None:
        raise ApiError(415, "unsupported_audio", f"the uploaded clip is not audio in a known format ({AUDIO_NAMES})")
    return data


def read_image(storage) -> bytes:
    """The bytes of an uploaded image, refused unless it is a known format of a sane size (header only)."""
    data = _read(storage, "image")
    if sniff_image(data[:32]) is None:
        raise ApiError(415, "unsupported_image", f"the uploaded file is not an image in a known format ({IMAGE_NAMES})")
    width, height = image_size(data)
    if width * height > MAX_IMAGE_PIXELS:
        raise ApiError(413, "image_too_large",
                       f"the image is {width} x {height} pixels; at most {MAX_IMAGE_PIXELS:,} pixels are accepted")
    return data


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image header, without decoding pixels; ApiError if the header is unreadable."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pixel cap is ours; PIL's bomb warning is not needed here
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError:
        raise ApiError(413, "image_too_large", "the image has far too many pixels to decode safely") from None
    except Exception:  # PIL signals a bad header with many exception types; all mean "not a readable image"
        raise ApiError(400, "unreadable_image", "the uploaded image could not be read (damaged or truncated header)") from None
