"""The store room: crossgenre's vectors and song facts in Milvus."""

from .milvus import UNAVAILABLE, VectorStore, is_server_uri
from .reads import quote, quote_list
from .schema import PUBLIC_SONG_FIELDS, SongRow
from .writes import SongRecord

__all__ = ["PUBLIC_SONG_FIELDS", "UNAVAILABLE", "SongRecord", "SongRow", "VectorStore", "is_server_uri", "quote", "quote_list"]
