"""Every failure as JSON `{"error": short_code, "detail": sentence}` with a fitting HTTP status.

Bad input is always a 4xx with a reason; a 500 means a bug on our side, never a bad request.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from scan.errors import (
    CrossgenreError,
    InvalidQueryError,
    ModelMissingError,
    ProfileMismatchError,
    ScanError,
    StoreLockedError,
)
from store import UNAVAILABLE

log = logging.getLogger("crossgenre.server")


class ApiError(Exception):
    """A request the server refuses: HTTP status, short machine code, one-sentence detail."""

    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


# CrossgenreError subclass -> (status, code); the first match in this order wins (subclasses first).
KNOWN_ERRORS: list[tuple[type, int, str]] = [
    (InvalidQueryError, 400, "invalid_query"),
    (ScanError, 400, "unreadable_media"),
    (ModelMissingError, 503, "models_missing"),
    (ProfileMismatchError, 503, "profile_mismatch"),
    (StoreLockedError, 503, "index_locked"),
]

# Werkzeug's HTTP errors -> short codes (the rest use their name, e.g. "method_not_allowed")
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
              415: "unsupported_media_type", 431: "headers_too_large"}
HTTP_DETAILS = {
    404: "no such page or API route",
    405: "this route does not accept that HTTP method",
    413: "the request body is larger than the server accepts",
}


def error_response(status: int, code: str, detail: str, headers: dict | None = None):
    response = jsonify(error=code, detail=detail)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def classify(exc: CrossgenreError) -> tuple[int, str]:
    """(status, code) of a crossgenre error; an unlisted one is the server's state, not the client's fault."""
    for cls, status, code in KNOWN_ERRORS:
        if isinstance(exc, cls):
            return status, code
    if isinstance(exc, ValueError):  # BadImageError is a CrossgenreError and a ValueError: the upload is bad
        return 400, "bad_input"
    return 503, "unavailable"


def register_error_handlers(app: Flask) -> None:
    """JSON for every error the app can meet, including Werkzeug's own 404/405/413."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.errorhandler(CrossgenreError)
    def _crossgenre_error(exc: CrossgenreError):
        status, code = classify(exc)
        if status >= 500:
            log.warning("request failed: %s", exc)
        return error_response(status, code, str(exc) or code.replace("_", " "))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
        detail = HTTP_DETAILS.get(status) or _first_sentence(exc.description) or exc.name
        headers = {}
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            headers["Allow"] = ", ".join(valid)
        return error_response(status, code, detail, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, UNAVAILABLE):  # Milvus down or refusing: the service's state, not the request's fault
            log.warning("the index did not answer: %s", exc)
            return error_response(503, "index_unavailable", f"the index (Milvus) does not answer: {unavailable_reason(exc)}",
                                  {"Retry-After": "30"})
        log.exception("unexpected error while answering a request")
        return error_response(500, "internal_error", "the server met an unexpected error; it has been logged")


_PATHS = re.compile(r"(unix:|[a-z]+://)?/[^\s,;)'\"]*|[a-z]+://[^\s,;)'\"]+")


def unavailable_reason(exc: Exception) -> str:
    """Why Milvus failed, in words, without the server's paths or addresses (this answer needs no token)."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    if re.search(r"connect|unavailable|retry run out", text, re.IGNORECASE):
        return "it cannot be reached; try again when it is back"
    return _PATHS.sub("...", text)[:300]


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text.split(". ")[0].rstrip(".")
