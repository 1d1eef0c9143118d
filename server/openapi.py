"""The OpenAPI 3.1 description of the JSON API, written by hand (served at /api/openapi.json)."""

from __future__ import annotations

from search.query import MAX_BPM, MAX_K, MAX_TEXT, ROUTE_NAMES

from .uploads import AUDIO_NAMES, IMAGE_NAMES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _nullable(type_: str, **extra) -> dict:
    return {"type": [type_, "null"], **extra}


SONG_ID = {"name": "id", "in": "path", "required": True, "description": "a song id from a search result",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}

FILTERS = {
    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10, "description": "how many songs"},
    "genre": _nullable("string", maxLength=256, description="only songs of this genre"),
    "artist": _nullable("string", maxLength=256, description="only songs by this artist (or album artist)"),
    "album": _nullable("string", maxLength=256, description="only songs of this album"),
    "year_min": _nullable("integer", minimum=0, maximum=9999, description="only songs from this year on"),
    "year_max": _nullable("integer", minimum=0, maximum=9999, description="only songs up to this year"),
    "bpm_min": _nullable("number", minimum=0, maximum=MAX_BPM, description="only songs at this tempo (bpm) or faster"),
    "bpm_max": _nullable("number", minimum=0, maximum=MAX_BPM, description="only songs at this tempo (bpm) or slower"),
    "half_double": {"type": "boolean", "default": False,
                    "description": "the bpm range also matches songs at half or double such a tempo"},
    "key": _nullable("string", maxLength=16, description="only songs in this key: 'A minor', 'F#m', 'Eb major' or "
                                                         "Camelot '8A'"),
    "compatible_keys": {"type": "boolean", "default": False,
                        "description": "with key: also the keys next to it on the Camelot wheel (one step either "
                                       "way, and its relative major or minor)"},
    "energy_min": _nullable("number", minimum=0, maximum=1, description="only songs with at least this energy (0-1)"),
    "energy_max": _nullable("number", minimum=0, maximum=1, description="only songs with at most this energy (0-1)"),
    "cross_genre": {"type": "boolean", "default": False,
                    "description": "songs with the same feel from other genres than the query's"},
    "query_genre": _nullable("string", maxLength=256,
                             description="cross-genre mode: the genre to move away from (inferred when absent)"),
    "ranker": {"type": "string", "enum": ["calibrated", "rrf", "weighted"],
               "description": "how routes are fused: calibrated (each route's similarity in standard deviations "
                              "above the query's similarity to the library, summed), reciprocal rank fusion, or a "
                              "weighted sum of similarities; absent: rrf for clips, calibrated for text and images, "
                              "weighted when `weights` are given"},
}

WEIGHTS = {
    "type": "object",
    "description": "route -> weight from 0 to 100; weights without a ranker switch to the weighted sum",
    "propertyNames": {"enum": list(ROUTE_NAMES)},
    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error", "detail"],
        "properties": {"error": {"type": "string", "description": "short machine-readable code"},
                       "detail": {"type": "string", "description": "one sentence saying what to change"}},
    },
    "SearchRequest": {
        "type": "object", "additionalProperties": False, "required": ["text"],
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                                "description": "a description, a mood, or lyrics"},
                       **FILTERS, "weights": _nullable("object", **{k: v for k, v in WEIGHTS.items() if k != "type"})},
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
            **{name: {"type": "string", "enum": ["true", "false", "1", "0", "on", "off", "yes", "no", ""],
                      "default": "false", "description": FILTERS[name]["description"]}
               for name in ("cross_genre", "half_double", "compatible_keys")},
            "weights": {"type": "string", "description": "the weights object as JSON text"},
        },
    },
    "RouteMatch": {
        "type": "object", "required": ["route", "score", "rank", "share"],
        "properties": {"route": {"type": "string", "enum": list(ROUTE_NAMES)},
                       "score": {"type": "number", "description": "cosine similarity in that route"},
                       "rank": {"type": "integer", "description": "the song's rank in that route alone"},
                       "share": {"type": "number", "description": "this route's share of the final score, 0 to 1"}},
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
            "key": {"type": "string", "description": "the key's tonic (C .. B), '' when unknown"},
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
            "query": {"type": "object", "required": ["kind", "k"],
                      "properties": {"kind": {"type": "string", "enum": ["text", "audio", "image"]},
                                     "k": {"type": "integer"}, "text": {"type": "string"},
                                     "sound": {"type": "string", "description": "the text's sound part"},
                                     "subject": {"type": "string",
                                                 "description": "what the words should be about (after 'about')"},
                                     "music": {"type": "string",
                                               "description": "the tempo, key and mood the text named, as read"},
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
            "summary": {"type": ["string", "null"], "description": "one line: found, added, updated, removed, skipped"},
            "failed": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string", "description": "relative to its library folder"},
                "reason": {"type": "string"}}}},
            "failed_count": {"type": "integer"},
            "error": {"type": ["string", "null"]},
            "library_folders": {"type": "integer"},
        },
    },
}

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
