"""Find the audio files in a music library: folders are walked, files are taken as given, by extension."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from scan.errors import CrossgenreError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".mp4", ".aac", ".aiff", ".aif", ".wma"}
)


def is_audio_name(name: str) -> bool:
    """True if a file name has an audio extension (any case) and is not hidden.

    Hidden names include macOS "._song.mp3" resource forks, which carry the extension but no audio.
    """
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def find_audio_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Every audio file under the given folders and among the given files, sorted, each once.

    Folders are walked recursively, following symbolic links but never entering a folder twice
    (so link loops end); hidden files and folders are skipped. A file named directly is kept by the
    same extension rule, so a shell glob like `Music/*` can be passed as is. Paths keep the form
    they were given in (not resolved); a file reached twice (e.g. through a link) is listed once.

    Raises CrossgenreError if a given path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[tuple[int, int], Path] = {}  # (device, inode) -> first path seen
    seen_dirs: set[tuple[int, int]] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise CrossgenreError(f"no such file or folder: {path}")
        if path.is_dir():
            for file in _walk(path, seen_dirs):
                _add(found, file)
        elif is_audio_name(path.name):
            _add(found, path)
    return sorted(found.values(), key=lambda p: str(p))


def _walk(top: Path, seen_dirs: set[tuple[int, int]]) -> Iterable[Path]:
    def on_error(err: OSError) -> None:
        log.warning("cannot read folder %s: %s", err.filename, err.strerror)

    for folder, dirs, files in os.walk(top, followlinks=True, onerror=on_error):
        try:
            st = os.stat(folder)
        except OSError:  # vanished or unreadable since it was listed
            dirs[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a link back up the tree, or a second path to the same folder
            dirs[:] = []
            continue
        seen_dirs.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if is_audio_name(name):
                yield Path(folder, name)


def _add(found: dict[tuple[int, int], Path], path: Path) -> None:
    try:
        st = path.stat()
    except OSError:  # a dangling link: nothing to read
        return
    if path.is_file():
        found.setdefault((st.st_dev, st.st_ino), path)
