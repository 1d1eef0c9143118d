"""The copy of the song vectors that a Milvus Lite index keeps in memory (store/song_vectors.py): its answers
are Milvus's; every write through the store keeps it current; it is saved beside the index, a new process
starts from that file, and any write deletes it first; a large library's copy is read in the background
while Milvus answers, and writes made meanwhile are not lost."""

import threading

import numpy as np
import pytest

import store.song_vectors as song_vectors
from store import VectorStore

from .test_store import FIELDS, record


def _open(uri):
    s = VectorStore(uri, prefix="songs")
    s.open(FIELDS)
    return s


def _new_process():
    """What a new process starts with: no copy in memory (the file beside the index stays)."""
    song_vectors._COPIES.clear()


def _ids(hits):
    return [h["id"] for h in hits]


def _on_milvus(s, *args, **kwargs):
    s.use_song_copy = False
    try:
        return s.search(*args, **kwargs)
    finally:
        s.use_song_copy = True


@pytest.fixture
def lite(tmp_path):
    """A Lite index of 12 songs (every third without lyrics) and its store."""
    _new_process()
    s = _open(str(tmp_path / "index.db"))
    rng = np.random.default_rng(3)
    s.write_songs([record(i, rng, lyrics=i % 3 != 0, genre="Jazz" if i % 2 else "Rock") for i in range(12)])
    yield s
    s.close()
    _new_process()


def test_the_copy_answers_as_milvus_does(lite):
    query = np.random.default_rng(9).normal(size=FIELDS["audio"]).astype(np.float32)
    copy = lite.song_matrix()
    assert copy is not None and len(copy) == 12
    for field, flt in [("audio", ""), ("lyrics", "has_lyrics == true"), ("joint", "(has_lyrics == true)")]:
        vec = query[: FIELDS[field]] if len(query) >= FIELDS[field] else np.resize(query, FIELDS[field])
        mine, theirs = lite.search(field, vec, 5, flt, ["title"]), _on_milvus(lite, field, vec, 5, flt, ["title"])
        assert _ids(mine) == _ids(theirs)
        assert [h["distance"] for h in mine] == pytest.approx([h["distance"] for h in theirs], abs=1e-5)
        assert [h["entity"]["title"] for h in mine] == [h["entity"]["title"] for h in theirs]
    with_lyrics = _ids(lite.search("lyrics", np.ones(8), 12, "has_lyrics == true"))
    assert len(with_lyrics) == 8 and all(int(sid[4:]) % 3 for sid in with_lyrics)
    # a filter the copy cannot apply goes to Milvus
    assert copy.search("audio", query, 5, 'genre == "Jazz"') is None
    jazz = lite.search("audio", query, 12, 'genre == "Jazz"', ["genre"])
    assert len(jazz) == 6 and {h["entity"]["genre"] for h in jazz} == {"Jazz"}
    scored = lite.score("audio", query, ["song001", "song002", "nosuchsong"])
    assert _ids(scored) == _ids(sorted(scored, key=lambda h: -h["distance"])) and set(_ids(scored)) == {"song001", "song002"}


def test_writes_keep_the_copy_current(lite):
    assert lite.song_matrix() is not None
    rng = np.random.default_rng(4)
    new = record(20, rng)
    lite.write_songs([new])
    assert _ids(lite.search("audio", new.row["audio"], 1)) == ["song020"]
    moved = record(5, rng)  # song005 rewritten with other vectors
    lite.write_songs([moved])
    assert lite.search("joint", moved.row["joint"], 1)[0]["distance"] == pytest.approx(1.0, abs=1e-5)
    lite.delete_songs(["song020", "song007"])
    hits = lite.search("audio", new.row["audio"], 20)
    assert "song020" not in _ids(hits) and "song007" not in _ids(hits) and len(hits) == 11


def test_a_new_process_starts_from_the_saved_copy_and_a_write_deletes_it(lite, monkeypatch):
    uri = lite.uri
    lite.song_matrix()
    lite.close()
    saved = lite._saved_songs
    assert saved.exists()
    _new_process()
    second = _open(uri)

    def unreadable(*args, **kwargs):
        raise AssertionError("the song rows were read: the saved copy was not used")

    with monkeypatch.context() as m:
        m.setattr(second, "iter_songs", unreadable)
        target = second.get_songs(["song004"], ["audio"])["song004"]["audio"]
        assert _ids(second.search("audio", target, 1)) == ["song004"]
    second.write_songs([record(30, np.random.default_rng(30))])
    assert not saved.exists()  # deleted before the write reached Milvus
    second.close()
    assert saved.exists()  # saved again, with the new song
    _new_process()
    third = _open(uri)
    try:
        assert len(third.song_matrix()) == 13
    finally:
        third.close()


def test_a_saved_copy_that_does_not_match_the_index_is_read_again(lite):
    uri, saved = lite.uri, lite._saved_songs
    lite.song_matrix()
    lite.close()
    _new_process()
    saved.write_bytes(saved.read_bytes()[:200])  # cut short
    second = _open(uri)
    try:
        assert len(second.song_matrix()) == 12
    finally:
        second.close()
    _new_process()
    assert saved.exists()
    writer = _open(uri)  # a song written past the store (as a crossgenre without the copy would)
    writer.client.insert(writer.songs, [writer._plain_row(record(50, np.random.default_rng(50)).row)])
    writer.client.flush(writer.songs)
    writer.client.close()
    third = _open(uri)
    try:
        assert len(third.song_matrix()) == 13
    finally:
        third.close()


def test_a_large_library_is_read_in_the_background_and_writes_meanwhile_are_kept(lite, monkeypatch):
    monkeypatch.setattr(song_vectors, "SYNC_BUILD_SONGS", 5)
    _new_process()
    lite._saved_songs.unlink(missing_ok=True)
    reading, release = threading.Event(), threading.Event()
    rows = lite.iter_songs

    def slow_rows(fields, filter=""):
        for i, row in enumerate(rows(fields, filter)):
            if i == 3:
                reading.set()
                assert release.wait(30)
            yield row

    monkeypatch.setattr(lite, "iter_songs", slow_rows)
    assert lite.song_matrix() is None  # building: Milvus answers meanwhile
    assert reading.wait(30)
    query = lite.get_songs(["song002"], ["audio"])["song002"]["audio"]
    assert _ids(lite.search("audio", query, 1)) == ["song002"]
    new = record(40, np.random.default_rng(40))
    lite.write_songs([new])  # during the read
    lite.delete_songs(["song002"])
    release.set()
    copy = lite.song_matrix(wait=True)
    assert len(copy) == 12
    assert _ids(lite.search("audio", new.row["audio"], 1)) == ["song040"]
    assert "song002" not in _ids(lite.search("audio", query, 12))


def test_drop_forgets_the_copy(lite):
    lite.song_matrix()
    lite.save_song_copy()
    assert lite._saved_songs.exists()
    lite.drop()
    assert not lite._saved_songs.exists()
    lite.open(FIELDS)
    assert lite.search("audio", np.ones(FIELDS["audio"]), 5) == []
