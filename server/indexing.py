"""Re-indexing the configured library in a background thread, one run at a time, with a status to poll.

The thread uses the app's own workspace (Milvus Lite allows one process per file, so it shares the
store), then refits the fusion and hands the new fusion to the search engine.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("crossgenre.server")

MAX_FAILED_LISTED = 100


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class IndexJob:
    """The one re-indexing run of a server: `start()` it, read `status()` any time."""

    def __init__(self, workspace, engine, library: tuple[str, ...]):
        self.workspace = workspace
        self.engine = engine
        self.library = tuple(library)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = {"state": "idle", "done": 0, "total": 0, "started": None, "finished": None,
                       "seconds": None, "summary": None, "failed": [], "failed_count": 0, "error": None}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start a run; False when one is already running."""
        with self._lock:
            if self.running:
                return False
            self._state.update(state="running", done=0, total=0, started=_now(), finished=None, seconds=None,
                               summary=None, failed=[], error=None, failed_count=0)
            self._thread = threading.Thread(target=self._run, name="crossgenre-index", daemon=True)
            self._thread.start()
            return True

    def status(self) -> dict:
        with self._lock:
            return {**self._state, "library_folders": len(self.library), "failed": list(self._state["failed"])}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends (tests, shutdown); True if none is running afterwards."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self._state.update(done=done, total=total)

    def _model_lock(self):
        """The lock the search engine holds while its models run (a fresh one if it has none)."""
        return getattr(self.engine, "model_lock", None) or threading.Lock()

    def _shown(self, path: str) -> str:
        """A failed file as the status shows it: relative to its library folder (no server paths leak)."""
        p = Path(path)
        for root in self.library:
            try:
                return str(p.resolve().relative_to(Path(root).resolve()))
            except (ValueError, OSError):
                continue
        return p.name

    def _scrubbed(self, text: str) -> str:
        """A message with the library folders' server paths replaced by their names."""
        for root in self.library:
            for spelling in {str(root), str(Path(root).resolve())}:
                text = text.replace(spelling, Path(root).name)
        return text

    def _run(self) -> None:
        from crossgenre.fusing import refit_if_needed
        from crossgenre.indexer import Indexer

        began = time.perf_counter()
        try:
            ws = replace(self.workspace, profile=_serialised(self.workspace.profile, self._model_lock()))
            report = Indexer(ws, progress=False, on_progress=self._progress).run(list(self.library))
            refit_if_needed(ws, progress=False)
            self.workspace.fusion = self.engine.fusion = ws.fusion
            result = {"state": "finished", "summary": report.summary().splitlines()[0],
                      "failed": [{"path": self._shown(p), "reason": self._scrubbed(r)}
                                 for p, r in report.failed[:MAX_FAILED_LISTED]],
                      "failed_count": len(report.failed)}
            log.info("Re-indexing finished: %s", result["summary"])
        except Exception as exc:  # the thread must record any failure; nobody else would see it
            log.exception("re-indexing failed")
            result = {"state": "failed", "error": self._scrubbed(f"{type(exc).__name__}: {exc}")}
        with self._lock:
            self._state.update(result, finished=_now(), seconds=round(time.perf_counter() - began, 2))


class _Locked:
    """An encoder whose model calls take a lock: indexing and searches never run the models at once.

    Queries already run one at a time under the engine's lock; the indexing thread takes the same lock
    per song, so searches interleave with a re-index instead of racing it inside a tokenizer or model.
    """

    CALLS = ("encode", "embed_song", "embed_songs", "embed_lyrics")

    def __init__(self, inner, lock):
        self._inner, self._lock = inner, lock

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if name not in self.CALLS or not callable(value):
            return value

        def locked(*args, **kwargs):
            with self._lock:
                return value(*args, **kwargs)

        return locked


def _serialised(profile, lock):
    """The profile with each encoder's model calls behind `lock`."""
    return replace(profile, audio=_Locked(profile.audio, lock), describe=_Locked(profile.describe, lock),
                   lyrics=_Locked(profile.lyrics, lock), cover=_Locked(profile.cover, lock))
