"""Songs like songs over HTTP: similar songs, mixes and paths, and any result list as an M3U8 playlist.

    GET  /api/songs/<id>/similar?k=&max_per_artist=&...     songs like one song (&but=<text>: like it, but ...)
    POST /api/mix      {"seeds": [id, ...], "negative": [id, ...], "k": 10, ...}
    GET  /api/path?from=<id>&to=<id>&steps=5&...
    POST /api/similar  multipart: audio=<clip> or image=<photo>, but=<text>, k=, ...   songs like an upload
    POST /api/playlist {"ids": [id, ...]}                  these songs, in this order, as M3U8 (the page's "Save as M3U")

Every list (and POST /api/search) comes as JSON, or as M3U8 with `Accept: audio/mpegurl` or
`?format=m3u8`: each song's audio URL on this server, or with `base=<folder>` its file's path relative
to that folder (for a player that reads the library's files itself).
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, current_app, jsonify, request

from search import Query
from search.planning import upload_seed
from search.playlist import MIMETYPE, m3u8
from search.query import Hit
from search.similar import SongOptions, SongSearch, text_modifier

from .api import SONG_ID, _song_row, _with_urls, services
from .errors import ApiError
from .uploads import read_clip, read_image

bp = Blueprint("similar", __name__, url_prefix="/api")

INTS = ("k", "max_per_artist", "max_per_album", "year_min", "year_max")
NUMBERS = ("duration_min", "duration_max")
TEXTS = ("genre", "folder")
FLAGS = ("exclude_seed_album", "cross_genre")
OPTIONS = (*INTS, *NUMBERS, *TEXTS, *FLAGS)
OUTPUT = ("format", "base")
TRUE, FALSE = ("true", "1", "on", "yes"), ("false", "0", "off", "no", "")


def song_search() -> SongSearch:
    ext = current_app.extensions
    if "crossgenre.songs" not in ext:
        ext["crossgenre.songs"] = SongSearch(services().engine.store)
    return ext["crossgenre.songs"]


@bp.get("/songs/<song_id>/similar")
def similar(song_id: str):
    _song_row(song_id, [])  # 404 for an unknown song
    options = _options(request.args, extra=(*OUTPUT, "but"))
    but = request.args.get("but")
    began = time.perf_counter()
    modifier = text_modifier(services().engine, but) if but is not None else None
    hits = song_search().similar(song_id, options, modifier=modifier)
    return _answer(hits, began, seed=song_id, **({"but": but} if but is not None else {}))


@bp.post("/similar")
def similar_to_upload():
    """Songs like an uploaded clip or cover photo (multipart: the file as `audio` or `image`), `but=<text>`."""
    if request.mimetype not in ("multipart/form-data",):
        raise ApiError(400, "bad_parameter", "send a multipart form with the clip as 'audio' or the photo as 'image'")
    files = request.files
    extra = sorted(set(files) - {"audio", "image"})
    if extra or len(files) != 1 or any(len(files.getlist(n)) > 1 for n in files):
        raise ApiError(400, "bad_parameter", "send exactly one file: the clip as 'audio' or the photo as 'image'")
    options = _options(request.form, extra=("but",))
    but = request.form.get("but") or None
    query = Query(audio=read_clip(files["audio"])) if "audio" in files else Query(image=read_image(files["image"]))
    engine = services().engine
    began = time.perf_counter()
    with engine.model_lock:
        seed = upload_seed(query, engine.profile, engine.fusion)
    modifier = text_modifier(engine, but) if but is not None else None
    hits = song_search().like_upload(seed, options, modifier=modifier)
    return _answer(hits, began, seed=query.kind, **({"but": but} if but is not None else {}))


@bp.post("/mix")
def mix():
    body = _json_body()
    seeds, negative = _ids(body.pop("seeds", None), "seeds", True), _ids(body.pop("negative", None), "negative", False)
    options = _options(body, from_json=True)
    began = time.perf_counter()
    hits = song_search().mix(seeds, negative, options)
    return _answer(hits, began, seeds=seeds, negative=negative)


@bp.get("/path")
def path():
    args = request.args
    ends = [args.get(name, "") for name in ("from", "to")]
    for sid in ends:
        if not sid:
            raise ApiError(400, "bad_parameter", "give the path's two songs as from=<id>&to=<id>")
        _song_row(sid, [])
    steps = _int(args.get("steps", "5"), "steps")
    options = _options(args, extra=(*OUTPUT, "from", "to", "steps"))
    began = time.perf_counter()
    hits = song_search().path(ends[0], ends[1], steps, options)
    return _answer(hits, began, **{"from": ends[0], "to": ends[1], "steps": steps})


@bp.post("/playlist")
def playlist():
    body = _json_body()
    if set(body) - {"ids"}:
        raise ApiError(400, "bad_parameter", 'send {"ids": ["<song id>", ...]} and nothing else')
    ids = _ids(body.get("ids"), "ids", True)
    if len(ids) > 1000:
        raise ApiError(400, "bad_parameter", "a playlist takes at most 1000 songs")
    rows = services().engine.store.get_songs(ids, ["id", "title", "artist", "duration"])
    return playlist_response([Hit(sid, n, 0.0, rows[sid]) for n, sid in enumerate(ids, start=1)])


def wants_playlist() -> bool:
    """Whether the client asked for M3U8: ?format=m3u8, or an Accept header that prefers it to JSON."""
    fmt = request.args.get("format", "")
    if fmt not in ("", "json", "m3u8"):
        raise ApiError(400, "bad_parameter", "format must be json or m3u8")
    if fmt:
        return fmt == "m3u8"
    best = request.accept_mimetypes.best_match(["application/json", MIMETYPE, "audio/x-mpegurl"])
    return best in (MIMETYPE, "audio/x-mpegurl")


def playlist_response(hits) -> Response:
    """The hits as an M3U8 download: audio URLs on this server, or file paths relative to ?base=."""
    base = request.args.get("base", "")
    ids = [h.id for h in hits]
    rows = services().engine.store.get_songs(ids, ["id", "path"]) if base else {}
    entries = []
    for h in hits:
        location = rows[h.id]["path"] if base and h.id in rows else f"{request.host_url}api/songs/{h.id}/audio"
        entries.append({"location": location, **{k: h.song.get(k) for k in ("duration", "artist", "title")}})
    response = Response(m3u8(entries, base or None), mimetype=MIMETYPE)
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="crossgenre.m3u8"'
    return response


def _answer(hits, began: float, **about):
    if wants_playlist():
        return playlist_response(hits)
    took = (time.perf_counter() - began) * 1000
    return jsonify(results=[_with_urls(h.to_dict()) for h in hits], query=about, took_ms=round(took, 1))


def _json_body() -> dict:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", 'send a JSON object such as {"seeds": ["<song id>", "<song id>"]}')
    return body


def _ids(value, name: str, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "bad_parameter", f"{name} must be a list of song ids" + (" (at least one)" if required else ""))
    for sid in value:
        if not SONG_ID.fullmatch(sid):
            raise ApiError(404, "unknown_song", "no song has this id")
    found = services().engine.store.get_songs(value, ["id"])
    missing = [sid for sid in value if sid not in found]
    if missing:
        raise ApiError(404, "unknown_song", f"no song with id {missing[0]} is in the index")
    return value


def _options(values, extra=(), from_json: bool = False) -> SongOptions:
    """SongOptions from query-string arguments or a JSON object; every bad value is a 400 that names it."""
    unknown = sorted(set(values) - set(OPTIONS) - set(extra))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise ApiError(400, "bad_parameter", f"unknown parameter(s) {shown}; known: {', '.join(OPTIONS)}")
    out = {}
    for name in OPTIONS:
        v = values.get(name)
        if v is None or (not from_json and v == ""):
            continue
        if from_json:
            ok = (isinstance(v, bool) if name in FLAGS else isinstance(v, str) if name in TEXTS
                  else isinstance(v, (int, float)) and not isinstance(v, bool))
            if not ok or (name in INTS and not float(v).is_integer()):
                raise ApiError(400, "bad_parameter", f"{name} has the wrong type")
            out[name] = int(v) if name in INTS else v
        elif name in INTS:
            out[name] = _int(v, name)
        elif name in NUMBERS:
            try:
                out[name] = float(v)
            except ValueError:
                raise ApiError(400, "bad_parameter", f"{name} must be a number, not {v[:20]!r}") from None
        elif name in FLAGS:
            if v.strip().lower() not in TRUE + FALSE:
                raise ApiError(400, "bad_parameter", f"{name} must be true or false")
            out[name] = v.strip().lower() in TRUE
        else:
            out[name] = v
    options = SongOptions(**out)
    options.validate()
    return options


def _int(v: str, name: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be a whole number, not {v[:20]!r}") from None
