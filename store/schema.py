"""The collection schemas: one collection of songs, one of audio windows, one of lyric chunks, one of index facts.

Vector dimensions come from the model profile (`Profile.vector_fields`), never from literals here.
All vectors are L2-normalised, so inner product (IP) is cosine similarity; a song without lyrics or
cover stores a zero vector in that field and `has_lyrics`/`has_cover` keep it out of those searches.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields

from pymilvus import DataType, MilvusClient

from encoders.fingerprint import CODE_BYTES

_V, _I, _D, _B = DataType.VARCHAR, DataType.INT64, DataType.DOUBLE, DataType.BOOL
_EMPTY = {_V: "", _I: 0, _D: 0.0, _B: False}


def _scalar(dtype, length: int | None = None, public: bool = False):
    """A song scalar: its Milvus type (and byte length for strings), whether clients see it, and the value a
    row holds when its writer left the field out (rows written by tools that know no descriptors)."""
    return field(default=_EMPTY[dtype], metadata={"milvus": (dtype, length), "public": public})


@dataclass
class SongRow:
    """One song's row, declared once: the indexer fills it, the store writes it (`as_row`; its scalars
    are the songs collection's fields), the engine and the API show its public fields (`public`).

    Public fields are what a client sees in search hits and /api/songs/<id>; every other scalar is the
    index's own bookkeeping (paths never leave the server)."""

    id: str
    path: str = _scalar(_V, 4096)
    content_hash: str = _scalar(_V, 64)
    mtime: float = _scalar(_D)
    size: int = _scalar(_I)
    title: str = _scalar(_V, 1024, public=True)
    artist: str = _scalar(_V, 1024, public=True)
    album: str = _scalar(_V, 1024, public=True)
    album_artist: str = _scalar(_V, 1024, public=True)
    genre: str = _scalar(_V, 256, public=True)
    genre_source: str = _scalar(_V, 16, public=True)  # "tag" or "predicted"
    raw_genre: str = _scalar(_V, 256)  # the genre tag as written in the file
    year: int = _scalar(_I, public=True)  # 0 when unknown
    track_number: int = _scalar(_I, public=True)  # 0 when unknown
    duration: float = _scalar(_D, public=True)  # seconds
    musicbrainz_track_id: str = _scalar(_V, 64)
    musicbrainz_album_id: str = _scalar(_V, 64)
    musicbrainz_artist_id: str = _scalar(_V, 64)
    has_lyrics: bool = _scalar(_B, public=True)
    has_cover: bool = _scalar(_B, public=True)
    lyrics_source: str = _scalar(_V, 16)
    cover_source: str = _scalar(_V, 16)
    profile: str = _scalar(_V, 32)
    fusion_version: str = _scalar(_V, 64)
    # Musical descriptors (encoders/descriptors.py); 0 or "" when unknown (no beat, no key found)
    bpm: float = _scalar(_D, public=True)
    bpm_confidence: float = _scalar(_D)
    beat_regularity: float = _scalar(_D)
    tonic: str = _scalar(_V, 4, public=True)  # "C" .. "B" (sharps as C# and F#, flats as Eb, Ab, Bb)
    mode: str = _scalar(_V, 8, public=True)  # "major" or "minor"
    camelot: str = _scalar(_V, 4, public=True)  # the key on the Camelot wheel: "8A" is A minor
    key_confidence: float = _scalar(_D)
    loudness_db: float = _scalar(_D)
    dynamic_range_db: float = _scalar(_D)
    brightness_hz: float = _scalar(_D, public=True)
    onset_rate: float = _scalar(_D, public=True)
    energy: float = _scalar(_D, public=True)  # 0..1
    # top tags, window policy, part counts, chroma: anything that needs no filter
    extra: dict = field(default_factory=dict, metadata={"milvus": (DataType.JSON, None), "public": False})
    # the song's integer key (part_key): its parts' primary keys derive from it; the store sets it
    key: int = _scalar(_I)
    vectors: dict = field(default_factory=dict)  # one unit vector per route (Profile.vector_fields)

    def as_row(self) -> dict:
        """The row the store writes: id, every scalar made to fit its field (`fit_row`), the vectors."""
        scalars = {name: getattr(self, name) for name in SONG_SCALARS if name != "key"}
        return fit_row({"id": self.id, **scalars, **self.vectors})

    @staticmethod
    def public(row: dict) -> dict:
        """The fields of a stored row (a dict) that a client may see."""
        return {name: row.get(name) for name in PUBLIC_SONG_FIELDS}


# Scalar fields of a song row: name -> (type, max_length for strings), in SongRow's order.
SONG_SCALARS = {f.name: f.metadata["milvus"] for f in fields(SongRow) if "milvus" in f.metadata}
# What a song row holds for a field its writer left out.
SCALAR_DEFAULTS = _EMPTY
# The song fields a client sees: the one list the engine and the API read.
PUBLIC_SONG_FIELDS = tuple(f.name for f in fields(SongRow) if f.metadata.get("public"))

ID_LENGTH = 64
INT64_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters, NUL included
# Fields that name the file itself: kept as they are (a changed path would point nowhere).
_VERBATIM = ("path", "content_hash")


