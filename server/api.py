"""The JSON API routes. Each one validates the request, calls one service, and serialises the answer.

Song files are found by id in the index, never by a client-given path.
"""

from __future__ import annotations

import hmac
import io
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file

from encoders.descriptors import words
from store import PUBLIC_SONG_FIELDS, SongRow

from .errors import ApiError, unavailable_reason
from .openapi import build_spec
from .params import query_from_form, query_from_json
from .uploads import AUDIO_TYPES, IMAGE_TYPES, sniff_audio, sniff_image

bp = Blueprint("api", __name__, url_prefix="/api")

SONG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
STATS_TTL = 30.0  # seconds: counting every song on each page load would cost a scan of a large index
STATS_TTL_WHILE_INDEXING = 5.0  # a page polling during a re-index sees new songs, without a scan per poll


@dataclass
class Services:
    """What the routes use, created once per process by create_app."""

    config: object  # the settings: token, library folders
    engine: object  # search.SearchEngine (it holds the open index: engine.store, engine.profile)
    stats: object  # callable() -> the index's statistics as a dict
    index_job: object  # server.indexing.IndexJob
    covers: "CoverCache"
    stats_cache: list = field(default_factory=lambda: [0.0, None, None])  # [time, last re-index end, stats]


def services() -> Services:
    return current_app.extensions["crossgenre"]


# -- search ------------------------------------------------------------------------------------
@bp.post("/search")
def search():
    if request.mimetype in FORM_TYPES:
        query = query_from_form(request.form, request.files)
    else:
        query = query_from_json(request.get_data(cache=False))
    began = time.perf_counter()
    answer = services().engine.answer(query)
    took = (time.perf_counter() - began) * 1000
    from .similar import playlist_response, wants_playlist

    if wants_playlist():
        return playlist_response(answer.hits)
    return jsonify(results=[_with_urls(h.to_dict()) for h in answer.hits], query=_describe(query, answer.reading),
                   took_ms=round(took, 1))


def _describe(query, reading) -> dict:
    """The request as understood, with how the engine read it (sound part and subject, genre moved away
    from, routes searched)."""
    out = {"kind": query.kind, "k": query.k, "cross_genre": query.cross_genre, "ranker": query.ranker}
    if query.text is not None:
        out["text"] = query.text
    else:
        out["bytes"] = len(query.audio if query.kind == "audio" else query.image)
    for name in ("genre", "artist", "album", "year_min", "year_max", "query_genre", "weights", "bpm_min", "bpm_max",
                 "key", "energy_min", "energy_max"):
        if getattr(query, name) is not None:
            out[name] = getattr(query, name)
    reading = reading.to_dict()
    guessed = reading.pop("genre", None)
    if guessed and query.query_genre is None:
        out["genre_guessed"] = guessed  # the genre a cross-genre search moved away from
    return {**out, **reading}


def _with_urls(hit: dict) -> dict:
    hit["audio_url"] = f"/api/songs/{hit['id']}/audio"
    hit["cover_url"] = f"/api/songs/{hit['id']}/cover" if hit.get("has_cover") else None
    return hit


# -- songs -------------------------------------------------------------------------------------
def _song_row(song_id: str, fields: list[str]) -> dict:
    if not SONG_ID.fullmatch(song_id):
        raise ApiError(404, "unknown_song", "no song has this id")
    row = services().engine.store.get_songs([song_id], ["id", *fields]).get(song_id)
    if row is None:
        raise ApiError(404, "unknown_song", f"no song with id {song_id} is in the index")
    return row


def _song_file(song_id: str) -> tuple[dict, Path]:
    """The song's row and file, found only through its index row (stored absolute)."""
    row = _song_row(song_id, ["path", "content_hash", "has_cover"])
    path = Path(row["path"])
    if not path.is_absolute() or not path.is_file():
        raise ApiError(404, "file_missing", "the song's file is no longer in the library; re-index to refresh")
    return row, path


