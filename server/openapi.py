"""The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json). The search request's
fields, limits and defaults come from search.query.PARAMS, the declaration that validates requests."""

from __future__ import annotations

from dataclasses import fields

from search.query import MAX_TEXT, PARAM, PARAMS, ROUTE_NAMES, Param

from search.similar import SongOptions

from .uploads import AUDIO_NAMES, IMAGE_NAMES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


SONG_ID = {"name": "id", "in": "path", "required": True, "description": "a song id from a search result",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}

def param_schema(p: Param) -> dict:
    """The JSON schema of one declared request field (null allowed where it has no default)."""
    if p.kind == "text":
        schema = {"type": "string", "maxLength": p.max_len}
    elif p.kind == "int":
        schema = {"type": "integer", "minimum": p.low, "maximum": p.high}
    elif p.kind == "number":
        schema = {"type": "number", "minimum": p.low, "maximum": p.high}
    elif p.kind == "bool":
        schema = {"type": "boolean"}
    elif p.kind == "choice":
        schema = {"type": "string", "enum": list(p.choices)}
    else:  # weights
        schema = {"type": "object", "propertyNames": {"enum": list(p.choices)},
                  "additionalProperties": {"type": "number", "minimum": p.low, "maximum": p.high}}
    if p.default is None:
        schema["type"] = [schema["type"], "null"]
    else:
        schema["default"] = p.default
    return {**schema, "description": p.about}


