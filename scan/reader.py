"""Read one song file into a Track (tags, lyrics, cover, duration), and fingerprint files for change detection."""

from __future__ import annotations

import hashlib
import os

from scan.errors import ScanError
from scan.covers import read_cover
from scan.decode import check_audio
from scan.lyrics import read_lyrics
from scan.tags import open_audio, read_tags
from scan.track import Track

_CHUNK = 1 << 20  # 1 MiB


def read_track(path: str | os.PathLike) -> Track:
    """The Track for one song file: tags, lyrics (embedded or sidecar), cover (embedded, folder or album).

    The file is parsed once by mutagen, then FFmpeg checks that it decodes at its start and near
    its end (no full decode), so files that cannot be songs fail here rather than at the encoder.
    `duration` (s) comes from the tags' stream info, else from FFmpeg. Raises ScanError with a
    plain reason (DecodeError, a ScanError, for audio FFmpeg cannot decode).
    """
    path = os.path.abspath(path)
    audio = open_audio(path)
    tags = read_tags(path, audio)
    probed = check_audio(path)
    duration = tags.pop("duration") or probed
    if not duration or duration <= 0:
        raise ScanError(f"{path}: no audio (length 0 s)")
    lyrics, lyrics_source = read_lyrics(path, audio)
    cover, cover_source = read_cover(path, audio, tags.get("album"), tags.get("album_artist"))
    return Track(path=path, duration=float(duration), lyrics=lyrics, lyrics_source=lyrics_source,
                 cover=cover, cover_source=cover_source, **tags)


def content_hash(path: str | os.PathLike) -> str:
    """A fingerprint of the file's bytes (32 hex digits) that changes when the file does.

    Hashes the size and three 1 MiB samples (start, middle, end) with BLAKE2b, not the whole
    file: a rescan of a large library then reads ~3 MiB a song instead of every byte. Tag edits
    land in the first or last MiB (ID3v2, FLAC/Vorbis comments, MP4 moov at either end; ID3v1,
    APEv2 at the end), and re-encodes change the size or the sampled audio. What it can miss: a
    same-size edit confined to the unsampled middle of a file over 3 MiB. Files up to 3 MiB
    are hashed whole. Raises ScanError if the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
            if size <= 3 * _CHUNK:
                digest.update(f.read())
            else:
                for offset in (0, size // 2 - _CHUNK // 2, size - _CHUNK):
                    f.seek(offset)
                    digest.update(f.read(_CHUNK))
    except OSError as err:
        raise ScanError(f"{path}: cannot read the file ({err.strerror or err})") from err
    return digest.hexdigest()
