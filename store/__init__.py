"""The store room: crossgenre's vectors and song facts in Milvus."""

from .milvus import UNAVAILABLE, SongRecord, VectorStore, is_server_uri, quote, quote_list

__all__ = ["UNAVAILABLE", "SongRecord", "VectorStore", "is_server_uri", "quote", "quote_list"]
