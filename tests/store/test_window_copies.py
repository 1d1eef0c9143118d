"""The copy of song windows beside a Milvus Lite index: read instead of Milvus, never stale, refilled."""

import uuid

import numpy as np
import pytest

from store import VectorStore

from .test_store import FIELDS, record, unit


@pytest.fixture
def store(tmp_path):
    s = VectorStore(str(tmp_path / "index.db"), prefix="t" + uuid.uuid4().hex[:8])
    s.open(FIELDS)
    yield s
    s.close()


def windows_of(store, sid):
    return sorted((w for w in store.song_windows([sid])), key=lambda w: w["start"])


def milvus_reads(store, monkeypatch) -> list:
    """Counts the store's reads of windows from Milvus."""
    calls = []
    real = store._parts_by_search
    monkeypatch.setattr(store, "_parts_by_search", lambda *a: calls.append(a) or real(*a))
    return calls


def test_windows_written_are_read_from_the_copy_not_milvus(store, monkeypatch):
    rng = np.random.default_rng(1)
    recs = [record(i, rng, windows=2 + i) for i in range(4)]
    store.write_songs(recs)
    reads = milvus_reads(store, monkeypatch)
    for r in recs:
        got = windows_of(store, r.row["id"])
        assert [w["start"] for w in got] == list(r.window_starts) and [w["end"] for w in got] == list(r.window_ends)
        assert np.allclose([w["vector"] for w in got], r.window_vectors, atol=1e-6)
        assert {w["song_id"] for w in got} == {r.row["id"]}
    assert reads == []


def test_a_song_without_windows_reads_none(store):
    rng = np.random.default_rng(6)
    store.write_songs([record(1, rng, windows=0), record(2, rng, windows=2)])
    assert store.song_windows(["song001"]) == []
    assert len(store.song_windows(["song001", "song002"])) == 2


def test_a_copy_of_older_windows_is_never_read(store):
    """A copy left from before a song was indexed again (a crash between the two writes) is not the song's."""
    rng = np.random.default_rng(2)
    store.write_songs([record(1, rng, windows=3)])
    row = store.get_songs(["song001"], ["key", "extra"])["song001"]
    key, old_version = row["key"], row["extra"]["parts_id"]
    old = store.window_copies.get(store.prefix, {key: old_version})[key]
    again = record(1, rng, windows=3)  # the same number of windows, other vectors
    store.write_songs([again])
    store.window_copies.put(store.prefix, [(key, old_version, *old)])  # the older copy back in place
    got = windows_of(store, "song001")
    assert np.allclose([w["vector"] for w in got], again.window_vectors, atol=1e-6)
    assert not np.allclose(old[2], again.window_vectors, atol=1e-3)


def test_an_index_without_the_copy_reads_milvus_and_copies_what_it_read(store, monkeypatch):
    rng = np.random.default_rng(3)
    recs = [record(i, rng, windows=4) for i in range(3)]
    store.write_songs(recs)
    store.window_copies.drop(store.prefix)  # an index built before the copy existed, or its file deleted
    reads = milvus_reads(store, monkeypatch)
    first = windows_of(store, "song002")
    assert len(reads) == 1 and np.allclose([w["vector"] for w in first], recs[2].window_vectors, atol=1e-6)
    second = windows_of(store, "song002")
    assert len(reads) == 1, "the second read comes from the copy"
    assert [w["start"] for w in second] == [w["start"] for w in first]
    assert np.allclose([w["vector"] for w in second], [w["vector"] for w in first])


def test_deleted_songs_and_dropped_indexes_leave_no_copy(store):
    rng = np.random.default_rng(4)
    store.write_songs([record(i, rng) for i in range(3)])
    keys = {sid: row["key"] for sid, row in store.get_songs(["song000", "song001", "song002"], ["id", "key"]).items()}
    store.delete_songs(["song001"])
    left = store.window_copies._run("SELECT song_key FROM windows WHERE prefix = ?", [store.prefix])
    assert sorted(k for (k,) in left) == sorted([keys["song000"], keys["song002"]])
    store.drop()
    assert store.window_copies._run("SELECT count(*) FROM windows WHERE prefix = ?", [store.prefix]) == [(0,)]


def test_an_unreadable_copy_is_set_aside_and_milvus_answers(tmp_path, monkeypatch):
    s = VectorStore(str(tmp_path / "index.db"), prefix="t")
    s.open(FIELDS)
    try:
        rng = np.random.default_rng(5)
        rec = record(1, rng, windows=3)
        s.write_songs([rec])
        s.window_copies._db.execute("DROP TABLE windows")  # a damaged copy
        got = windows_of(s, "song001")
        assert np.allclose([w["vector"] for w in got], rec.window_vectors, atol=1e-6)
        assert s.window_copies._db is None
    finally:
        s.close()
