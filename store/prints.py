"""Audio prints in the store: each song's print codes in rows of BLOCK_PRINTS seconds, and the posting lists
(store/print_index.py) that clip lookups use, built from those rows and rebuilt when they change.

A print row holds the codes of 10 prints (15 bytes each, encoders/fingerprint.py: `pack_keys`; 200
characters of base64), its key, the count and a placeholder vector: 25 bytes a second of audio with
Milvus's own 16 bytes a row, where a float print took 536.
Every write or delete of prints names a new version (meta "prints_version"); a process that holds posting
lists of an older version builds them again: at once for a small library (under ~1,000 songs), which is
so always current; else in the background, while the older lists answer. Beside a Lite index the lists
are saved after each build (`<index>-prints-<prefix>.npz`), so a new process starts from them instead
of reading every print row again (12 minutes at 100,000 songs). Deleting the file loses nothing.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.fingerprint import CODE_BANDS, CODE_BYTES, TIME_SCALE, clip_probes, pack_keys, print_keys, unpack_keys

from . import schema
from .print_index import PrintIndex
from .reads import QUERY_PAGE, batches

log = logging.getLogger(__name__)

SYNC_BUILD_PRINTS = 250_000  # posting lists of more prints (~1,000 songs) are rebuilt in the background
VERSION_KEY = "prints_version"


@dataclass
class _Built:
    version: str
    index: PrintIndex
    ids: list[str]  # song ids, in the index's song order ("" for parts whose song row is gone)
    seconds: float  # how long the build took


@dataclass
class ClipMatch:
    song_id: str
    votes: float  # weighted codes that agree on where the clip sits (store/print_index.py)
    offset: float  # seconds into the song where the clip starts (real seconds)


def print_rows(key: int, print_vectors: np.ndarray) -> list[dict]:
    """The print rows of one song (its prints start every PRINT_HOP_SECONDS from 0): one a block."""
    packed = pack_keys(print_keys(print_vectors))
    rows = []
    for block, first in enumerate(range(0, len(packed), schema.BLOCK_PRINTS)):
        codes = np.zeros((schema.BLOCK_PRINTS, CODE_BYTES), np.uint8)
        part = packed[first : first + schema.BLOCK_PRINTS]
        codes[: len(part)] = part
        rows.append({"id": schema.part_key(key, block), "prints": len(part),
                     "codes": base64.b64encode(codes.tobytes()).decode("ascii"), "vector": [0.0, 0.0]})
    return rows


def print_row_keys(song_key: int, prints: int) -> list[int]:
    """The primary keys of the print rows of a song with `prints` prints."""
    return [schema.part_key(song_key, b) for b in range(-(-int(prints) // schema.BLOCK_PRINTS))]


def _keys_of_rows(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row ids, prints a row, keys (rows, BLOCK_PRINTS, CODE_BANDS)) of print rows as Milvus returns them."""
    ids = np.fromiter((r["id"] for r in rows), np.int64, len(rows))
    counts = np.fromiter((r["prints"] for r in rows), np.int64, len(rows))
    codes = np.frombuffer(base64.b64decode("".join(r["codes"] for r in rows)), np.uint8).reshape(-1, CODE_BYTES)
    return ids, counts, unpack_keys(codes).astype(np.int32).reshape(len(rows), schema.BLOCK_PRINTS, CODE_BANDS)


def _songs_of_rows(ids: np.ndarray, counts: np.ndarray, keys: np.ndarray):
    """Rows grouped into songs: (song keys, prints a song, keys (prints, CODE_BANDS) song after song)."""
    order = np.argsort(ids, kind="stable")
    ids, counts, keys = ids[order], counts[order], keys[order]
    song_of_row = ids >> schema.PART_BITS
    held = np.arange(schema.BLOCK_PRINTS)[None, :] < counts[:, None]  # the prints each row holds
    starts = np.flatnonzero(np.r_[True, song_of_row[1:] != song_of_row[:-1]])
    per_song = np.add.reduceat(counts, starts) if len(starts) else np.zeros(0, np.int64)
    return song_of_row[starts], per_song, keys[held]


