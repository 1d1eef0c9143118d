"""VectorStore: songs, audio windows, lyric chunks and prints in Milvus (a Milvus Lite file or a server
URI): the connection, the collections' layout and the index facts. Reads and searches: store/reads.py;
writes: store/writes.py.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
import warnings
from pathlib import Path

from scan.errors import CrossgenreError, StoreLockedError

from . import schema
from .generations import StoreGenerations
from .prints import StorePrints
from .reads import StoreReads, quote
from .song_vectors import StoreSongVectors
from .window_copies import WindowCopies
from .writes import StoreWrites

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # milvus-lite imports pkg_resources, which warns on import
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

# What a failing or unreachable Milvus raises (the server answers 503 for it: the request was fine).
UNAVAILABLE = (MilvusException, ConnectionError)
# pymilvus retries a call that finds Milvus gone 75 times, over about 3.5 minutes; crossgenre's calls give
# up after 6 tries (about 4 s), so a search on a server whose Milvus went away is answered (503) in seconds.
RETRIES = 6
# At 100,000 songs of 40 windows, Milvus Lite held 4 million windows in 5.7 GB and scanned them in 0.34 s
# a clip query; 10 a song keep the scan near 0.1 s and fit a laptop (docs/benchmarks.md §1)
LITE_SEARCHED_WINDOWS = 10
_RETRIED = {"query", "query_iterator", "search", "hybrid_search", "get", "has_collection", "describe_collection",
            "list_collections", "insert", "upsert", "delete", "flush"}

log = logging.getLogger(__name__)
# pymilvus sets its own logger to WARNING on import; its warnings (iterator timestamps, retries) are
# about the client's internals, which a user cannot act on. Errors still show.
logging.getLogger("pymilvus").setLevel(logging.ERROR)

# Reads use "Session" consistency: they see this process's own writes without waiting for the server's
# next time tick on every call, as "Strong" does (~0.4 s a search on Milvus 2.3). Milvus 2.3 returns no
# timestamp for deletes, so a collection whose last change here was a delete is read "Strong" until the
# next insert into it (whose timestamp covers the delete).
SESSION = {"consistency_level": "Session"}


def is_server_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "grpc://"))


class VectorStore(StoreReads, StoreWrites, StorePrints, StoreSongVectors, StoreGenerations):
    """One crossgenre index in Milvus: five collections named `<prefix>_songs|windows|chunks|prints|meta`, where
    `prefix` is the active generation of the configured prefix (store/generations.py).

    `uri` is a file path (Milvus Lite, embedded, one process per file) or `http://host:port`
    (a Milvus server or cluster: the same code, HNSW indexes).
    """

    def __init__(self, uri: str, prefix: str = "crossgenre", token: str = ""):
        self.uri = str(uri)
        self.base = self.prefix = prefix
        self.is_server = is_server_uri(self.uri)
        if not self.is_server:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            # A connection of its own: pymilvus shares one per URI, so closing another store on the same
            # index (a CLI command run inside a server's process) would otherwise cut this one's too.
            self.client = _Client(MilvusClient(uri=self.uri, token=token, alias=f"crossgenre-{uuid.uuid4().hex}"))
        except MilvusException as exc:
            if not self.is_server:
                raise StoreLockedError(
                    f"cannot open the index {self.uri}: another crossgenre process (a running `serve` or "
                    f"`index`) holds it. Stop that process, or point this one at a Milvus server with --milvus-uri"
                ) from None
            raise CrossgenreError(f"cannot reach the Milvus server at {self.uri}: {exc}") from None
        self.index_type = "HNSW" if self.is_server else "FLAT"
        # Milvus Lite reads given rows only by scanning every row: song windows are also kept beside its file
        self.window_copies = None if self.is_server else WindowCopies(Path(f"{self.uri}-windows.sqlite"))
        # Milvus Lite holds every row in memory and scans them all: it searches at most this many windows a
        # song (consecutive windows pooled), while the copy keeps every window for the explanations
        self.searched_windows = None if self.is_server else LITE_SEARCHED_WINDOWS
        self.vector_fields: dict[str, int] = {}
        self._deleted_last: set[str] = set()  # collections whose last change in this process was a delete
        self._print_builds, self._print_lock = {}, threading.Lock()  # posting lists of prints (store/prints.py)
        # Milvus before 2.4 has one vector field per collection: there the song vectors other than
        # `joint` live in side collections.
        self.split = self.is_server and _server_version(self.client) < (2, 4)
        self.prefix = self.generation_state().get("active", prefix)

    # -- names and lifecycle -------------------------------------------------------------------
    @property
    def songs(self) -> str:
        return f"{self.prefix}_songs"

    @property
    def windows(self) -> str:
        return f"{self.prefix}_windows"

    @property
    def chunks(self) -> str:
        return f"{self.prefix}_chunks"

    @property
    def meta(self) -> str:
        return f"{self.prefix}_meta"

    @property
    def prints(self) -> str:
        return f"{self.prefix}_print_codes"  # layout 2 held float prints in `<prefix>_prints`

    def side(self, field: str) -> str:
        return f"{self.prefix}_vec_{field}"

    def _side_fields(self) -> list[str]:
        return [f for f in self.vector_fields if f != "joint"] if self.split else []

    def _all_collections(self) -> list[str]:
        return [self.songs, self.windows, self.chunks, self.prints, self.meta, *(self.side(f) for f in self._side_fields())]

    def exists(self) -> bool:
        return self.client.has_collection(self.songs)

    def open(self, vector_fields: dict[str, int]) -> None:
        """Create the collections for these song vector fields (and the print codes),
        or check that the existing ones match."""
        self.vector_fields = dict(vector_fields)
        if self.exists():
            self.check_layout()
            stored = self.stored_vector_fields()
            if stored != self.vector_fields:
                raise CrossgenreError(
                    f"the index at {self.uri} holds vectors {stored}, the models give {self.vector_fields}; "
                    "re-index with --rebuild to switch models"
                )
        else:
            in_songs = {"joint": vector_fields["joint"]} if self.split else vector_fields
            self._create(self.songs, schema.song_schema(in_songs), list(in_songs))
            for f in self._side_fields():
                self._create(self.side(f), schema.side_schema(vector_fields[f]), ["vector"])
            self._create(self.windows, schema.window_schema(vector_fields["audio"]), ["vector"])
            self._create(self.chunks, schema.chunk_schema(vector_fields["lyrics"]), ["vector"])
            self._create(self.prints, schema.print_schema(), ["vector"])
            self._create(self.meta, schema.meta_schema(), ["placeholder"])
            self.write_meta("layout", schema.LAYOUT)
        for name in self._all_collections():
            self.client.load_collection(name)

    def layout(self) -> int:
        """The stored layout's version (1: before it was recorded)."""
        if not self.client.has_collection(self.meta):
            return 1
        self.client.load_collection(self.meta)
        return int(self.read_meta("layout", 1))

    def check_layout(self) -> None:
        found = self.layout()
        if found != schema.LAYOUT:
            raise CrossgenreError(
                f"the index at {self.uri} has store layout {found}, this crossgenre reads layout {schema.LAYOUT} "
                "(audio prints as codes); re-index it with `crossgenre index --rebuild PATH`")

    def open_existing(self) -> dict[str, int]:
        """Open an index that must already exist; returns its vector fields."""
        if not self.exists():
            raise CrossgenreError(f"no crossgenre index at {self.uri}; run `crossgenre index PATH` first")
        self.check_layout()
        self.open(self.stored_vector_fields())
        return self.vector_fields

    def _create(self, name: str, collection_schema, vector_names: list[str]) -> None:
        params = schema._index_params(self.client, vector_names, self.index_type)
        self.client.create_collection(name, schema=collection_schema, index_params=params, consistency_level="Strong")

    def missing_scalars(self) -> list[str]:
        """Scalar fields this version writes that the stored songs collection lacks (an index made by an
        older crossgenre); empty when it has them all or does not exist."""
        if not self.exists():
            return []
        stored = {f["name"] for f in self.client.describe_collection(self.songs)["fields"]}
        return [name for name in schema.SONG_SCALARS if name not in stored]

    def stored_vector_fields(self) -> dict[str, int]:
        def dims(name):
            desc = self.client.describe_collection(name)
            return {f["name"]: f["params"]["dim"] for f in desc["fields"] if "dim" in f.get("params", {})}

        fields = dims(self.songs)
        if self.split:
            prefix = f"{self.prefix}_vec_"
            for name in self.client.list_collections():
                if name.startswith(prefix):
                    fields[name[len(prefix):]] = dims(name)["vector"]
        return fields

    def drop(self) -> None:
        names = set(self._all_collections())
        if self.split:
            names |= {n for n in self.client.list_collections() if n.startswith(f"{self.prefix}_vec_")}
        for name in names:
            if self.client.has_collection(name):
                self.client.drop_collection(name)
        if self.window_copies is not None:
            self.window_copies.drop(self.prefix)
        self.drop_saved_print_index()
        self.drop_song_copy()

    def close(self) -> None:
        self.save_song_copy()
        self.client.close()
        if self.window_copies is not None:
            self.window_copies.close()

    def flush(self) -> None:
        """Persist what was written (Milvus Lite keeps recent writes in memory until a flush)."""
        for name in self._all_collections():
            self.client.flush(name)

    # -- index facts ---------------------------------------------------------------------------
    def read_meta(self, key: str, default=None):
        rows = self.client.query(self.meta, filter=f"key == {quote(key)}", output_fields=["value"],
                                 **self._consistency(self.meta))
        return json.loads(rows[0]["value"]) if rows else default

    def write_meta(self, key: str, value) -> None:
        self.client.upsert(self.meta, [{"key": key, "value": json.dumps(value), "placeholder": [1.0, 0.0]}])
        if not self.is_server:
            self.client.flush(self.meta)

    def _consistency(self, collection: str) -> dict:
        return {"consistency_level": "Strong"} if collection in self._deleted_last else SESSION


class _Client:
    """A MilvusClient whose reads and writes are retried `RETRIES` times when Milvus does not answer."""

    def __init__(self, client: MilvusClient):
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        return functools.partial(attr, retry_times=RETRIES) if name in _RETRIED else attr


def _server_version(client) -> tuple[int, int]:
    """(major, minor) of the Milvus server, e.g. (2, 3) for "v2.3.5-lite"."""
    import re

    m = re.search(r"(\d+)\.(\d+)", client.get_server_version() or "")
    return (int(m.group(1)), int(m.group(2))) if m else (99, 0)
