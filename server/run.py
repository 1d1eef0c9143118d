"""Serving: open the index once (indexing the library first if there is no index yet), then run waitress.

`serve` is what `crossgenre serve` calls; `BackgroundServer` runs the same server in a thread for
tests and the load benchmark. SIGTERM and SIGINT stop the server cleanly and close the store.
"""

from __future__ import annotations

import logging
import signal
import threading

import waitress

from .app import MAX_UPLOAD_BYTES, create_app

log = logging.getLogger("crossgenre.server")

# waitress buffers a whole body before the app sees it: refuse absurd ones early (plain-text 413);
# bodies between 20 MB and this get the app's JSON 413
MAX_BODY_BYTES = 3 * MAX_UPLOAD_BYTES
MAX_HEADER_BYTES = 64 * 1024


def open_workspace(config, profile_name: str | None = None):
    """The index opened for search; with no index yet and a library configured, index it first."""
    from store import VectorStore

    store = VectorStore(config.uri, prefix=config.collection_prefix, token=config.milvus_token)
    try:
        exists = store.exists()
    finally:
        store.close()
    if exists or not config.library:
        from crossgenre.workspace import open_for_search

        return open_for_search(config, profile_name)  # no index and no library: its error says what to run
    from crossgenre.fusing import refit_if_needed
    from crossgenre.indexer import Indexer
    from crossgenre.workspace import open_for_indexing

    log.info("There is no index at %s yet; indexing %s first.", config.uri, ", ".join(config.library))
    ws = open_for_indexing(config, profile_name)
    try:
        report = Indexer(ws, progress=True).run(list(config.library))
        refit_if_needed(ws, progress=False)
    except BaseException:
        ws.close()
        raise
    log.info(report.summary())
    return ws


def make_server(app, host: str, port: int, threads: int):
    """A waitress server for `app` bound to host:port (port 0: a free one)."""
    return waitress.create_server(app, host=host, port=port, threads=threads, ident="crossgenre",
                                  max_request_body_size=MAX_BODY_BYTES, max_request_header_size=MAX_HEADER_BYTES,
                                  clear_untrusted_proxy_headers=True)


def serve(config, profile_name: str | None = None) -> int:
    """Serve the page and the API until SIGTERM/SIGINT; returns the exit code (0)."""
    from encoders.device import configure_threads

    configure_threads()
    ws = open_workspace(config, profile_name)
    try:
        app = create_app(config, ws)
        server = make_server(app, config.host, config.port, config.threads)
        _stop_on_signals()
        host = server.effective_host
        shown = f"[{host}]" if ":" in str(host) else host
        log.info("crossgenre is serving %d songs at http://%s:%s/ (%s profile). Press Ctrl+C to stop.",
                 ws.store.count(), shown, server.effective_port, ws.profile.name)
        if config.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("The server listens on %s: anyone who can reach this machine can search the library.", config.host)
        server.run()  # returns after SIGTERM/SIGINT, once the worker threads are shut down
        app.extensions["crossgenre"].index_job.wait(timeout=30)
    finally:
        ws.close()
        log.info("Server stopped; index closed.")
    return 0


def _stop_on_signals() -> None:
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
