"""`crossgenre serve`: open the index once (indexing the library first if there is no index yet), hand the
web app what it needs (a search engine, a re-index callable, a stats callable), and run it under waitress.

This is where the serve room meets the rest: `server/` knows none of the workspace, the indexer or the
stats; it calls what it is given.
"""

from __future__ import annotations

import logging
import threading

from .indexer import index_library
from .stats import collect_stats
from .workspace import open_for_indexing, open_for_search

log = logging.getLogger("crossgenre.server")


def open_workspace(config, profile_name: str | None = None):
    """The index opened for search; with no index yet and a library configured, index it first."""
    from store import VectorStore

    store = VectorStore(config.uri, prefix=config.collection_prefix, token=config.milvus_token)
    try:
        exists = store.exists()
    finally:
        store.close()
    if exists or not config.library:
        return open_for_search(config, profile_name)  # no index and no library: its error says what to run
    log.info("There is no index at %s yet; indexing %s first.", config.uri, ", ".join(config.library))
    ws = open_for_indexing(config, profile_name)
    try:
        report = index_library(ws, list(config.library), progress=True)
    except BaseException:
        ws.close()
        raise
    log.info(report.summary())
    return ws


def build_app(config, ws):
    """The web app over an open workspace: its engine, a re-index of `config.library`, its statistics."""
    from search import SearchEngine
    from server import create_app

    def reindex(on_progress):
        return index_library(ws, list(config.library), progress=False, on_progress=on_progress)

    return create_app(config, SearchEngine(ws), reindex=reindex, stats=lambda: collect_stats(ws))


def load_prints_in_background(store) -> threading.Thread:
    """Load (or build) the posting lists that identify clips by their prints now, in the background, rather
    than at the first clip query; clip queries made meanwhile are matched by their sound alone. The copy of
    the song vectors a Milvus Lite index keeps in memory is loaded first (Milvus answers until it is there)."""
    def load():
        try:
            store.song_matrix(wait=True)
            store.print_index()
        except Exception as exc:  # the first clip query tries again
            log.warning("Could not load the audio prints of the library yet (%s).", exc)

    thread = threading.Thread(target=load, name="print-index", daemon=True)
    thread.start()
    return thread


def serve(config, profile_name: str | None = None) -> int:
    """Serve the page and the API until SIGTERM/SIGINT; returns the exit code (0)."""
    from encoders.device import configure_threads
    from server.run import make_server, stop_on_signals

    configure_threads()
    ws = open_workspace(config, profile_name)
    try:
        app = build_app(config, ws)
        load_prints_in_background(ws.store)
        server = make_server(app, config.host, config.port, config.threads)
        stop_on_signals()
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