def fit_text(value, max_bytes: int) -> str:
    """`value` as a string that fits a VARCHAR of `max_bytes` UTF-8 bytes: control characters removed,
    undecodable characters as U+FFFD, cut on a character boundary."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # lone surrogates from bad bytes
    text = _CONTROL.sub("", text)
    data = text.encode("utf-8")
    return data[:max_bytes].decode("utf-8", "ignore") if len(data) > max_bytes else text


def fit_row(row: dict) -> dict:
    """A song row whose scalars fit their fields: strings as `fit_text` makes them, whole numbers outside
    [0, 2^63) or not numbers at all -> 0 (unknown), non-finite reals -> 0.0. Milvus refuses a whole batch
    for one value that does not fit, so every value is made to fit before it is written."""
    out = dict(row)
    for name, (dtype, length) in SONG_SCALARS.items():
        if name not in out or name in _VERBATIM:
            continue
        value = out[name]
        if dtype == DataType.VARCHAR:
            out[name] = fit_text(value, length)
        elif dtype == DataType.INT64:
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):
                number = 0
            out[name] = number if 0 <= number <= INT64_MAX else 0
        elif dtype == DataType.DOUBLE:
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                number = 0.0
            out[name] = number if math.isfinite(number) else 0.0
        elif dtype == DataType.BOOL:
            out[name] = bool(value)
    return out
CHUNK_TEXT_LENGTH = 8192
# The stored layout's version, kept in the meta collection: an index of another layout is rebuilt by
# `index` (with a warning) and refused by searches with a clear message, never read wrongly.
LAYOUT = 3  # 3: prints stored as codes in blocks
PRINT_HOP_SECONDS = 1.0  # song print n starts n seconds into the song
BLOCK_PRINTS = 10  # a print row holds the codes of 10 consecutive prints (10 s of audio)
PRINT_CODES_LENGTH = BLOCK_PRINTS * CODE_BYTES * 4 // 3  # their base64: 200 characters
PART_BITS = 15  # part numbers below 32768: a 9-hour recording at one print a second


def song_key(song_id: str) -> int:
    """A song's 48-bit integer key, from its id (collision odds at 100,000 songs: ~2 in 100,000)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(str(song_id).encode("utf-8"), digest_size=6).digest(), "big")


def part_key(key: int, n: int) -> int:
    """The primary key of part `n` (window, chunk or print) of the song with integer key `key`:
    deletes and reads by key need no scan, and a song's parts lie in one key range."""
    return (key << PART_BITS) | n


def _index_params(client: MilvusClient, vector_fields: list[str], index_type: str):
    params = client.prepare_index_params()
    for name in vector_fields:
        extra = {"M": 16, "efConstruction": 200} if index_type == "HNSW" else {}
        params.add_index(field_name=name, index_type=index_type, metric_type="IP", params=extra)
    return params


def song_schema(vector_fields: dict[str, int]):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_LENGTH)
    for name, (dtype, length) in SONG_SCALARS.items():
        kwargs = {"max_length": length} if dtype == DataType.VARCHAR else {}
        schema.add_field(name, dtype, **kwargs)
    for name, dim in vector_fields.items():
        schema.add_field(name, DataType.FLOAT_VECTOR, dim=dim)
    return schema


def window_schema(dim: int):
    """Audio windows: id part_key(song, n), the song, start/end seconds, the window vector."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("song_id", DataType.VARCHAR, max_length=ID_LENGTH)
    schema.add_field("start", DataType.DOUBLE)
    schema.add_field("end", DataType.DOUBLE)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def chunk_schema(dim: int):
    """Lyric chunks: id part_key(song, n), the song, the chunk's text, its vector."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("song_id", DataType.VARCHAR, max_length=ID_LENGTH)
    schema.add_field("text", DataType.VARCHAR, max_length=CHUNK_TEXT_LENGTH)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def print_schema():
    """Audio print codes: one row a block of BLOCK_PRINTS seconds of a song, id part_key(song, block), the
    number of prints it holds and their codes (encoders/fingerprint.py: `pack_keys`, CODE_BYTES a print,
    zeros after the last) in base64. Lookups use the posting lists of store/print_index.py, built from
    these rows, so nothing here is searched; Milvus needs a vector field, and a 2-d placeholder serves.
    (Codes in a BINARY_VECTOR field would be 50 bytes smaller a row, but Milvus Lite cannot return one
    from a search, which is how it reads rows by key fast.)"""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("prints", DataType.INT64)
    schema.add_field("codes", DataType.VARCHAR, max_length=PRINT_CODES_LENGTH)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    return schema


def meta_schema():
    """Index facts (profile, model versions, fusion version) as key -> JSON text rows.

    Milvus needs a vector field in every collection; a 2-d placeholder serves.
    """
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("value", DataType.VARCHAR, max_length=65535)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
    return schema


# Scalars copied beside each side vector in the split layout, so every filter works on every route.
FILTER_SCALARS = ("genre", "artist", "album_artist", "album", "year", "has_lyrics", "has_cover", "bpm", "tonic", "mode",
                  "camelot", "energy")


def side_schema(dim: int):
    """Split layout (Milvus servers before 2.4 allow one vector field per collection): one song vector
    field in its own collection, keyed by song id, with copies of the filterable scalars."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_LENGTH)
    for name in FILTER_SCALARS:
        dtype, length = SONG_SCALARS[name]
        kwargs = {"max_length": length} if dtype == DataType.VARCHAR else {}
        schema.add_field(name, dtype, **kwargs)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema
