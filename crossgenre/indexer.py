"""Indexing: scan -> decode -> encode -> fuse -> store, for a library of folders.

The stages live in their rooms (scan/, encoders/, fusion/, store/); this module only chains them.
Reading and decoding run in a worker thread ahead of the encoders so the CPU never waits on disk.
A bad file becomes a failure record with a reason; it never ends the run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from encoders.descriptors import UNKNOWN, describe
from encoders.fingerprint import to_print_rate
from scan import content_hash, find_audio_files, read_track
from scan.decode import read_audio, stream_audio
from scan.genres import normalize_genre
from store import SongRecord, SongRow, quote
from store.schema import fit_row

from scan.errors import CrossgenreError

from .fusing import joint_vector, refit_if_needed
from .workspace import Workspace, finish_switch

log = logging.getLogger("crossgenre")

PREFETCH_DEPTH = 4
AUDIO_BATCH_SONGS = 4  # songs whose audio windows are encoded in one batch (when the encoder can)
# The encoders see at most this much of a song (windows spread over it), so a 3-hour file costs the
# memory of 30 minutes; its prints still cover all of it, read in blocks.
MAX_ENCODED_SECONDS = 30 * 60
STOP_AT = "CROSSGENRE_STOP_AT"  # tests: "parts:N" or "rows:N" stops the process there (see _checkpoint)


def song_id(path: str | Path, salt: int = 0) -> str:
    """A new song's id: a short hash of its absolute path (clients never see the path itself). The id stays
    with the song when its file moves, so a later file at the old path takes a salted one (`free_song_id`)."""
    text = str(Path(path).resolve()) + (f"\0{salt}" if salt else "")
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def free_song_id(path: str | Path, taken: set[str]) -> str:
    """The id of a new song at `path`: `song_id(path)`, or a salted one if a moved song holds that."""
    salt = 0
    while (sid := song_id(path, salt)) in taken:
        salt += 1
    return sid


def beside_digest(track) -> str:
    """A digest of a song's lyrics and cover as read: what the files beside it (sidecar lyrics, a folder
    image) add. A moved song whose digest is unchanged keeps its vectors."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update((track.lyrics or "").encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + (track.cover or b""))
    return digest.hexdigest()


@dataclass
class IndexReport:
    """What one `index` run did. `failed` lists (path, reason) for every file that was skipped, once;
    `notes` lists (path, note) for what was passed over in a song that was indexed (a huge cover...)."""

    found: int = 0
    added: int = 0
    updated: int = 0
    moved: int = 0  # re-pointed to their new path, their vectors kept
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    profile: str = ""

    def fail(self, path: str, reason: str) -> None:
        """Record a skipped file (once), its reason without the path it would repeat."""
        if all(p != path for p, _ in self.failed):
            self.failed.append((path, _without_path(reason, path)))

    def summary(self) -> str:
        lines = [
            f"{self.found} audio files found: {self.added} added, {self.updated} updated, {self.moved} moved, "
            f"{self.unchanged} unchanged, {self.removed} removed, {len(self.failed)} skipped "
            f"({self.seconds:.1f} s, {self.profile} profile)"
        ]
        if self.failed:
            lines.append("Skipped files:")
            lines += [f"  {path}: {reason}" for path, reason in self.failed]
        if self.notes:
            lines.append("Indexed, with something passed over:")
            lines += [f"  {path}: {note}" for path, note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("found", "added", "updated", "moved", "unchanged", "removed")}
        out["skipped"] = [{"path": p, "reason": r} for p, r in self.failed]
        out["notes"] = [{"path": p, "note": n} for p, n in self.notes]
        return {**out, "seconds": round(self.seconds, 2), "profile": self.profile}


def _without_path(reason: str, path: str) -> str:
    """A reason as a user reads it beside its path: the path not repeated inside it."""
    reason = reason.removeprefix(f"{path}: ")
    return reason.replace(path, Path(path).name)


@dataclass
class _Prepared:
    """A file read and decoded by the worker thread, or the reason it could not be."""

    path: str
    sid: str
    stat: tuple[float, int]
    digest: str = ""
    track: object = None
    waveform: np.ndarray | None = None
    decoder: str = ""  # which decoder read it: "pyav" or "libsndfile"
    prints: tuple | None = None  # (vectors, starts) of a song too long to print in one piece
    descriptors: object = UNKNOWN  # encoders.descriptors.Descriptors, made here beside the decode
    error: str | None = None


