"""Each song's audio windows beside a Milvus Lite index, read by song key.

Milvus Lite answers a read of given rows with a scan of every stored row: reading the windows of ten
songs scans every window of the library. The segment explanations of similar songs and text or clip
queries need exactly such reads, so each song's windows are kept here, in one SQLite row a song
(starts, ends and vectors as float32 blobs), found through SQLite's primary key.

Milvus Lite searches at most 10 windows a song (store/milvus.py: LITE_SEARCHED_WINDOWS): a longer song's
windows are pooled there, and only this file holds each of them. A row counts only when its `version` is
the one the song's row names (a nonce written with the song's parts, store/writes.py), so windows of an
older version of a song are never used; a song without a valid row here is read from Milvus and kept
then. Deleting the file loses no song and no search: the explanations of long songs then name the
pooled spans Milvus holds (10 to a song) until the songs are indexed again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_SCHEMA = """CREATE TABLE IF NOT EXISTS windows (
    prefix TEXT NOT NULL, song_key INTEGER NOT NULL, version TEXT NOT NULL,
    starts BLOB NOT NULL, ends BLOB NOT NULL, vectors BLOB NOT NULL, dim INTEGER NOT NULL,
    PRIMARY KEY (prefix, song_key))"""
_BATCH = 500  # keys per `IN (...)` of one read


class WindowCopies:
    """Song windows by (index generation prefix, song key); every method is safe from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a copy: a crash may lose the last writes, never corrupt
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            self._off(exc)

    def get(self, prefix: str, versions: dict[int, str]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """{song key: (starts, ends, vectors (n, dim))} of the songs whose copy has the version asked."""
        out = {}
        keys = list(versions)
        for i in range(0, len(keys), _BATCH):
            part = keys[i : i + _BATCH]
            rows = self._run(f"SELECT song_key, version, starts, ends, vectors, dim FROM windows WHERE prefix = ? "
                             f"AND song_key IN ({','.join('?' * len(part))})", [prefix, *part])
            for key, version, starts, ends, vectors, dim in rows:
                if version == versions[key]:
                    out[key] = (np.frombuffer(starts, np.float32), np.frombuffer(ends, np.float32),
                                np.frombuffer(vectors, np.float32).reshape(-1, dim))
        return out

    def put(self, prefix: str, songs: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Keep these songs' windows: [(song key, version, starts, ends, vectors (n, dim))]."""
        rows = [(prefix, int(key), version, np.asarray(s, np.float32).tobytes(), np.asarray(e, np.float32).tobytes(),
                 np.asarray(v, np.float32).tobytes(), int(np.shape(v)[1]))
                for key, version, s, e, v in songs if len(v)]  # a song with no windows has nothing to copy
        if rows:
            self._run("INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?, ?, ?, ?)", rows, many=True)

    def delete(self, prefix: str, keys) -> None:
        keys = [int(k) for k in keys]
        for i in range(0, len(keys), _BATCH):
            part = keys[i : i + _BATCH]
            self._run(f"DELETE FROM windows WHERE prefix = ? AND song_key IN ({','.join('?' * len(part))})", [prefix, *part])

    def drop(self, prefix: str) -> None:
        self._run("DELETE FROM windows WHERE prefix = ?", [prefix])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self, sql: str, args, many: bool = False) -> list:
        with self._lock:
            if self._db is None:
                return []
            try:
                if many:  # one transaction for the batch
                    self._db.execute("BEGIN")
                    try:
                        self._db.executemany(sql, args)
                    except sqlite3.Error:
                        self._db.execute("ROLLBACK")
                        raise
                    self._db.execute("COMMIT")
                    return []
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                self._off(exc)
                return []

    def _off(self, exc: Exception) -> None:
        """A copy that cannot be read or written is not used again in this process: reads go to Milvus."""
        log.warning("the copy of song windows at %s is not used (%s); reading windows from Milvus instead", self.path, exc)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
        self._db = None
