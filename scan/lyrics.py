"""Find a song's lyrics: embedded in its tags, else in a .lrc/.txt file with the same name beside it.

Embedded: ID3 USLT (and TXXX "LYRICS"), Vorbis/FLAC LYRICS or UNSYNCEDLYRICS, MP4 ©lyr, ASF WM/Lyrics.
LRC timing ([01:23.45], word stamps <01:23.45>) and LRC header lines ([ar:...], [ti:...]) are
removed, wherever the text came from, so encoders see only the words.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import mutagen
from mutagen.asf import ASFTags
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

SIDECAR_EXTENSIONS = (".lrc", ".txt")  # in order of preference
MAX_LYRICS_BYTES = 1 << 20  # lyrics are a few kB; a larger "lyrics" file is something else

_LRC_TIME = re.compile(r"\[\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?\]|<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>")
# Only the ID tags the LRC format defines, so section marks like "[Chorus: Jay]" stay.
_LRC_HEADER = re.compile(
    r"^\s*\[(ar|ti|al|au|by|re|ve|tool|length|offset|la|lang|id|#)\s*:[^\]]*\]\s*$", re.IGNORECASE
)


def read_lyrics(path: str | os.PathLike, audio: mutagen.FileType | None = None,
                notes: list[str] | None = None) -> tuple[str | None, str | None]:
    """(text, source) with source "embedded" or "sidecar"; (None, None) when the song has no lyrics.

    `audio` is the file as parsed by scan.tags.open_audio; without it only sidecars are looked at.
    Lyrics over MAX_LYRICS_BYTES are ignored, and why is appended to `notes`.
    """
    notes = notes if notes is not None else []
    if audio is not None:
        text = _capped(embedded_lyrics(audio), "embedded", notes)
        text = clean_lyrics(text)
        if text:
            return text, "embedded"
    text = clean_lyrics(_capped(sidecar_lyrics(path, notes), "sidecar", notes))
    if text:
        return text, "sidecar"
    return None, None


def _capped(text: str | None, source: str, notes: list[str]) -> str | None:
    if text and len(text) > MAX_LYRICS_BYTES:
        notes.append(f"{source} lyrics ignored ({len(text) / 2**20:.1f} M characters, over the 1 MB cap)")
        return None
    return text


def embedded_lyrics(audio: mutagen.FileType) -> str | None:
    """The raw lyrics text stored in the file's tags, if any."""
    tags = audio.tags
    if tags is None:
        return None
    if isinstance(tags, ID3):
        for frame in tags.getall("USLT"):
            if frame.text.strip():
                return frame.text
        for desc in ("LYRICS", "UNSYNCEDLYRICS", "lyrics"):  # foobar2000 and others write TXXX
            frame = tags.get(f"TXXX:{desc}")
            if frame is not None and str(frame).strip():
                return "\n".join(str(v) for v in frame.text)
        return None
    if isinstance(tags, MP4Tags):
        values = tags.get("\xa9lyr")
    elif isinstance(tags, ASFTags):
        values = tags.get("WM/Lyrics")
    elif hasattr(tags, "keys"):  # Vorbis comments (FLAC, Ogg, Opus), APEv2
        values = tags.get("lyrics") or tags.get("unsyncedlyrics")
    else:
        values = None
    return "\n".join(str(v) for v in values) if values else None


def sidecar_lyrics(path: str | os.PathLike, notes: list[str] | None = None) -> str | None:
    """The text of "<stem>.lrc" or "<stem>.txt" beside the song (extension in any case), if any.

    A sidecar over MAX_LYRICS_BYTES is not read; why is appended to `notes`."""
    path = Path(path)
    try:
        names = {name.lower(): name for name in os.listdir(path.parent)}
    except OSError:
        return None
    for ext in SIDECAR_EXTENSIONS:
        name = names.get((path.stem + ext).lower())
        if name is not None:
            try:
                size = (path.parent / name).stat().st_size
                if size > MAX_LYRICS_BYTES:
                    if notes is not None:
                        notes.append(f"lyrics file {name} ignored ({size / 2**20:.1f} MB, over the 1 MB cap)")
                    continue
                return _decode_text((path.parent / name).read_bytes())
            except OSError:
                continue
    return None


def clean_lyrics(text: str | None) -> str | None:
    """Lyrics as plain lines: LRC timing and headers removed, line ends unified, runs of blank lines
    cut to one, outer blank space trimmed. None for None or blank text."""
    if not text:
        return None
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _LRC_HEADER.match(line):
            continue
        line = _LRC_TIME.sub("", line).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip() or None


def _decode_text(data: bytes) -> str:
    """Sidecar bytes as text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
