"""Find a song's cover art: a picture embedded in its tags, else an image file in its folder, else the
picture embedded in another track of the same album in that folder.

Embedded: ID3 APIC, FLAC picture blocks, Vorbis/Opus METADATA_BLOCK_PICTURE (base64 FLAC blocks) or the
older COVERART, MP4 covr, ASF WM/Picture; a front cover (picture type 3) wins over other pictures.
Folder: cover/folder/front with .jpg/.jpeg/.png, any case. Album: rips often carry the art in one track
only; a cover belongs to the album, so its other tracks share it (and a photo of it finds them all).
Bytes are returned as stored, never re-encoded.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from functools import lru_cache
from pathlib import Path

import mutagen
from mutagen.asf import ASFTags
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

from scan.errors import ScanError
from scan.tags import open_audio, read_tags
from scan.walk import is_audio_name

FRONT_COVER = 3  # picture type shared by ID3, FLAC and ASF
FOLDER_NAMES = ("cover", "folder", "front")  # in order of preference
FOLDER_EXTENSIONS = (".jpg", ".jpeg", ".png")

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def read_cover(path: str | os.PathLike, audio: mutagen.FileType | None = None, album: str | None = None,
               album_artist: str | None = None) -> tuple[bytes | None, str | None]:
    """(image bytes, source) with source "embedded", "folder" or "album"; (None, None) when there is no cover.

    `audio` is the file as parsed by scan.tags.open_audio; without it only the folder is looked at.
    `album` (and `album_artist`, from the song's tags) let a track without art take its album's.
    """
    if audio is not None:
        data = embedded_cover(audio)
        if data:
            return data, "embedded"
    data = folder_cover(path)
    if data:
        return data, "folder"
    data = album_cover(path, album, album_artist)
    if data:
        return data, "album"
    return None, None


def embedded_cover(audio: mutagen.FileType) -> bytes | None:
    """The front cover stored in the file, else its first picture; None if it holds no image."""
    pictures = [(kind, data) for kind, data in _pictures(audio) if is_image(data)]
    for kind, data in pictures:
        if kind == FRONT_COVER:
            return data
    return pictures[0][1] if pictures else None


def folder_cover(path: str | os.PathLike) -> bytes | None:
    """The bytes of the cover image in the song's folder (cover.jpg, Folder.PNG, ...), if any."""
    folder = Path(path).parent
    try:
        names = {name.lower(): name for name in os.listdir(folder)}
    except OSError:
        return None
    for stem in FOLDER_NAMES:
        for ext in FOLDER_EXTENSIONS:
            name = names.get(stem + ext)
            if name is None:
                continue
            try:
                data = (folder / name).read_bytes()
            except OSError:
                continue
            if is_image(data):
                return data
    return None


def album_cover(path: str | os.PathLike, album: str | None, album_artist: str | None = None) -> bytes | None:
    """The cover embedded in another track of `album` in the song's folder (first by file name), if any.

    Album artists must agree where both tracks give one.
    """
    if not album:
        return None
    folder = Path(path).parent
    try:
        changed = folder.stat().st_mtime_ns
    except OSError:
        return None
    for other_artist, data in _album_covers(str(folder), changed).get(album.casefold(), {}).items():
        if not album_artist or not other_artist or other_artist == album_artist.casefold():
            return data
    return None


@lru_cache(maxsize=4)  # a scan reads a folder's songs one after another: each folder is read once
def _album_covers(folder: str, changed: int) -> dict[str, dict[str, bytes]]:
    """{album: {album artist: cover}} from the pictures embedded in a folder's audio files (the first
    file's by name for each album and artist: one picture kept per album, not one per track)."""
    covers: dict[str, dict[str, bytes]] = {}
    try:
        names = sorted(n for n in os.listdir(folder) if is_audio_name(n))
    except OSError:
        return covers
    for name in names:
        path = os.path.join(folder, name)
        try:
            audio = open_audio(path)
            tags = read_tags(path, audio)
        except ScanError:
            continue  # a damaged neighbour is reported when its own turn comes
        album, artist = (tags.get("album") or "").casefold(), (tags.get("album_artist") or "").casefold()
        if album and artist not in covers.get(album, {}):
            data = embedded_cover(audio)
            if data:
                covers.setdefault(album, {})[artist] = data
    return covers


def is_image(data: bytes | None) -> bool:
    """True if the bytes start like a JPEG, PNG, GIF, BMP or WebP image."""
    if not data:
        return False
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _pictures(audio: mutagen.FileType) -> list[tuple[int, bytes]]:
    """Every (picture type, bytes) the file embeds, in stored order; type is None where unknown."""
    tags = audio.tags
    found: list[tuple[int, bytes]] = []
    if isinstance(audio, FLAC):
        found += [(p.type, p.data) for p in audio.pictures]
    if tags is None:
        return found
    if isinstance(tags, ID3):
        found += [(frame.type, frame.data) for frame in tags.getall("APIC")]
    elif isinstance(tags, MP4Tags):
        found += [(None, bytes(cover)) for cover in tags.get("covr", [])]
    elif isinstance(tags, ASFTags):
        found += [_asf_picture(value.value) for value in tags.get("WM/Picture", [])]
    elif hasattr(tags, "keys"):  # Vorbis comments
        for value in tags.get("metadata_block_picture", []):
            try:
                picture = Picture(base64.b64decode(value))
            except (binascii.Error, ValueError, mutagen.MutagenError, struct.error):
                continue  # one damaged picture should not hide the others
            found.append((picture.type, picture.data))
        for value in tags.get("coverart", []):
            try:
                found.append((None, base64.b64decode(value)))
            except (binascii.Error, ValueError):
                continue
    return found


def _asf_picture(blob: bytes) -> tuple[int | None, bytes]:
    """WM/Picture: type (1 byte), size (4), MIME and description (UTF-16 with a 2-byte end), then the data."""
    try:
        kind, size = struct.unpack_from("<BI", blob)
        pos = 5
        for _ in range(2):  # skip the MIME type, then the description
            while pos + 2 <= len(blob) and blob[pos : pos + 2] != b"\x00\x00":
                pos += 2
            pos += 2
    except struct.error:
        return None, b""
    return kind, blob[pos : pos + size]