def _prepare(path: Path, sid: str, stat: tuple[float, int], digest: str, sample_rate: int, printer) -> _Prepared:
    item = _Prepared(str(path), sid, stat, digest)
    try:
        item.track = read_track(path)
        long = item.track.duration > MAX_ENCODED_SECONDS
        decoded = read_audio(path, sample_rate, MAX_ENCODED_SECONDS if long else None)
        item.waveform, item.decoder = decoded.samples, decoded.decoder
        if long or len(item.waveform) >= MAX_ENCODED_SECONDS * sample_rate:
            # the prints cover the whole song: read again at the print rate, in blocks
            item.prints = printer.song_prints_streamed(stream_audio(path, printer.sample_rate, item.decoder))
    except CrossgenreError as exc:
        item.error = str(exc)
    except MemoryError:
        item.error = "too large to decode in the memory left"
    except Exception as exc:  # a library bug on one odd file must not end the run
        item.error = f"could not be read ({type(exc).__name__}: {exc})"
    else:
        try:
            item.descriptors = describe(item.waveform, sample_rate)
        except Exception as exc:  # tempo and key unknown is no reason to leave the song out
            log.warning("%s: no tempo or key (%s: %s)", path, type(exc).__name__, exc)
    return item


def _prefetched(jobs, depth: int):
    """Run jobs (callables) in one worker thread, at most `depth` ahead; yield results in order."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(job))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def index_library(ws: Workspace, paths: list[str | Path], progress: bool = True, on_progress=None) -> IndexReport:
    """Bring the index in line with the files under `paths`, then refit the fusion if the library changed
    enough. The one way every caller indexes: the CLI, the demo, the server's first run and re-index, tests."""
    indexer = Indexer(ws, progress=progress, on_progress=on_progress)
    report = indexer.run(paths)
    refit_if_needed(ws, progress=progress)
    finish_switch(ws, [path for path, _ in report.failed], after_swap=lambda: indexer._checkpoint("swap"))
    return report


