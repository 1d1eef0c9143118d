"""Read a song file's tags with mutagen: ID3 (MP3, WAV, AIFF), Vorbis comments (FLAC, Ogg, Opus), MP4, ASF.

`read_tags` returns one flat dict whatever the tag system; `open_audio` is the shared opener that
lyrics.py and covers.py reuse, so a file is parsed once per scan.
"""

from __future__ import annotations

import os
import re

import mutagen
from mutagen.asf import ASFTags
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

from scan.errors import ScanError

TAG_FIELDS = (
    "title", "artist", "album", "album_artist", "genre", "year", "track_number", "duration",
    "musicbrainz_track_id", "musicbrainz_album_id", "musicbrainz_artist_id",
)

# Text fields: where each tag system keeps them, in order of preference.
_ID3_KEYS = {
    "title": ("TIT2",), "artist": ("TPE1",), "album": ("TALB",), "album_artist": ("TPE2",), "genre": ("TCON",),
    "year": ("TDRC", "TDOR", "TYER"), "track_number": ("TRCK",),
    "musicbrainz_album_id": ("TXXX:MusicBrainz Album Id",),
    "musicbrainz_artist_id": ("TXXX:MusicBrainz Artist Id",),
}
_VORBIS_KEYS = {
    "title": ("title",), "artist": ("artist",), "album": ("album",),
    "album_artist": ("albumartist", "album artist", "album_artist"), "genre": ("genre",),
    "year": ("date", "originaldate", "year"), "track_number": ("tracknumber", "track"),
    "musicbrainz_track_id": ("musicbrainz_trackid",), "musicbrainz_album_id": ("musicbrainz_albumid",),
    "musicbrainz_artist_id": ("musicbrainz_artistid",),
}
_MP4_KEYS = {
    "title": ("\xa9nam",), "artist": ("\xa9ART",), "album": ("\xa9alb",), "album_artist": ("aART",),
    "genre": ("\xa9gen",), "year": ("\xa9day",),
    "musicbrainz_track_id": ("----:com.apple.iTunes:MusicBrainz Track Id",),
    "musicbrainz_album_id": ("----:com.apple.iTunes:MusicBrainz Album Id",),
    "musicbrainz_artist_id": ("----:com.apple.iTunes:MusicBrainz Artist Id",),
}
_ASF_KEYS = {
    "title": ("Title",), "artist": ("Author",), "album": ("WM/AlbumTitle",), "album_artist": ("WM/AlbumArtist",),
    "genre": ("WM/Genre",), "year": ("WM/Year", "WM/OriginalReleaseYear"), "track_number": ("WM/TrackNumber",),
    "musicbrainz_track_id": ("MusicBrainz/Track Id",), "musicbrainz_album_id": ("MusicBrainz/Album Id",),
    "musicbrainz_artist_id": ("MusicBrainz/Artist Id",),
}


def open_audio(path: str | os.PathLike) -> mutagen.FileType:
    """The file parsed by mutagen (format guessed from its header); ScanError in plain words if it can't be."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise ScanError(f"{path}: cannot read the file ({err.strerror or err})") from err
    if size == 0:
        raise ScanError(f"{path}: empty file (0 bytes)")
    try:
        audio = mutagen.File(path, easy=False)
    except mutagen.MutagenError as err:
        cause = err.__cause__ if isinstance(err.__cause__, OSError) else None
        if cause is not None:
            raise ScanError(f"{path}: cannot read the file ({cause.strerror or cause})") from err
        raise ScanError(f"{path}: damaged or not audio ({err})") from err
    except Exception as err:  # mutagen parsers can trip over hostile bytes in many ways
        raise ScanError(f"{path}: damaged or not audio (its header cannot be parsed)") from err
    if audio is None:
        raise ScanError(f"{path}: not a recognised audio format")
    return audio


def read_tags(path: str | os.PathLike, audio: mutagen.FileType | None = None) -> dict:
    """The song's tags as a dict with every key of TAG_FIELDS; missing ones are None.

    Strings are stripped (several values joined by "; "), `year` and `track_number` are ints
    ("2019-03-01" -> 2019, "3/12" -> 3), `duration` is in seconds (float, 0.0 if unknown).
    Pass `audio` from `open_audio` to avoid parsing the file again.
    """
    audio = audio if audio is not None else open_audio(path)
    tags = audio.tags
    if isinstance(tags, ID3):
        raw = _lookup(tags, _ID3_KEYS, _id3_values)
        ufid = tags.get("UFID:http://musicbrainz.org")
        if ufid is not None:
            raw["musicbrainz_track_id"] = [ufid.data.decode("ascii", "replace")]
    elif isinstance(tags, MP4Tags):
        raw = _lookup(tags, _MP4_KEYS, _mp4_values)
        if tags.get("trkn"):
            raw["track_number"] = [str(tags["trkn"][0][0])]
    elif isinstance(tags, ASFTags):
        raw = _lookup(tags, _ASF_KEYS, lambda values: [str(v) for v in values])
    elif tags is not None and hasattr(tags, "keys"):  # Vorbis comments; APEv2 uses the same names
        raw = _lookup(tags, _VORBIS_KEYS, lambda values: [str(v) for v in values])
    else:
        raw = {}

    out: dict = {name: None for name in TAG_FIELDS}
    for name, values in raw.items():
        out[name] = _join(values)
    out["year"] = _year(out["year"])
    out["track_number"] = _leading_int(out["track_number"])
    for name in ("musicbrainz_track_id", "musicbrainz_album_id", "musicbrainz_artist_id"):
        out[name] = out[name].split(";")[0].strip() if out[name] else None
    length = getattr(audio.info, "length", None)
    out["duration"] = float(length) if length and length > 0 else 0.0
    return out


def _lookup(tags, keys: dict[str, tuple[str, ...]], values_of) -> dict[str, list[str]]:
    """First present key per field, as a list of strings."""
    raw: dict[str, list[str]] = {}
    for name, candidates in keys.items():
        for key in candidates:
            try:
                found = tags.get(key)
            except (ValueError, KeyError):  # some tag classes refuse keys they cannot hold
                found = None
            if found:
                raw[name] = values_of(found)
                break
    return raw


def _id3_values(frame) -> list[str]:
    if frame.FrameID == "TCON":
        return list(frame.genres)  # turns ID3v1 numbers like "(17)" into names
    return [str(v) for v in frame.text]


def _mp4_values(values) -> list[str]:
    return [bytes(v).decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _join(values: list[str]) -> str | None:
    parts = []
    for value in values:
        value = value.replace("\x00", " ").strip()
        if value and value not in parts:
            parts.append(value)
    return "; ".join(parts) or None


def _year(text: str | None) -> int | None:
    match = re.search(r"(?<!\d)(\d{4})(?!\d)", text or "")
    year = int(match.group(1)) if match else None
    return year if year and 1000 <= year <= 2999 else None


def _leading_int(text: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    number = int(match.group(1)) if match else None
    return number or None  # track 0 means "not set"
