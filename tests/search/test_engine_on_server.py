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


def test_lite_and_the_server_rank_and_explain_alike(indexed, server_index, library):
    """One fusion path: the same library on Milvus Lite and on a Milvus 2.3 server (another layout, no
    hybrid search) gives the same order and the same shares for a text, a clip and a cover photo."""
    import soundfile as sf

    from scan import decode_audio

    lite, server = SearchEngine(indexed[1]), SearchEngine(server_index[0])
    song = max(library.songs, key=lambda s: s.duration)
    buf = io.BytesIO()
    sf.write(buf, decode_audio(song.path, 22050)[22050 * 3: 22050 * 9], 22050, format="WAV")
    covered = next(s for s in library.songs if s.cover)
    for query in (Query(text="slow sad piano, about leaving home", k=8), Query(audio=buf.getvalue(), k=8),
                  Query(image=covered.cover, k=8), Query(text="loud guitars", k=8, weights={"sound": 1, "lyrics": 0.5})):
        a, b = lite.answer(query), server.answer(query)
        assert a.hits and [h.id for h in a.hits] == [h.id for h in b.hits], query.kind
        assert a.reading == b.reading
        for ha, hb in zip(a.hits, b.hits):
            assert sum(m.share for m in ha.routes) == pytest.approx(1.0, abs=1e-9)
            assert sum(m.part for m in ha.routes) == pytest.approx(ha.score, abs=1e-9)
            assert ha.routes and all(0.0 <= m.share <= 1.0 for m in ha.routes)
            # the same routes in the same order, each with the same share (float32 distances from two
            # engines differ in the last bits; a score near 0 magnifies that in part / score)
            assert [m.route for m in ha.routes] == [m.route for m in hb.routes]
            assert [m.share for m in ha.routes] == pytest.approx([m.share for m in hb.routes], rel=1e-3, abs=1e-4)
