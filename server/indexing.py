"""Re-indexing the configured library in a background thread, one run at a time, with a status to poll.

The run itself is a callable the app is given (`reindex(on_progress)`): it indexes and refits on the
server's own open index (Milvus Lite allows one process per file), so searches see the result at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("crossgenre.server")

MAX_FAILED_LISTED = 100


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class IndexJob:
    """The one re-indexing run of a server: `start()` it, read `status()` any time."""

    def __init__(self, reindex, library: tuple[str, ...]):
        self.reindex = reindex  # callable(on_progress) -> a report with summary() and failed
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

    def _shown(self, path: str) -> str:
        """A failed file as the status shows it: relative to its library folder (no server paths leak)."""
        p = Path(path)
        for root in self.library:
            try:
                return str(p.resolve().relative_to(Path(root).resolve()))
            except (ValueError, OSError):
                continue
        return p.name

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            report = self.reindex(self._progress)
            result = {"state": "finished", "summary": report.summary().splitlines()[0],
                      "failed": [{"path": self._shown(p), "reason": r} for p, r in report.failed[:MAX_FAILED_LISTED]],
                      "failed_count": len(report.failed)}
            log.info("Re-indexing finished: %s", result["summary"])
        except Exception as exc:  # the thread must record any failure; nobody else would see it
            log.exception("re-indexing failed")
            result = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._state.update(result, finished=_now(), seconds=round(time.perf_counter() - began, 2))