FILTERS = {p.name: param_schema(p) for p in PARAMS if p.name != "text"}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error", "detail"],
        "properties": {"error": {"type": "string", "description": "short machine-readable code"},
                       "detail": {"type": "string", "description": "one sentence saying what to change"}},
    },
    "SearchRequest": {
        "type": "object", "additionalProperties": False, "required": ["text"],
        "properties": {"text": {**param_schema(PARAM["text"]), "type": "string", "minLength": 1}, **FILTERS},
    },
    "SearchForm": {
        "type": "object",
        "description": "exactly one of audio, image or text; the filters as form fields",
        "properties": {
            "audio": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                      "description": f"an audio clip of 0.5 to 120 s ({AUDIO_NAMES}); the type is read from its bytes"},
            "image": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                      "description": f"a photo of a cover ({IMAGE_NAMES}), at most 40 megapixels"},
            "text": {"type": "string", "maxLength": MAX_TEXT},
            **FILTERS,
            "cross_genre": {"type": "string", "enum": ["true", "false", "1", "0", "on", "off", "yes", "no", ""],
                            "default": "false", "description": FILTERS["cross_genre"]["description"]},
            "weights": {"type": "string", "description": "the weights object as JSON text"},
        },
    },
    "RouteMatch": {
        "type": "object", "required": ["route", "score", "rank", "part", "share"],
        "properties": {"route": {"type": "string", "enum": list(ROUTE_NAMES)},
                       "score": {"type": "number", "description": "cosine similarity in that route"},
                       "rank": {"type": "integer", "description": "the song's rank in that route alone"},
                       "part": {"type": "number", "description": "this route's part of the hit's score: the parts "
                                "of a hit add up to its score"},
                       "share": {"type": "number", "description": "how much of the hit's lift this route gave: its part "
                                 "above the lowest part it gave any song of the query, over the sum of those lifts; "
                                 "from 0 to 1, the shares of a hit add up to 1"}},
    },
    "Explanation": {
        "type": "object", "required": ["routes", "segment", "lyric", "tags"],
        "properties": {
            "routes": {"type": "array", "items": _ref("RouteMatch")},
            "segment": {"type": ["object", "null"], "description": "the part of the song that matched (seconds)",
                        "properties": {"start": {"type": "number"}, "end": {"type": "number"},
                                       "score": {"type": "number"}}},
            "lyric": {"type": ["object", "null"], "description": "the lyric lines that matched",
                      "properties": {"text": {"type": "string"}, "score": {"type": "number"}}},
            "tags": {"type": ["array", "null"], "description": "top [tag, probability] pairs of the song",
                     "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}},
            "feel": {"type": "string", "description": "tempo, key (with its Camelot code) and feel in words, "
                                                      "e.g. '118 bpm · A minor (8A) · bright · energetic · dense'"},
        },
    },
    "SongFields": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"}, "artist": {"type": "string"}, "album": {"type": "string"},
            "album_artist": {"type": "string"},
            "genre": {"type": "string"},
            "genre_source": {"type": "string", "enum": ["tag", "predicted", ""],
                             "description": "'predicted' when the genre was inferred from the audio"},
            "year": {"type": "integer", "description": "0 when unknown"},
            "track_number": {"type": "integer"},
            "duration": {"type": "number", "description": "seconds"},
            "has_lyrics": {"type": "boolean"}, "has_cover": {"type": "boolean"},
            "bpm": {"type": "number", "description": "tempo in beats a minute, 0 when unknown"},
            "tonic": {"type": "string", "description": "the key's tonic (C .. B), '' when unknown"},
            "mode": {"type": "string", "enum": ["major", "minor", ""]},
            "camelot": {"type": "string", "description": "the key on the Camelot wheel, e.g. '8A' for A minor"},
            "energy": {"type": "number", "description": "0 (calm, quiet, sparse) to 1 (loud, dense, bright)"},
            "brightness_hz": {"type": "number", "description": "spectral centroid"},
            "onset_rate": {"type": "number", "description": "note onsets a second"},
            "audio_url": {"type": "string"}, "cover_url": {"type": ["string", "null"]},
        },
    },
    "Hit": {
        "allOf": [_ref("SongFields"), {
            "type": "object", "required": ["id", "rank", "score", "explanation"],
            "properties": {"rank": {"type": "integer", "minimum": 1}, "score": {"type": "number"},
                           "window_policy": {"type": ["string", "null"]},
                           "explanation": _ref("Explanation")},
        }],
    },
    "Song": {
        "allOf": [_ref("SongFields"), {
            "type": "object", "required": ["id", "title"],
            "properties": {"top_tags": {"type": ["array", "null"], "items": {"type": "array"}}},
        }],
    },
    "SearchResponse": {
        "type": "object", "required": ["results", "query", "took_ms"],
        "properties": {
            "results": {"type": "array", "items": _ref("Hit")},
            "query": {"type": "object", "required": ["kind", "k", "routes"],
                      "description": "the request as understood, and how the engine read it",
                      "properties": {"kind": {"type": "string", "enum": ["text", "audio", "image"]},
                                     "k": {"type": "integer"}, "text": {"type": "string"},
                                     "sound": {"type": "string", "description": "the text's sound part"},
                                     "music": {"type": "string",
                                               "description": "the tempo, key and mood the text named, as read"},
                                     "subject": {"type": "string",
                                                 "description": "what the words should be about (after 'about')"},
                                     "genre_guessed": {"type": "string",
                                                       "description": "cross-genre: the query's genre, guessed"},
                                     "routes": {"type": "array", "items": {"type": "string", "enum": list(ROUTE_NAMES)},
                                                "description": "the routes searched"},
                                     "bytes": {"type": "integer", "description": "size of the uploaded file"}}},
            "took_ms": {"type": "number"},
        },
    },
    "Stats": {
        "type": "object",
        "properties": {
            "songs": {"type": "integer"}, "with_lyrics": {"type": "integer"}, "with_cover": {"type": "integer"},
            "hours": {"type": "number"}, "audio_windows": {"type": "integer"}, "lyric_chunks": {"type": "integer"},
            "genres": {"type": "object", "additionalProperties": {"type": "integer"}},
            "predicted_genres": {"type": "integer"},
            "versions": {"type": "object", "description": "profile and model ids the index was built with"},
            "fusion": {"type": "object", "description": "the fitted fusion's version and fit report"},
        },
    },
    "Health": {
        "type": "object", "required": ["status", "songs"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "songs": {"type": "integer"},
                       "profile": {"type": "string"},
                       "indexing": {"type": "string", "enum": ["idle", "running", "finished", "failed"]}},
    },
    "IndexStatus": {
        "type": "object", "required": ["state", "done", "total"],
        "properties": {
            "state": {"type": "string", "enum": ["idle", "running", "finished", "failed"]},
            "done": {"type": "integer", "description": "files processed so far"},
            "total": {"type": "integer", "description": "files to process in this run"},
            "started": {"type": ["string", "null"], "format": "date-time"},
            "finished": {"type": ["string", "null"], "format": "date-time"},
            "seconds": {"type": ["number", "null"]},
            "summary": {"type": ["string", "null"], "description": "one line: found, added, updated, moved, unchanged, removed, skipped"},
            "failed": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string", "description": "relative to its library folder"},
                "reason": {"type": "string"}}}},
            "failed_count": {"type": "integer"},
            "error": {"type": ["string", "null"]},
            "library_folders": {"type": "integer"},
        },
    },
}

