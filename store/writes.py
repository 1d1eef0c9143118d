"""Every write of a VectorStore: whole songs (parts, then the song row), song rows, deletions.

`StoreWrites` is the write half of `VectorStore` (store/milvus.py), which provides the client, the
collection names and the layout.

Write order makes indexing crash-safe: a song's windows and chunks are written (and, on Milvus Lite,
flushed) before its song row, and re-indexing a song first deletes its old windows and chunks. The
song row is the commit marker: a song counts as indexed only when its row exists with its content hash.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from . import schema
from .prints import print_row_keys, print_rows
from .reads import MAX_IN_FILTER, batches, quote_list

IN_FLIGHT_KEY = "parts_in_flight"  # meta: the parts a batch wrote, until its song rows are written too


@dataclass
class SongRecord:
    """Everything written for one song: its row (scalars + song vectors), windows and lyric chunks."""

    row: dict
    window_starts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_ends: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_vectors: np.ndarray | None = None
    chunk_texts: list[str] = field(default_factory=list)
    chunk_vectors: np.ndarray | None = None
    print_starts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    print_vectors: np.ndarray | None = None  # float prints (encoders/fingerprint.py); stored as their codes


class StoreWrites:
    """Writes and deletions; mixed into VectorStore."""

    # -- writes --------------------------------------------------------------------------------
    def write_songs(self, records: list[SongRecord], after_parts=None) -> None:
        """Write a batch of songs: old windows/chunks/prints out (by key; a new song has none), new ones in,
        then the song rows last.

        `after_parts` (a callable) runs between the two, where a crash leaves parts without their song.
        Parts are inserted, not upserted: an upsert is a delete too, and Milvus Lite's deletes scan (2 s for
        640 windows among 4 million, against 0.03 s to insert them). The parts a killed run left without their
        song row are found through the record of parts in flight (`_parts_to_replace`) and deleted first."""
        if not records:
            return
        batch = [r.row["id"] for r in records]
        in_flight = self.read_meta(IN_FLIGHT_KEY, {})
        stored = self.get_songs(list(dict.fromkeys(batch + list(in_flight))), ["id", "key", "extra"])
        replaced, carried = _parts_to_replace(batch, stored, in_flight)
        self._delete_parts(replaced)
        windows, chunks, prints, copies = [], [], [], []
        for r in records:
            sid = r.row["id"]
            key = schema.song_key(sid)
            counts = {"windows": 0, "chunks": 0, "prints": 0}
            parts_id = uuid.uuid4().hex[:16]  # names these parts: a copy of older windows is never read as theirs
            if r.print_vectors is not None and len(r.print_vectors):
                if not np.allclose(r.print_starts, np.arange(len(r.print_starts)) * schema.PRINT_HOP_SECONDS):
                    raise ValueError(f"song prints must start every {schema.PRINT_HOP_SECONDS} s from 0")
                prints += print_rows(key, r.print_vectors)
                counts["prints"] = len(r.print_vectors)
            if r.window_vectors is not None:
                searched = pooled_windows(r.window_starts, r.window_ends, r.window_vectors, self.searched_windows)
                for n, (s, e, v) in enumerate(zip(*searched)):
                    windows.append({"id": schema.part_key(key, n), "song_id": sid, "start": float(s), "end": float(e),
                                    "vector": v.tolist()})
                counts["windows"] = len(searched[2])
                copies.append((key, parts_id, r.window_starts, r.window_ends, r.window_vectors))
            if r.chunk_vectors is not None:
                for n, (t, v) in enumerate(zip(r.chunk_texts, r.chunk_vectors)):
                    text = t.encode("utf-8")[: schema.CHUNK_TEXT_LENGTH - 4].decode("utf-8", "ignore")
                    chunks.append({"id": schema.part_key(key, n), "song_id": sid, "text": text, "vector": v.tolist()})
                counts["chunks"] = len(r.chunk_vectors)
            r.row["extra"] = {**(r.row.get("extra") or {}), "parts": counts, "parts_id": parts_id}
        flying = carried | {r.row["id"]: {"key": schema.song_key(r.row["id"]), "parts": r.row["extra"]["parts"],
                                          "parts_id": r.row["extra"]["parts_id"]} for r in records}
        self.write_meta(IN_FLIGHT_KEY, flying)
        if windows:
            self._insert(self.windows, windows)
        if chunks:
            self._insert(self.chunks, chunks)
        for part in batches(prints, 2000):
            self._insert(self.prints, part)
        if not self.is_server:
            for name in (self.windows, self.chunks, self.prints):
                self.client.flush(name)
        if prints:
            self.prints_changed()
        if self.window_copies is not None:
            self.window_copies.put(self.prefix, copies)
        if after_parts is not None:
            after_parts()
        self.upsert_rows([r.row for r in records], new={sid for sid in batch if sid not in stored})
        self.write_meta(IN_FLIGHT_KEY, carried)

    def upsert_rows(self, rows: list[dict], new: set[str] = frozenset()) -> None:
        """Write whole song rows (scalars and song vectors); windows and chunks stay as they are. The rows of
        `new` (songs with no row yet) are inserted, which costs no delete."""
        if not rows:
            return
        plain = [self._plain_row(r) for r in rows]
        self.songs_changing()
        for f in self._side_fields():  # split layout: side vectors first, the song row stays the commit marker
            side = [{"id": r["id"], **{k: r[k] for k in schema.FILTER_SCALARS}, "vector": r.pop(f)} for r in plain]
            self._insert(self.side(f), side, upsert=True)  # a killed run may have written them without the song row
        self._write(self.songs, plain, new)
        if not self.is_server:
            self.client.flush(self.songs)
        self.songs_written(plain)

    def _plain_row(self, row: dict) -> dict:
        out = {k: schema.SCALAR_DEFAULTS[t] for k, (t, _) in schema.SONG_SCALARS.items() if k not in row and t in schema.SCALAR_DEFAULTS}
        out["key"] = schema.song_key(row["id"])
        for k, v in row.items():
            if isinstance(v, np.ndarray):
                v = v.astype(np.float32).tolist()
            elif isinstance(v, (np.floating, np.integer)):
                v = v.item()
            out[k] = v
        return out

    def delete_songs(self, ids: list[str]) -> None:
        self.songs_changing()
        for part in batches(ids, MAX_IN_FILTER):
            self._delete_parts(self.get_songs(part, ["id", "key", "extra"]).values())
            self._delete(self.songs, f"id in {quote_list(part)}")
            for f in self._side_fields():
                self._delete(self.side(f), f"id in {quote_list(part)}")
            self.songs_deleted(part)
        if not self.is_server:
            self.flush()

    def _delete_parts(self, rows) -> None:
        """Delete the stored parts of these songs (rows with key and extra), by primary key: no scan."""
        keys = {"windows": [], "chunks": [], "prints": []}
        for row in rows:
            counts = (row.get("extra") or {}).get("parts", {})
            for kind in ("windows", "chunks"):
                keys[kind] += [schema.part_key(row["key"], n) for n in range(int(counts.get(kind, 0)))]
            keys["prints"] += print_row_keys(row["key"], counts.get("prints", 0))
        if self.window_copies is not None:
            self.window_copies.delete(self.prefix, [row["key"] for row in rows])
        for kind, ids in keys.items():
            for part in batches(ids, 20000):
                self.client.delete(getattr(self, kind), ids=part)
                self._deleted_last.add(getattr(self, kind))
        if keys["prints"]:
            self.prints_changed()

    def _write(self, collection: str, rows: list[dict], new: set[str]) -> None:
        """Insert the rows of new songs, upsert the others."""
        for upsert in (False, True):
            part = [r for r in rows if (r["id"] not in new) == upsert]
            if part:
                self._insert(collection, part, upsert)

    def _insert(self, collection: str, rows: list[dict], upsert: bool = False) -> None:
        (self.client.upsert if upsert else self.client.insert)(collection, rows)
        self._deleted_last.discard(collection)

    def _delete(self, collection: str, expr: str) -> None:
        self.client.delete(collection, filter=expr)
        self._deleted_last.add(collection)


def pooled_windows(starts, ends, vectors: np.ndarray, most: int | None):
    """(starts, ends, vectors) of the windows Milvus searches for a song: at most `most` (None: all), each
    the mean of consecutive windows (unit length again), from the first one's start to the last one's end."""
    n = len(vectors)
    if most is None or n <= most:
        return np.asarray(starts), np.asarray(ends), np.asarray(vectors, np.float32)
    size = -(-n // most)
    firsts = np.arange(0, n, size)
    pooled = np.add.reduceat(np.asarray(vectors, np.float32), firsts, axis=0)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return np.asarray(starts)[firsts], np.asarray(ends)[np.minimum(firsts + size, n) - 1], pooled


def _parts_to_replace(batch: list[str], stored: dict[str, dict], in_flight: dict[str, dict]):
    """(the rows {key, extra} whose parts a batch must delete before it inserts its own, the in-flight
    entries still to keep).

    `in_flight` holds the parts a batch wrote before its song rows ({song id: {key, parts, parts_id}});
    a run that was killed in between left it. Each entry is then one of:
    - committed: the song's row names those parts (its parts_id): nothing to do;
    - this batch's song, or a song with no row: its parts go (with the row's older parts, if any);
    - a song whose row names other parts (a re-index killed midway): those parts stand in for the row's
      until the song is written again, so the entry is kept, and its parts go then."""
    replaced = [stored[sid] for sid in batch if sid in stored]
    carried = {}
    for sid, entry in in_flight.items():
        row = stored.get(sid)
        committed = row is not None and (row.get("extra") or {}).get("parts_id") == entry.get("parts_id")
        if committed:
            continue
        if sid in batch or row is None:
            replaced.append({"key": entry["key"], "extra": entry})
        else:
            carried[sid] = entry
    return replaced, carried
