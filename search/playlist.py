"""Result lists as M3U8 playlists: `#EXTM3U`, then per song `#EXTINF:<seconds>,<artist> - <title>` and where
to find it (a file path, absolute or relative to a base folder, or a URL)."""

from __future__ import annotations

import os

MIMETYPE = "audio/mpegurl"


def m3u8(entries: list[dict], base: str | None = None) -> str:
    """A playlist of entries {location, duration, artist, title}, in order. A file location is written relative
    to `base` when one is given (a player opens it from a playlist saved in that folder), else as it is.
    A song without a title tag is named by its file."""
    lines = ["#EXTM3U"]
    for e in entries:
        seconds = round(e["duration"]) if e.get("duration") else -1
        location = str(e["location"])
        untitled = "untitled" if "://" in location else os.path.splitext(os.path.basename(location))[0]
        artist, title = _one_line(e.get("artist")), _one_line(e.get("title")) or untitled
        lines.append(f"#EXTINF:{seconds},{artist} - {title}" if artist else f"#EXTINF:{seconds},{title}")
        if base and "://" not in location:
            location = os.path.relpath(location, base)
        lines.append(location)
    return "\n".join(lines) + "\n"


def _one_line(text) -> str:
    return " ".join(str(text or "").split())
