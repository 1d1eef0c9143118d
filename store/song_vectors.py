"""Song searches of a Milvus Lite index answered from a copy of the song vectors in memory (store/song_matrix.py).

Milvus Lite searches song vectors by a FLAT scan, one request at a time: ~11 ms a field at 100,000 songs,
and a text or similar-song query searches several fields. numpy scores the same vectors exactly in a few
milliseconds (docs/similar.md). The copy answers the song searches whose filter is empty or asks only for
songs with lyrics or a cover; any other filter, and every search on a Milvus server, goes to Milvus.

Milvus stays the source. A Lite file is open in one process at a time, so every write to it passes through
a VectorStore of this process, which updates the copy after writing Milvus; every VectorStore of the
process on the same file and generation shares one copy. The copy is built from the song rows on first
use: at once for a small library, else in the background while Milvus answers. It is saved beside the
index (`<index>-songs-<prefix>.npz`) after a build and when the store closes, and any write deletes that
file before it touches Milvus, so a saved copy is never older than the index. Deleting it loses nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .song_matrix import FLAGS, SongMatrix

log = logging.getLogger(__name__)

SYNC_BUILD_SONGS = 2000  # a copy of more songs is built in the background (~1 s a 2,000 songs)


@dataclass
class _Copy:
    lock: threading.Lock = field(default_factory=threading.Lock)
    matrix: SongMatrix | None = None
    building: bool = False
    pending: list = field(default_factory=list)  # writes made while a build reads the rows: (put|delete, rows)
    saved: bool = False  # the file beside the index holds what `matrix` holds
    epoch: int = 0  # counts drops: a build started before one is not installed


_COPIES: dict[tuple[str, str], _Copy] = {}
_COPIES_LOCK = threading.Lock()


class StoreSongVectors:
    """The copy of a Lite index's song vectors; mixed into VectorStore."""

    use_song_copy = True  # False: every song search goes to Milvus (benchmarks compare the two)

    def _song_copy(self) -> _Copy | None:
        if self.is_server:
            return None
        key = (os.path.realpath(self.uri), self.prefix)
        with _COPIES_LOCK:
            return _COPIES.setdefault(key, _Copy())

    @property
    def _saved_songs(self) -> Path:
        return Path(f"{self.uri}-songs-{self.prefix}.npz")

    def song_matrix(self, wait: bool = False) -> SongMatrix | None:
        """The current copy of every song's vectors, or None (a Milvus server; a copy being built in the
        background; an empty index, which Milvus answers: a search then still finds out if Milvus is gone).
        With `wait` a copy is built in this thread, however large the library."""
        matrix = self._current_song_matrix(wait)
        return matrix if matrix is not None and len(matrix) else None

    def _current_song_matrix(self, wait: bool) -> SongMatrix | None:
        copy = self._song_copy()
        if copy is None or not self.vector_fields or not self.use_song_copy:
            return None
        while wait and copy.building:  # a build in another thread
            time.sleep(0.05)
        if copy.matrix is not None or copy.building:
            return copy.matrix
        with copy.lock:
            if copy.matrix is not None or copy.building:
                return copy.matrix
            copy.building = True
            epoch = copy.epoch
        if self._load_song_copy(copy, epoch) is not None:
            return copy.matrix
        if wait or self.count() < SYNC_BUILD_SONGS:
            self._build_song_copy(copy, epoch)
        else:
            log.info("Loading the song vectors of this library into memory (a minute or two at 100,000 songs); "
                     "until then Milvus answers song searches.")
            threading.Thread(target=self._build_song_copy, args=(copy, epoch), name="song-vectors", daemon=True).start()
        return copy.matrix

    def _load_song_copy(self, copy: _Copy, epoch: int) -> SongMatrix | None:
        path = self._saved_songs
        if not path.exists():
            return None
        try:
            matrix = SongMatrix.load(path, self.vector_fields)
            if len(matrix) != self.count():
                raise ValueError(f"it holds {len(matrix)} songs, the index {self.count()}")
        except Exception as exc:  # damaged, cut short, or of other models: built again from the rows
            log.warning("the saved song vectors %s are not used (%s); reading them from the index again", path, exc)
            path.unlink(missing_ok=True)
            return None
        self._install_song_copy(copy, matrix, epoch, saved=True)
        return matrix

    def _build_song_copy(self, copy: _Copy, epoch: int) -> None:
        started = time.monotonic()
        try:
            matrix = SongMatrix(self.vector_fields)
            page = []
            for row in self.iter_songs(["id", *FLAGS, *self.vector_fields]):
                page.append(row)
                if len(page) == 1000:
                    matrix.put(page)
                    page = []
            matrix.put(page)
        except Exception:  # Milvus keeps answering; the next search tries again
            log.exception("could not read the song vectors into memory")
            with copy.lock:
                if copy.epoch == epoch:
                    copy.building, copy.pending = False, []
            return
        self._install_song_copy(copy, matrix, epoch, saved=False)
        if len(matrix) >= SYNC_BUILD_SONGS:
            log.info("song vectors: %d songs in memory (%.0f MiB) in %.1f s", len(matrix), matrix.nbytes / 2**20,
                     time.monotonic() - started)
        self.save_song_copy()

    def _install_song_copy(self, copy: _Copy, matrix: SongMatrix, epoch: int, saved: bool) -> None:
        """Make `matrix` the copy, with the writes made while it was read applied on top (unless the index
        was dropped meanwhile)."""
        with copy.lock:
            if copy.epoch != epoch:
                return
            for op, rows in copy.pending:
                matrix.put(rows) if op == "put" else matrix.delete(rows)
            copy.matrix, copy.building, copy.saved = matrix, False, saved and not copy.pending
            copy.pending = []

    def save_song_copy(self) -> None:
        """Save the copy beside the index if the file does not hold it yet."""
        copy = self._song_copy()
        if copy is None:
            return
        with copy.lock:
            if copy.matrix is None or copy.saved:
                return
            try:
                copy.matrix.save(self._saved_songs)
                copy.saved = True
            except OSError as exc:
                log.warning("could not save the song vectors at %s (%s); the next start reads them again",
                            self._saved_songs, exc)

    # -- kept current by the store's writes (store/writes.py) ------------------------------------
    def songs_changing(self) -> None:
        """Before a write of song rows: the saved copy no longer holds the index."""
        copy = self._song_copy()
        if copy is None:
            return
        with copy.lock:
            copy.saved = False
        self._saved_songs.unlink(missing_ok=True)

    def songs_written(self, rows: list[dict]) -> None:
        """After song rows were written to Milvus."""
        self._song_change("put", rows)

    def songs_deleted(self, ids: list[str]) -> None:
        """After songs were deleted from Milvus."""
        self._song_change("delete", list(ids))

    def _song_change(self, op: str, rows: list) -> None:
        copy = self._song_copy()
        if copy is None:
            return
        with copy.lock:
            if copy.matrix is not None:
                try:
                    copy.matrix.put(rows) if op == "put" else copy.matrix.delete(rows)
                except Exception:  # Milvus holds the write: the copy is read again from it at the next search
                    log.exception("could not update the song vectors in memory")
                    copy.matrix = None
            elif copy.building:
                copy.pending.append((op, rows))

    def drop_song_copy(self) -> None:
        copy = self._song_copy()
        if copy is None:
            return
        with copy.lock:
            copy.matrix, copy.saved, copy.pending, copy.building = None, False, [], False
            copy.epoch += 1
        self._saved_songs.unlink(missing_ok=True)
