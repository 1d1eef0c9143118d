"""The store room: crossgenre's vectors and song facts in Milvus."""

from .milvus import UNAVAILABLE, VectorStore, is_server_uri
from .reads import MAX_IN_FILTER, batches, quote, quote_list
from .schema import PUBLIC_SONG_FIELDS, SongRow
from .writes import SongRecord

__all__ = ["MAX_IN_FILTER", "PUBLIC_SONG_FIELDS", "UNAVAILABLE", "SongRecord", "SongRow", "VectorStore", "batches", "is_server_uri", "quote",
           "quote_list"]