@bp.get("/songs/<song_id>")
def song(song_id: str):
    row = _song_row(song_id, [*PUBLIC_SONG_FIELDS, "extra"])
    extra = row.pop("extra", None) or {}
    out = {"id": song_id, **SongRow.public(row), "top_tags": extra.get("top_tags"), "feel": words(row)}
    return jsonify(_with_urls(out))


@bp.get("/songs/<song_id>/audio")
def song_audio(song_id: str):
    row, path = _song_file(song_id)
    try:
        with open(path, "rb") as f:
            kind = sniff_audio(f.read(128))
        mimetype = AUDIO_TYPES.get(kind or "", "application/octet-stream")
        return send_file(path, mimetype=mimetype, conditional=True, etag=row["content_hash"] or True, max_age=3600)
    except OSError:  # gone or unreadable since the index saw it
        raise ApiError(404, "file_unreadable", "the song's file cannot be read; re-index to refresh") from None


@bp.get("/songs/<song_id>/cover")
def song_cover(song_id: str):
    row, path = _song_file(song_id)
    data = services().covers.get(song_id, row["content_hash"], path) if row["has_cover"] else b""
    kind = sniff_image(data[:32]) if data else None
    if kind is None:
        raise ApiError(404, "no_cover", "this song has no cover art")
    return send_file(io.BytesIO(data), mimetype=IMAGE_TYPES[kind], conditional=True,
                     etag=f"{row['content_hash']}-cover", max_age=3600)


class CoverCache:
    """The last few covers read from song files, keyed by song id and content hash (bytes, or b"" for none)."""

    def __init__(self, size: int = 128):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, song_id: str, content_hash: str, path: Path) -> bytes:
        key = (song_id, content_hash)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = _read_cover(path)
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def _read_cover(path: Path) -> bytes:
    from scan.errors import CrossgenreError
    from scan import read_track

    try:
        return read_track(path).cover or b""
    except (CrossgenreError, OSError):
        return b""


# -- index facts -------------------------------------------------------------------------------
@bp.get("/stats")
def stats():
    s = services()
    when, indexed, cached = s.stats_cache
    job = s.index_job.status()
    ttl = STATS_TTL_WHILE_INDEXING if job["state"] == "running" else STATS_TTL
    if cached is None or time.monotonic() - when > ttl or job["finished"] != indexed:
        cached = dict(s.stats())
        cached.pop("milvus", None)  # a server path or URI is not the client's business
        s.stats_cache[:] = [time.monotonic(), job["finished"], cached]
    return jsonify(cached)


@bp.get("/health")
def health():
    s = services()
    try:
        songs = s.engine.store.count()
    except Exception as exc:  # a Milvus server gone away: the service is down, the request was fine
        raise ApiError(503, "index_unavailable", f"the index (Milvus) does not answer: {unavailable_reason(exc)}",
                       {"Retry-After": "30"}) from None
    return jsonify(status="ok", songs=songs, profile=s.engine.profile.name, indexing=s.index_job.status()["state"])


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_spec())


# -- writes ------------------------------------------------------------------------------------
def require_token() -> None:
    """Write endpoints: off without a configured token; otherwise `Authorization: Bearer <token>`."""
    token = services().config.token
    if not token:
        raise ApiError(403, "writes_disabled",
                       "write endpoints are off because no token is configured; set `token` in crossgenre.toml "
                       "or CROSSGENRE_TOKEN to enable them")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "send the configured token as `Authorization: Bearer <token>`",
                       {"WWW-Authenticate": 'Bearer realm="crossgenre"'})


@bp.post("/index")
def start_index():
    require_token()
    s = services()
    if not s.index_job.library:
        raise ApiError(409, "no_library", "no library folders are configured; start the server with --library FOLDER")
    if not s.index_job.start():
        raise ApiError(409, "already_running", "a re-index is already running; poll /api/index/status")
    response = jsonify(s.index_job.status())
    response.status_code = 202
    response.headers["Location"] = "/api/index/status"
    return response


@bp.get("/index/status")
def index_status():
    return jsonify(services().index_job.status())