# The options of similar songs, mixes and paths, from their one declaration (annotations read as text).
_JSON_TYPE = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
SONG_OPTIONS = {f.name: {"type": _JSON_TYPE[str(f.type).split(" ")[0]]} for f in fields(SongOptions)}
OUTPUT = [{"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "m3u8"]},
           "description": "m3u8 (or the header Accept: audio/mpegurl) for a playlist instead of JSON"},
          {"name": "base", "in": "query", "required": False, "schema": {"type": "string"},
           "description": "with m3u8: each song's file path relative to this folder instead of its audio URL"}]
OPTION_PARAMS = [{"name": n, "in": "query", "required": False, "schema": s} for n, s in SONG_OPTIONS.items()]
SONG_LIST = {"description": "ranked songs with explanations, as JSON or as an M3U8 playlist",
             "content": {"application/json": {"schema": {
                 "type": "object", "required": ["results", "query", "took_ms"],
                 "properties": {"results": {"type": "array", "items": _ref("Hit")},
                                "query": {"type": "object", "description": "the seeds and options as understood"},
                                "took_ms": {"type": "number"}}}},
                 "audio/mpegurl": {"schema": {"type": "string"}}}}
ID_LIST = {"type": "array", "items": {"type": "string"}}

BAD_INPUT = {"400": _error("bad parameters, bad JSON, an undecodable clip or image, a clip too short or long"),
             "413": _error("the upload is larger than 20 MB, or the image has too many pixels"),
             "415": _error("the upload is not a known audio or image format")}


