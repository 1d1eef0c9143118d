"""The serve room: the web page and JSON API over one open index (create_app), and the server that runs it."""

from .app import create_app

__all__ = ["create_app"]
