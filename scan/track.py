"""The Track record: what scanning learns about one song file before any model sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Track:
    """One song file's tags, lyrics and cover, as read from the file and the files beside it.

    Every field but `path` may be missing: a song without lyrics or cover is normal.
    `duration` is in seconds; `cover` holds the raw bytes of an image (JPEG/PNG as stored).
    """

    path: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    genre: str | None = None
    year: int | None = None
    track_number: int | None = None
    duration: float = 0.0
    musicbrainz_track_id: str | None = None
    musicbrainz_album_id: str | None = None
    musicbrainz_artist_id: str | None = None
    lyrics: str | None = None
    lyrics_source: str | None = None  # "embedded" or "sidecar"
    cover: bytes | None = field(default=None, repr=False)
    cover_source: str | None = None  # "embedded", "folder" or "album" (another track's picture)
    notes: list[str] = field(default_factory=list)  # what was passed over while reading, in words
