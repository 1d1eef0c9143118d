"""Query filters (genre, artist, album, year range) as a Milvus boolean expression."""

from __future__ import annotations

import json

from scan.genres import normalize_genre

from .query import Query


def build_filter(query: Query) -> str:
    """The Milvus expression for the query's filters ("" for none). Values are quoted, never spliced."""
    clauses = []
    if query.genre:
        clauses.append(f"genre == {json.dumps(normalize_genre(query.genre) or query.genre)}")
    if query.artist:
        clauses.append(f"(artist == {json.dumps(query.artist)} or album_artist == {json.dumps(query.artist)})")
    if query.album:
        clauses.append(f"album == {json.dumps(query.album)}")
    if query.year_min is not None:
        clauses.append(f"year >= {int(query.year_min)}")
    if query.year_max is not None:
        clauses.append(f"year <= {int(query.year_max)}")
    return " and ".join(clauses)
