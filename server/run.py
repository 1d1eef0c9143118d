"""Running the app under waitress: `make_server` (what `crossgenre serve` runs), `stop_on_signals` (SIGTERM
and SIGINT stop it cleanly), and `BackgroundServer`, the same server in a thread for tests and benches.
"""

from __future__ import annotations

import logging
import signal
import threading

import waitress

from .app import MAX_UPLOAD_BYTES

log = logging.getLogger("crossgenre.server")

# waitress buffers a whole body before the app sees it: refuse absurd ones early (plain-text 413);
# bodies between 20 MB and this get the app's JSON 413
MAX_BODY_BYTES = 3 * MAX_UPLOAD_BYTES
MAX_HEADER_BYTES = 64 * 1024


def make_server(app, host: str, port: int, threads: int):
    """A waitress server for `app` bound to host:port (port 0: a free one)."""
    return waitress.create_server(app, host=host, port=port, threads=threads, ident="crossgenre",
                                  max_request_body_size=MAX_BODY_BYTES, max_request_header_size=MAX_HEADER_BYTES,
                                  clear_untrusted_proxy_headers=True)


def stop_on_signals() -> None:
    """SIGTERM behaves like Ctrl+C: waitress catches the KeyboardInterrupt and shuts down its threads."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


class BackgroundServer:
    """The app served by waitress in a daemon thread on host:port (port 0 picks a free one); for tests and benches."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        self.server = make_server(app, host, port, threads)
        self.url = f"http://{host}:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown(timeout=5)
        for channel in list(self.server._map.values()):
            channel.close()
        self.thread.join(timeout=5)
