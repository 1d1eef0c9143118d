"""Query filters (genre, artist, album, year range, tempo, key, energy) as a Milvus boolean expression."""

from __future__ import annotations

from encoders.descriptors import camelot, camelot_neighbours, normalize_key
from scan.genres import normalize_genre
from store import quote, quote_list

from .query import Query


def build_filter(query: Query) -> str:
    """The Milvus expression for the query's filters ("" for none). Values are quoted, never spliced."""
    clauses = genre_year_clauses(query.genre, query.year_min, query.year_max)
    if query.artist:
        clauses.append(f"(artist == {quote(query.artist)} or album_artist == {quote(query.artist)})")
    if query.album:
        clauses.append(f"album == {quote(query.album)}")
    if query.bpm_min is not None or query.bpm_max is not None:
        clauses.append(bpm_clause(query.bpm_min, query.bpm_max, query.half_double))
    if query.key:
        clauses.append(key_clause(query.key, query.compatible_keys))
    if query.energy_min is not None:
        clauses.append(f"energy >= {float(query.energy_min)!r}")
    if query.energy_max is not None:
        clauses.append(f"energy <= {float(query.energy_max)!r}")
    return " and ".join(clauses)


def genre_year_clauses(genre: str | None, year_min: int | None, year_max: int | None) -> list[str]:
    """The genre and year-range clauses that searches and song queries (similar, mix, path) share."""
    clauses = []
    if genre:
        clauses.append(f"genre == {quote(normalize_genre(genre) or genre)}")
    if year_min is not None:
        clauses.append(f"year >= {int(year_min)}")
    if year_max is not None:
        clauses.append(f"year <= {int(year_max)}")
    return clauses


def bpm_clause(low: float | None, high: float | None, half_double: bool = False) -> str:
    """Songs whose tempo lies in [low, high]; with half_double, also those at half or double such a tempo
    (a 64 bpm song counted in half time is a 128 bpm song). Songs of unknown tempo (0) never match."""
    ranges = []
    for factor in (1.0, 2.0, 0.5) if half_double else (1.0,):
        parts = ["bpm > 0"]
        if low is not None:
            parts.append(f"bpm >= {float(low) / factor!r}")
        if high is not None:
            parts.append(f"bpm <= {float(high) / factor!r}")
        ranges.append("(" + " and ".join(parts) + ")")
    return ranges[0] if len(ranges) == 1 else "(" + " or ".join(ranges) + ")"


def key_clause(text: str, compatible: bool = False) -> str:
    """Songs in this key, or (compatible) in a key next to it on the Camelot wheel."""
    tonic, mode = normalize_key(text)
    if not compatible:
        return f"(tonic == {quote(tonic)} and mode == {quote(mode)})"
    codes = [camelot(k, m) for k, m in camelot_neighbours(tonic, mode)]
    return f"camelot in {quote_list(codes)}"
