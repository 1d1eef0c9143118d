"""Query filters (genre, artist, album, year range) as a Milvus boolean expression."""

from __future__ import annotations

from scan.genres import normalize_genre
from store import quote

from .query import Query


def build_filter(query: Query) -> str:
    """The Milvus expression for the query's filters ("" for none). Values are quoted, never spliced."""
    clauses = []
    if query.genre:
        clauses.append(f"genre == {quote(normalize_genre(query.genre) or query.genre)}")
    if query.artist:
        clauses.append(f"(artist == {quote(query.artist)} or album_artist == {quote(query.artist)})")
    if query.album:
        clauses.append(f"album == {quote(query.album)}")
    if query.year_min is not None:
        clauses.append(f"year >= {int(query.year_min)}")
    if query.year_max is not None:
        clauses.append(f"year <= {int(query.year_max)}")
    return " and ".join(clauses)
