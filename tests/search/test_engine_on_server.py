"""Indexing and search against a real Milvus server (the same code as Milvus Lite, another URI)."""

import io

import pytest

from crossgenre.config import Config
from crossgenre.indexer import index_library, song_id
from crossgenre.workspace import open_for_indexing
from search import Query, SearchEngine


@pytest.fixture(scope="module")
def server_index(library, milvus_server_uri, tmp_path_factory):
    config = Config(data_dir=tmp_path_factory.mktemp("server-data"), milvus_uri=milvus_server_uri,
                    collection_prefix="searchtest", profile="offline")
    ws = open_for_indexing(config, "offline", rebuild=True)
    report = index_library(ws, [library.root], progress=False)
    yield ws, report
    ws.store.drop()
    ws.close()


def test_server_index_holds_every_song(server_index, library):
    ws, report = server_index
    assert ws.store.is_server
    assert report.added == len(library.songs) == ws.store.count()
    assert len(report.failed) == len(library.broken)


def test_server_search_finds_clips_covers_and_filters(server_index, library):
    import soundfile as sf

    from scan import decode_audio

    ws, _ = server_index
    engine = SearchEngine(ws)
    song = max(library.songs, key=lambda s: s.duration)
    buf = io.BytesIO()
    sf.write(buf, decode_audio(song.path, 22050)[22050 * 2: 22050 * 8], 22050, format="WAV")
    hits = engine.search(Query(audio=buf.getvalue(), k=3))
    assert hits[0].id == song_id(song.path) and hits[0].routes
    covered = next(s for s in library.songs if s.cover)
    assert engine.search(Query(image=covered.cover, k=3))[0].song["album"] == covered.album
    metal = engine.search(Query(text="heavy distorted guitars", k=10, genre="Metal"))
    assert metal and all(h.song["genre"] == "Metal" for h in metal)
    assert engine.search(Query(text="heavy distorted guitars", k=10, cross_genre=True, query_genre="Metal"))
