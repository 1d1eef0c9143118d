"""The app factory: one Flask app over one search engine (which holds the open index and its models).

Whoever composes the app (`crossgenre serve`, tests) hands it the engine, a re-index callable and a
stats callable; this room opens nothing itself. Safe defaults: no CORS headers, a same-origin Content
Security Policy, a 20 MB upload cap, write endpoints off unless a token is configured.
"""

from __future__ import annotations

from flask import Flask, render_template

from .api import CoverCache, Services, bp
from .errors import register_error_handlers
from .indexing import IndexJob
from .similar import bp as similar_bp

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; script-src 'self'; "
        "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


def create_app(config, engine, reindex=None, stats=None) -> Flask:
    """The crossgenre web app (page + JSON API).

    config: host/port/token/library settings; engine: a search.SearchEngine; reindex(on_progress) ->
    an index report with `summary()` and `failed`, run by POST /api/index; stats() -> the index's
    statistics as a dict, for GET /api/stats.
    """
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        MAX_FORM_MEMORY_SIZE=500_000,  # Werkzeug checks it per parser buffer, so keep it well above 64 kB reads
        MAX_FORM_PARTS=64,
    )
    app.json.sort_keys = False
    app.extensions["crossgenre"] = Services(
        config=config, engine=engine, stats=stats or (lambda: {}),
        index_job=IndexJob(reindex, tuple(config.library) if reindex else ()), covers=CoverCache(),
    )
    app.register_blueprint(bp)
    app.register_blueprint(similar_bp)
    register_error_handlers(app)

    @app.get("/")
    def index_page():
        return render_template("index.html", profile=engine.profile.name)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
