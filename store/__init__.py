"""The store room: crossgenre's vectors and song facts in Milvus."""

from .milvus import SongRecord, VectorStore, is_server_uri, quote, quote_list

__all__ = ["SongRecord", "VectorStore", "is_server_uri", "quote", "quote_list"]
