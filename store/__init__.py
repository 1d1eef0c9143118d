"""The store room: crossgenre's vectors and song facts in Milvus."""

from .milvus import SongRecord, VectorStore, is_server_uri, quote, quote_list
from .schema import PUBLIC_SONG_FIELDS

__all__ = ["PUBLIC_SONG_FIELDS", "SongRecord", "VectorStore", "is_server_uri", "quote", "quote_list"]
