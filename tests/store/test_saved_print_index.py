"""The posting lists of prints saved beside a Milvus Lite index (store/prints.py): a new process starts
from them instead of reading every print row again; they are never taken for current when the prints
changed since; a damaged file is built again; a large library's lists load in the background."""

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

import store.prints as store_prints
from crossgenre.serve import load_prints_in_background
from store import VectorStore

from .test_store import FIELDS, _excerpt, record


def _open(uri, prefix="saved"):
    s = VectorStore(uri, prefix=prefix)
    s.open(FIELDS)
    return s


def _unreadable_rows(*args, **kwargs):
    raise AssertionError("the print rows were read: the saved lists were not used")


@pytest.fixture
def indexed(tmp_path):
    """A Lite index of 3 songs whose lists one process built and saved; (uri, the songs' records)."""
    uri = str(tmp_path / "index.db")
    recs = [record(i, np.random.default_rng(i)) for i in range(3)]
    first = _open(uri)
    first.write_songs(recs)
    assert first.find_clip(_excerpt(recs[1], 5, 8))[0].song_id == "song001"
    first.close()
    return uri, recs


def test_a_new_process_starts_from_the_saved_lists(indexed, monkeypatch):
    uri, recs = indexed
    second = _open(uri)
    monkeypatch.setattr(second, "iter_print_rows", _unreadable_rows)
    try:
        found = second.find_clip(_excerpt(recs[2], 10, 8))
        assert found[0].song_id == "song002" and found[0].offset == pytest.approx(10 * store_prints.TIME_SCALE)
    finally:
        second.close()


def test_lists_saved_before_the_prints_changed_are_not_taken_for_current(indexed):
    uri, recs = indexed
    writer = _open(uri)
    new = record(7, np.random.default_rng(70))
    writer.write_songs([new])  # a new version of the prints; this process built no lists
    writer.close()
    reader = _open(uri)
    try:
        assert reader.find_clip(_excerpt(new, 3, 8))[0].song_id == "song007"
    finally:
        reader.close()


def test_a_damaged_file_is_built_again(indexed, caplog):
    uri, recs = indexed
    (saved,) = Path(uri).parent.glob("*.npz")
    saved.write_bytes(b"not the lists")
    reader = _open(uri)
    try:
        with caplog.at_level(logging.WARNING, logger="store.prints"):
            assert reader.find_clip(_excerpt(recs[0], 2, 8))[0].song_id == "song000"
        assert "is not used" in caplog.text
    finally:
        reader.close()
    assert len(list(Path(uri).parent.glob("*.npz"))) == 1 and saved.stat().st_size > 1000  # saved again, whole


def test_a_large_librarys_lists_load_in_the_background(indexed, monkeypatch):
    uri, recs = indexed
    (saved,) = Path(uri).parent.glob("*.npz")
    saved.unlink()
    monkeypatch.setattr(store_prints, "SYNC_BUILD_PRINTS", 0)  # every library is large
    reader = _open(uri)
    try:
        release = threading.Event()
        rows = reader.iter_print_rows

        def slow_rows(*args, **kwargs):
            release.wait(30)
            yield from rows(*args, **kwargs)

        monkeypatch.setattr(reader, "iter_print_rows", slow_rows)
        loading = load_prints_in_background(reader)
        assert reader.find_clip(_excerpt(recs[1], 5, 8)) == []  # answered at once, by sound alone
        release.set()
        loading.join(30)
        assert reader.find_clip(_excerpt(recs[1], 5, 8))[0].song_id == "song001"
        assert saved.exists()
    finally:
        reader.close()


def test_drop_deletes_the_saved_lists(indexed):
    uri, _ = indexed
    reader = _open(uri)
    (saved,) = Path(uri).parent.glob("*.npz")
    reader.drop()
    reader.close()
    assert not saved.exists()