class Indexer:
    """Brings a Milvus index in line with the files under some folders: adds, re-embeds, removes. Whatever goes wrong with one song skips that song (listed with a reason), never the run."""

    def __init__(self, workspace: Workspace, progress: bool = True, on_progress=None):
        self.ws = workspace
        self.profile = workspace.profile
        self.progress = progress
        self.on_progress = on_progress  # callable(done, total), e.g. for the server's status endpoint
        self._written = 0  # batches written in this run (for _checkpoint)
        self._stop_at = os.environ.get(STOP_AT, "")

    def run(self, paths: list[str | Path]) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport(profile=self.profile.name)
        roots = [Path(p).resolve() for p in paths]
        rejected: list[tuple[str, str]] = []
        files = find_audio_files(paths, rejected)
        for path, reason in rejected:
            report.fail(path, reason)
        report.found = len(files) + len(rejected)
        known = {
            row["id"]: row
            for row in self.ws.store.iter_songs(["id", "path", "content_hash", "mtime", "size"])
        }
        by_path = {row["path"]: row for row in known.values()}
        taken = set(known)
        todo = []
        seen = set()
        for given in files:
            try:
                path = given.resolve()  # stored absolute: the server and later runs find it from anywhere
                str(path).encode("utf-8")
                st = path.stat()
            except UnicodeEncodeError:
                report.fail(str(given), "its path is not valid UTF-8 (rename the file or folder)")
                continue
            except (OSError, RuntimeError) as exc:  # gone since the walk, or a link loop
                report.fail(str(given), f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
                continue
            old = by_path.get(str(path))
            sid = old["id"] if old else free_song_id(path, taken)
            taken.add(sid)
            seen.add(sid)
            stat = (st.st_mtime, st.st_size)
            if old and (old["mtime"], old["size"]) == stat:
                report.unchanged += 1
                continue
            todo.append((path, sid, stat, old))
        gone = {
            sid: row for sid, row in known.items()
            if sid not in seen and (not Path(row["path"]).exists() or any(_under(row["path"], r) for r in roots))
        }
        todo = self._repoint_moved(todo, gone, report)
        if gone:
            self._guarded(report, "(removed songs)", lambda: self.ws.store.delete_songs(list(gone)))
            report.removed = len(gone)
            log.info("Removed %d songs whose files are gone.", len(gone))
        self._embed_all(todo, report)
        report.seconds = time.perf_counter() - started
        return report

    def _repoint_moved(self, todo: list, gone: dict, report: IndexReport) -> list:
        """Re-point new files that are indexed songs gone from their old path (same size and content hash,
        the old file absent, the same lyrics and cover beside it): the song keeps its id, key and parts, its
        row takes the new path. A copy (the old file still there) is a new song. Returns the rest of `todo`."""
        by_size: dict[int, list[dict]] = {}
        for row in gone.values():
            if not Path(row["path"]).exists():
                by_size.setdefault(row["size"], []).append(row)
        if not by_size:
            return todo
        rest = []
        for path, sid, stat, old in todo:
            candidates = [] if old else by_size.get(stat[1], [])
            if candidates:
                moved = self._guarded(report, str(path), lambda p=path, c=candidates, s=stat: self._repoint(p, c, s))
                if moved is None:  # unreadable: listed with its reason
                    continue
                if moved:
                    candidates.remove(moved)
                    del gone[moved["id"]]
                    report.moved += 1
                    continue
            rest.append((path, sid, stat, old))
        return rest

    def _repoint(self, path: Path, candidates: list[dict], stat: tuple[float, int]):
        """The gone row that this file is (now re-pointed at it), or False."""
        digest = content_hash(path)
        match = next((row for row in candidates if row["content_hash"] == digest), None)
        if match is None:
            return False
        rows = self.ws.store.query_rows(f"id == {quote(match['id'])}", 1)
        if not rows:
            return False
        track = read_track(path)
        recorded = (rows[0].get("extra") or {}).get("beside")
        if recorded is not None and recorded != beside_digest(track):
            return False  # other lyrics or another cover beside it now: embedded again as a new song
        title = track.title or path.stem  # a song without a title tag is named by its file
        self.ws.store.upsert_rows([fit_row({**rows[0], "path": str(path), "mtime": stat[0], "size": stat[1], "title": title})])
        return match

    def _guarded(self, report: IndexReport, path: str, action):
        """Run one step for one song; a failure skips that song (listed) instead of ending the run."""
        try:
            result = action()
        except Exception as exc:
            log.debug("%s failed", path, exc_info=True)
            report.fail(path, _plain(exc))
            return None
        return True if result is None else result

    def _embed_all(self, todo, report: IndexReport) -> None:
        rate = self.profile.audio.sample_rate
        printer = self.profile.printer
        jobs = []
        for path, sid, stat, old in todo:
            jobs.append(lambda p=path, s=sid, st=stat: _prepare_with_hash(p, s, st, rate, printer))
        olds = {sid: old for _, sid, _, old in todo}
        batch: list[SongRecord] = []
        ready: list[_Prepared] = []  # decoded songs waiting for the audio encoder, embedded together
        # smoothing=0: songs/s and the ETA from the whole run's mean rate, not the last few songs'
        bar = tqdm(total=len(todo), unit="song", desc="Indexing", disable=not self.progress, dynamic_ncols=True, smoothing=0)
        done, audio_seconds, started = 0, 0.0, time.perf_counter()
        for item in _prefetched(jobs, PREFETCH_DEPTH):
            if item.waveform is not None:  # hours of audio per hour = seconds of audio per second
                audio_seconds += len(item.waveform) / rate
                bar.set_postfix_str(f"{audio_seconds / max(time.perf_counter() - started, 1e-9):.0f} h of audio/h", refresh=False)
            bar.update(1)
            done += 1
            if self.on_progress:
                self.on_progress(done, len(todo))
            if item.track is not None:
                report.notes += [(item.path, note) for note in item.track.notes]
            if item.error:
                report.fail(item.path, item.error)
                if olds.get(item.sid):  # it was indexed before and is now unreadable: drop the stale entry
                    if self._guarded(report, item.path, lambda s=item.sid: self.ws.store.delete_songs([s])):
                        report.removed += 1
                continue
            old = olds.get(item.sid)
            if old and old["content_hash"] == item.digest:
                # touched but not changed: keep the vectors, record the new mtime
                self._guarded(report, item.path, lambda i=item: self._touch(i))
                report.unchanged += 1
                continue
            ready.append(item)
            if len(ready) >= AUDIO_BATCH_SONGS:
                batch += self._embed_ready(ready, report)
                ready = []
            if len(batch) >= self.ws.config.batch_size:
                self._write(batch, olds, report)
                batch = []
        batch += self._embed_ready(ready, report)
        self._write(batch, olds, report)
        bar.close()

    def _write(self, records: list[SongRecord], olds: dict, report: IndexReport) -> None:
        """Write a batch; a batch the store refuses is written song by song, and a song it refuses is skipped."""
        if not records:
            return
        try:
            self.ws.store.write_songs(records, after_parts=lambda: self._checkpoint("parts"))
        except Exception as exc:
            if len(records) == 1:
                report.fail(records[0].row["path"], f"could not be stored: {_plain(exc)}")
                return
            log.warning("The index refused a batch (%s); writing its songs one by one.", _plain(exc))
            for record in records:
                self._write([record], olds, report)
            return
        self._checkpoint("rows")
        for r in records:
            if olds.get(r.row["id"]):
                report.updated += 1
            else:
                report.added += 1

    def _checkpoint(self, point: str) -> None:
        """Where a kill test stops this process: with CROSSGENRE_STOP_AT=parts:N (batch N's windows, chunks
        and prints written, its song rows not), rows:N (batch N committed) or swap (a new generation of
        the index made active, the old one not yet dropped), the process stops itself (SIGSTOP) there, and
        the test kills it. Does nothing otherwise."""
        if point == "parts":
            self._written += 1
        if self._stop_at and self._stop_at in (point, f"{point}:{self._written}"):
            os.kill(os.getpid(), signal.SIGSTOP)

    def _embed_ready(self, items: list[_Prepared], report: IndexReport) -> list[SongRecord]:
        """Records of decoded songs, made while holding the model lock: a search waits for this batch, not the run."""
        with self.ws.model_lock:
            return self._embed_batch(items, report)

    def _embed_batch(self, items: list[_Prepared], report: IndexReport) -> list[SongRecord]:
        """Records of decoded songs; their audio windows go through the audio encoder together when it can
        batch. A batch the encoder fails on is encoded song by song; a song that fails is skipped."""
        if not items:
            return []
        audio = self.profile.audio
        try:
            if hasattr(audio, "embed_songs"):  # windows of several songs in one batch: the model runs at its bare speed
                embeddings = audio.embed_songs([i.waveform for i in items])
            else:
                embeddings = [audio.embed_song(i.waveform) for i in items]
        except Exception:
            if len(items) == 1:
                embeddings = [None]
            else:
                return [r for i in items for r in self._embed_batch([i], report)]
        records = []
        for item, embedding in zip(items, embeddings):
            item_records = None
            if embedding is not None:
                item_records = self._guarded(report, item.path, lambda i=item, e=embedding: self._embed(i, e))
            else:
                report.fail(item.path, "the audio encoder failed on it")
            item.waveform = None  # the samples are not needed any more
            if item_records is not None:
                records.append(item_records)
        return records

    def _touch(self, item: _Prepared) -> None:
        rows = self.ws.store.get_songs([item.sid])
        if item.sid in rows:
            row = rows[item.sid]
            row["mtime"], row["size"] = item.stat
            self.ws.store.upsert_rows([row])

    def _embed(self, item: _Prepared, audio) -> SongRecord:
        """All vectors and the row of one decoded song, given its audio embedding."""
        p, t = self.profile, item.track
        vectors = {"audio": audio.track, "descriptors": item.descriptors.vector()}
        if p.describe_field == "tags":
            # the tag bridge compares queries with tag probabilities in its own (prior-lifted) space
            vectors["tags"] = p.describe.song_vector(audio.tags)
        has_lyrics = bool(t.lyrics and t.lyrics.strip())
        chunk_texts, chunk_vectors = [], None
        if has_lyrics:
            lyr = p.lyrics.embed_lyrics(t.lyrics)
            vectors["lyrics"] = lyr.pooled
            chunk_texts, chunk_vectors = lyr.chunks, lyr.vectors
        else:
            vectors["lyrics"] = np.zeros(p.lyrics.dim, np.float32)
        vectors["cover"], has_cover = self._cover_vector(item)
        vectors["joint"] = self._joint(vectors, has_lyrics, has_cover)
        genre = normalize_genre(t.genre)
        genre_source = "tag"
        if not genre:
            genre, genre_source = p.predict_genre(vectors[p.describe_field]), "predicted"
        extra = {"window_policy": p.audio.window_policy, "decoder": item.decoder, "beside": beside_digest(t),
                 **item.descriptors.extra()}
        if len(item.waveform) >= MAX_ENCODED_SECONDS * p.audio.sample_rate:
            extra["encoded_seconds"] = MAX_ENCODED_SECONDS
        if audio.tags is not None and hasattr(p.audio, "tag_names"):
            order = np.argsort(-audio.tags)[:5]
            extra["top_tags"] = [[p.audio.tag_names[i], round(float(audio.tags[i]), 3)] for i in order]
        row = SongRow(
            id=item.sid,
            path=item.path,
            content_hash=item.digest,
            mtime=item.stat[0],
            size=item.stat[1],
            title=t.title or Path(item.path).stem,
            artist=t.artist or "",
            album=t.album or "",
            album_artist=t.album_artist or "",
            genre=genre or "",
            genre_source=genre_source,
            raw_genre=t.genre or "",
            year=t.year or 0,
            track_number=t.track_number or 0,
            duration=t.duration or len(item.waveform) / p.audio.sample_rate,
            musicbrainz_track_id=t.musicbrainz_track_id or "",
            musicbrainz_album_id=t.musicbrainz_album_id or "",
            musicbrainz_artist_id=t.musicbrainz_artist_id or "",
            has_lyrics=has_lyrics,
            has_cover=has_cover,
            lyrics_source=t.lyrics_source or "",
            cover_source=(t.cover_source or "") if has_cover else "",
            profile=p.name,
            fusion_version=self._fusion_version(),
            extra=extra,
            vectors=vectors,
            **item.descriptors.row_fields(),
        ).as_row()
        if item.prints is not None:
            prints, print_starts = item.prints
        else:
            prints, print_starts = p.printer.song_prints(to_print_rate(item.waveform, p.audio.sample_rate))
        return SongRecord(row, audio.starts, audio.ends, audio.windows, chunk_texts, chunk_vectors, print_starts, prints)

    def _cover_vector(self, item: _Prepared) -> tuple[np.ndarray, bool]:
        p = self.profile
        if not item.track.cover:
            return np.zeros(p.cover.dim, np.float32), False
        from encoders.images import load_image

        try:
            image = load_image(item.track.cover)
        except CrossgenreError as exc:
            log.warning("%s: cover art ignored (%s)", item.path, exc)
            return np.zeros(p.cover.dim, np.float32), False
        return p.cover.encode([image], "image")[0], True

    def _joint(self, vectors: dict, has_lyrics: bool, has_cover: bool) -> np.ndarray:
        return joint_vector(self.ws.fusion, vectors, has_lyrics, has_cover)

    def _fusion_version(self) -> str:
        return getattr(self.ws.fusion, "version", "none") if self.ws.fusion is not None else "none"


def _prepare_with_hash(path: Path, sid: str, stat, rate: int, printer) -> _Prepared:
    try:
        digest = content_hash(path)
    except CrossgenreError as exc:
        return _Prepared(str(path), sid, stat, error=str(exc))
    except Exception as exc:
        return _Prepared(str(path), sid, stat, error=f"cannot be read ({type(exc).__name__}: {exc})")
    return _prepare(path, sid, stat, digest, rate, printer)


def _plain(exc: Exception) -> str:
    """An exception in words: its message (a Milvus error's own message), not a stack trace."""
    if isinstance(exc, CrossgenreError):
        return str(exc)
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _under(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root) or Path(path).resolve() == root
    except OSError:
        return False