class StorePrints:
    """Print rows and their posting lists; mixed into VectorStore."""

    _print_builds: dict  # prefix -> _Built, shared by a store's generations (VectorStore.__init__)
    _print_lock: threading.Lock

    def prints_changed(self) -> None:
        """Name a new version of the stored prints (after any write or delete of them)."""
        self.write_meta(VERSION_KEY, uuid.uuid4().hex[:16])

    def iter_print_rows(self, rows_per_page: int = 200_000):
        """Every stored print row, as pages of (row ids, prints a row, keys (rows, BLOCK_PRINTS, CODE_BANDS))."""
        it = self.client.query_iterator(self.prints, batch_size=QUERY_PAGE, output_fields=["id", "prints", "codes"],
                                        **self._consistency(self.prints))
        pending: list[dict] = []
        try:
            while True:
                page = it.next()
                if page:
                    pending += page
                if pending and (not page or len(pending) >= rows_per_page):
                    yield _keys_of_rows(pending)
                    pending = []
                if not page:
                    break
        finally:
            it.close()

    def song_print_keys(self, song_ids: list[str]) -> dict[str, np.ndarray]:
        """The print keys (prints, CODE_BANDS) of these songs: {song id: keys}, one print a second from 0."""
        songs = self.get_songs(list(song_ids), ["id", "key", "extra"])
        owner, ids = {}, []
        for sid, row in songs.items():
            owner[row["key"]] = sid
            ids += print_row_keys(row["key"], ((row.get("extra") or {}).get("parts") or {}).get("prints", 0))
        if not ids:
            return {}
        fields = ["id", "prints", "codes"]
        if self.is_server:
            rows = [r for part in batches(ids, QUERY_PAGE)
                    for r in self.client.query(self.prints, ids=part, output_fields=fields, **self._consistency(self.prints))]
        else:
            rows = self._parts_by_search(self.prints, ids, fields)
        if not rows:
            return {}
        song_keys, per_song, keys = _songs_of_rows(*_keys_of_rows(rows))
        bounds = np.r_[0, np.cumsum(per_song)]
        return {owner[k]: keys[bounds[i] : bounds[i + 1]] for i, k in enumerate(song_keys.tolist()) if k in owner}

    def print_index(self, wait: bool = True) -> tuple[PrintIndex, list[str]] | None:
        """The posting lists of every stored print and the song ids in their order, current. Without `wait`
        a large library's lookups do not wait for a build (it runs in the background): they get the older
        lists meanwhile, or None while there are none yet (a clip is then matched by its sound alone)."""
        version = self.read_meta(VERSION_KEY, "")
        built = self._print_builds.get(self.prefix)
        if built is None or built.version != version:
            if wait or (built.index.prints if built else self._stored_prints()) < SYNC_BUILD_PRINTS:
                with self._print_lock:
                    built = self._current_print_index(version)
            elif self._print_lock.acquire(blocking=False):  # (else a build is under way)
                if built is None:
                    log.warning("The audio prints of this library are being loaded (minutes for 100,000 songs "
                                "the first time); until then a clip is matched by its sound alone.")

                def rebuild():
                    try:
                        self._current_print_index(self.read_meta(VERSION_KEY, ""))
                    except Exception:  # the older lists, if any, keep answering; the next lookup tries again
                        log.exception("could not build the print index")
                    finally:
                        self._print_lock.release()

                threading.Thread(target=rebuild, name="print-index", daemon=True).start()
        return (built.index, built.ids) if built is not None else None

    def _current_print_index(self, version: str) -> _Built:
        """The lists of this version: this process's, else the saved ones, else built now (called under the lock)."""
        built = self._print_builds.get(self.prefix) or self._load_print_index()
        if built is None or built.version != version:
            built = self._build_print_index(version)
        return built

    def _stored_prints(self) -> int:
        """About how many prints the store holds (its print rows times the prints a full row holds)."""
        rows = self.client.query(self.prints, filter="", output_fields=["count(*)"], **self._consistency(self.prints))
        return int(rows[0]["count(*)"]) * schema.BLOCK_PRINTS

    @property
    def _saved_lists(self) -> Path | None:
        """Where the posting lists of a Lite index are saved between processes (none for a Milvus server)."""
        return None if self.is_server else Path(f"{self.uri}-prints-{self.prefix}.npz")

    def _save_print_index(self, built: _Built) -> None:
        if self._saved_lists is None:
            return
        try:
            built.index.save(self._saved_lists, built.version, built.ids)
        except OSError as exc:
            log.warning("could not save the print index at %s (%s); the next start builds it again", self._saved_lists, exc)

    def _load_print_index(self) -> _Built | None:
        """The posting lists a previous process saved, if any and readable; kept as this process's."""
        path = self._saved_lists
        if path is None or not path.exists():
            return None
        started = time.monotonic()
        try:
            index, version, ids = PrintIndex.load(path)
        except Exception as exc:  # damaged or from another version of crossgenre: built again from the store
            log.warning("the saved print index %s is not used (%s); building it again from the index", path, exc)
            return None
        built = _Built(version, index, ids, time.monotonic() - started)
        self._print_builds[self.prefix] = built
        log.debug("print index: loaded %d prints of %d songs in %.1f s", index.prints, len(ids), built.seconds)
        return built

    def drop_saved_print_index(self) -> None:
        self._print_builds.pop(self.prefix, None)
        if self._saved_lists is not None:
            self._saved_lists.unlink(missing_ok=True)

    def all_print_keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored print, in one pass: (song keys, prints a song, keys (prints, CODE_BANDS) song after song)."""
        pages = list(self.iter_print_rows())
        if not pages:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, CODE_BANDS), np.int32)
        return _songs_of_rows(*(np.concatenate(column) for column in zip(*pages)))

    def _build_print_index(self, version: str) -> _Built:
        started = time.monotonic()
        song_keys, per_song, keys = self.all_print_keys()
        index = PrintIndex(song_keys, per_song, keys)
        del keys
        by_key = {row["key"]: row["id"] for row in self.iter_songs(["id", "key"])} if len(song_keys) else {}
        built = _Built(version, index, [by_key.get(k, "") for k in song_keys.tolist()], time.monotonic() - started)
        self._print_builds[self.prefix] = built
        self._save_print_index(built)
        if index.prints >= SYNC_BUILD_PRINTS:
            log.info("print index: %d prints of %d songs in %.1f s (%.0f MiB)", index.prints, len(song_keys),
                     built.seconds, index.nbytes / 2**20)
        return built

    def find_clip(self, speeds, limit: int = 10) -> list[ClipMatch]:
        """The songs a clip may be cut from, most votes first: `speeds` is the clip's prints at each speed
        (encoders/fingerprint.py: `clip_speeds`), probed as deep as the library's size affords."""
        lists = self.print_index(wait=False)
        if lists is None:
            return []
        index, ids = lists
        matches = index.lookup(clip_probes(speeds, index.probe_bits()), limit + 2)
        return [ClipMatch(ids[m.song], m.votes, m.offset * TIME_SCALE) for m in matches if ids[m.song]][:limit]
