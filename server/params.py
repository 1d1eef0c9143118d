"""A search request (JSON body, or multipart form with a clip or an image) validated into a search.Query.

The fields are those declared in search.query.PARAMS. Every wrong type, unknown field or unparsable
value becomes an ApiError (400, bad_parameter) that names the field; a value of the right type outside
its declared limits is the Query's to refuse (400, invalid_query).
"""

from __future__ import annotations

import json

from search import Query
from search.query import PARAMS

from .errors import ApiError
from .uploads import read_clip, read_image

STRING_FIELDS = tuple(p.name for p in PARAMS if p.kind in ("text", "choice"))
FIELDS = tuple(p.name for p in PARAMS)
FILE_FIELDS = ("audio", "image")
TRUE, FALSE = ("true", "1", "on", "yes"), ("false", "0", "off", "no", "")


def _bad(detail: str) -> ApiError:
    return ApiError(400, "bad_parameter", detail)


def _unknown(names) -> None:
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise _bad(f"unknown field(s) {shown}; known fields: {', '.join(FIELDS)} (files: audio, image)")


def query_from_json(raw: bytes) -> Query:
    """A Query from a JSON object body."""
    if not raw.strip():
        raise ApiError(400, "bad_json", "the request body is empty; send a JSON object such as {\"text\": \"calm piano\"}")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # bad UTF-8, bad syntax, absurd nesting
        raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the request body must be a JSON object")
    _unknown(body)
    values: dict = {}
    for p in PARAMS:
        v = body.get(p.name)
        if v is None or (v == "" and p.kind in ("text", "choice") and p.name != "text"):
            continue  # absent, or an empty filter: the default
        if p.kind in ("text", "choice") and not isinstance(v, str):
            raise _bad(f"{p.name} must be a string")
        if p.kind == "int":
            if isinstance(v, float) and v.is_integer() and abs(v) < 1e9:
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool):
                raise _bad(f"{p.name} must be a whole number")
        if p.kind == "bool" and not isinstance(v, bool):
            raise _bad(f"{p.name} must be true or false")
        if p.kind == "number" and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise _bad(f"{p.name} must be a number")
        values[p.name] = _weights(v) if p.kind == "weights" else v
    return _checked(Query(**values))


def query_from_form(form, files) -> Query:
    """A Query from multipart/form-data (or urlencoded) fields, with at most one file: audio or image."""
    _unknown(form.keys())
    extra_files = sorted(set(files.keys()) - set(FILE_FIELDS))
    if extra_files:
        raise _bad(f"unknown file field {extra_files[0][:40]!r}; send the file as 'audio' or 'image'")
    for name in (*FIELDS, *FILE_FIELDS):
        if len(form.getlist(name)) + len(files.getlist(name)) > 1:
            raise _bad(f"{name} is given more than once")
    values: dict = {}
    for p in PARAMS:
        v = form.get(p.name)
        if v is not None and p.kind in ("int", "number", "bool", "weights"):
            v = v.strip()
        if v is None or (v == "" and p.name != "text"):
            continue  # absent, or an empty form field: the default
        if p.kind == "int":
            try:
                v = int(v)
            except ValueError:
                raise _bad(f"{p.name} must be a whole number, not {v[:20]!r}") from None
        elif p.kind == "number":
            try:
                v = float(v)
            except ValueError:
                raise _bad(f"{p.name} must be a number, not {v[:20]!r}") from None
        elif p.kind == "bool":
            if v.lower() not in TRUE + FALSE:
                raise _bad(f"{p.name} must be true or false")
            v = v.lower() in TRUE
        elif p.kind == "weights":
            try:
                v = _weights(json.loads(v))
            except (ValueError, RecursionError):
                raise _bad(f'{p.name} must be a JSON object such as {{"sound": 1, "lyrics": 0.5}}') from None
        values[p.name] = v
    if "audio" in files and "image" in files:
        raise _bad("send either an audio clip or an image, not both")
    if "audio" in files:
        values["audio"] = read_clip(files["audio"])
    elif "image" in files:
        values["image"] = read_image(files["image"])
    if "text" in values and not values["text"] and ("audio" in values or "image" in values):
        del values["text"]  # an empty search box beside a file means "search by the file"
    return _checked(Query(**values))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _weights(value) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _bad('weights must be an object mapping route names to numbers, e.g. {"sound": 1, "lyrics": 0.5}')
    return value  # route names and ranges are checked by Query.validate


def _checked(query: Query) -> Query:
    for name in STRING_FIELDS:
        value = getattr(query, name)
        if isinstance(value, str) and not _utf8(value):
            raise _bad(f"{name} is not valid Unicode text (it holds a lone surrogate)")
    if query.text is None and query.audio is None and query.image is None:
        raise ApiError(400, "empty_query", "give a text query, an audio clip or an image")
    query.validate()
    return query