def build_spec() -> dict:
    """The OpenAPI document as a plain dict."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "crossgenre", "version": "1",
                 "description": "Search a music library by description, audio clip or cover photo, with explanations."},
        "paths": {
            "/api/search": {"post": {
                "summary": "Search songs by text (JSON), or by an audio clip or cover image (multipart)",
                "operationId": "search",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("SearchRequest")},
                    "multipart/form-data": {"schema": _ref("SearchForm"),
                                            "encoding": {"audio": {"contentType": "application/octet-stream"},
                                                         "image": {"contentType": "application/octet-stream"}}},
                }},
                "responses": {"200": _json(_ref("SearchResponse"), "ranked songs with explanations"), **BAD_INPUT,
                              "503": _error("the index or the models are unavailable")},
            }},
            "/api/songs/{id}": {"get": {
                "summary": "A song's metadata", "operationId": "getSong", "parameters": [SONG_ID],
                "responses": {"200": _json(_ref("Song"), "the song"), "404": _error("no song with this id")},
            }},
            "/api/songs/{id}/audio": {"get": {
                "summary": "Stream the song's audio file (HTTP Range requests supported)", "operationId": "getSongAudio",
                "parameters": [SONG_ID, {"name": "Range", "in": "header", "required": False,
                                         "schema": {"type": "string"}, "description": "e.g. bytes=0-1023"}],
                "responses": {
                    "200": {"description": "the whole file", "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}}},
                    "206": {"description": "the requested byte range", "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}}},
                    "304": {"description": "not modified (If-None-Match)"},
                    "404": _error("no song with this id, or its file is gone"),
                    "416": {"description": "the range lies outside the file"},
                },
            }},
            "/api/songs/{id}/cover": {"get": {
                "summary": "The song's cover art (embedded or from its folder)", "operationId": "getSongCover",
                "parameters": [SONG_ID],
                "responses": {"200": {"description": "the image", "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
                              "304": {"description": "not modified (If-None-Match)"},
                              "404": _error("no such song, or it has no cover")},
            }},
            "/api/songs/{id}/similar": {"get": {
                "summary": "Songs like this library song, from stored vectors (never the seed or its duplicates)",
                "operationId": "getSimilar", "parameters": [
                    SONG_ID, *OPTION_PARAMS, *OUTPUT,
                    {"name": "but", "in": "query", "required": False, "schema": {"type": "string", "maxLength": MAX_TEXT},
                     "description": "like this, but ...: a description that moves the seed's sound toward it"}],
                "responses": {"200": SONG_LIST, "400": _error("a bad option"), "404": _error("no song with this id")},
            }},
            "/api/similar": {"post": {
                "summary": "Songs like an uploaded clip or cover photo, optionally 'but <text>'",
                "operationId": "similarToUpload", "parameters": OUTPUT,
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {
                        "audio": {"type": "string", "format": "binary", "description": "the clip (or send image)"},
                        "image": {"type": "string", "format": "binary", "description": "the cover photo (or send audio)"},
                        "but": {"type": "string", "maxLength": MAX_TEXT,
                                "description": "like this, but ...: a description that moves the seed toward it"},
                        **{k: {"type": "string", "description": f"as the JSON option {k}"} for k in SONG_OPTIONS}}}}}},
                "responses": {"200": SONG_LIST, "400": _error("no file, two files, an unreadable file or a bad option")},
            }},
            "/api/mix": {"post": {
                "summary": "Songs like several seeds together (and unlike the negative ones), in listening order",
                "operationId": "mix", "parameters": OUTPUT,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["seeds"],
                    "properties": {"seeds": ID_LIST, "negative": ID_LIST, **SONG_OPTIONS}}}}},
                "responses": {"200": SONG_LIST, "400": _error("bad JSON or a bad option"),
                              "404": _error("a seed is not in the index")},
            }},
            "/api/path": {"get": {
                "summary": "A sonic path of songs from one library song to another, every step explained",
                "operationId": "path",
                "parameters": [{"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                               for n in ("from", "to")]
                              + [{"name": "steps", "in": "query", "required": False,
                                  "schema": {"type": "integer", "default": 5}}, *OPTION_PARAMS, *OUTPUT],
                "responses": {"200": SONG_LIST, "400": _error("a bad option"), "404": _error("an end is not in the index")},
            }},
            "/api/playlist": {"post": {
                "summary": "These songs, in this order, as an M3U8 playlist", "operationId": "playlist",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ids"], "additionalProperties": False,
                    "properties": {"ids": {**ID_LIST, "maxItems": 1000}}}}}},
                "responses": {"200": {"description": "the playlist", "content": {"audio/mpegurl": {"schema": {"type": "string"}}}},
                              "400": _error("bad JSON or not a list of ids"), "404": _error("a song is not in the index")},
            }},
            "/api/stats": {"get": {"summary": "What the index holds", "operationId": "getStats",
                                   "responses": {"200": _json(_ref("Stats"), "index statistics")}}},
            "/api/health": {"get": {"summary": "Liveness and index size", "operationId": "getHealth",
                                    "responses": {"200": _json(_ref("Health"), "the server answers"),
                                                  "503": _error("the index does not answer")}}},
            "/api/index": {"post": {
                "summary": "Re-index the configured library folders in the background",
                "operationId": "startIndex", "security": [{"bearer": []}],
                "responses": {"202": _json(_ref("IndexStatus"), "started; poll /api/index/status"),
                              "401": _error("missing or wrong token"),
                              "403": _error("write endpoints are off (no token configured)"),
                              "409": _error("a run is already going, or no library is configured")},
            }},
            "/api/index/status": {"get": {"summary": "Progress and result of the latest re-index",
                                          "operationId": "getIndexStatus",
                                          "responses": {"200": _json(_ref("IndexStatus"), "the job's state")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "operationId": "getOpenApi",
                                          "responses": {"200": {"description": "OpenAPI 3.1 JSON",
                                                                "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the `token` set in the server's configuration"}},
        },
    }
