"""The audio-window route under a filter, on a real store: a narrow filter loses no song it passes."""

import threading
import uuid
from types import SimpleNamespace

import numpy as np
import pytest

from search import engine as engine_module
from search.engine import SearchEngine
from store import VectorStore
from tests.store.test_store import FIELDS, record, unit


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """60 songs of 20 windows each. The query sits among the Rock songs' windows; the 3 Jazz songs'
    windows are all far from it, so an unfiltered top-N of windows holds none of them."""
    rng = np.random.default_rng(3)
    store = VectorStore(str(tmp_path_factory.mktemp("windows") / "w.db"), prefix="t" + uuid.uuid4().hex[:8])
    store.open(FIELDS)
    query = unit(rng, 1, FIELDS["audio"])[0]
    recs = []
    for i in range(60):
        rec = record(i, rng, genre="Jazz" if i < 3 else "Rock", windows=20)
        sign = -1.0 if i < 3 else 1.0
        near = sign * query + 0.3 * unit(rng, 20, FIELDS["audio"])
        rec.window_vectors[:] = near / np.linalg.norm(near, axis=1, keepdims=True)
        recs.append(rec)
    store.write_songs(recs)
    yield SearchEngine(SimpleNamespace(store=store, model_lock=threading.Lock())), query
    store.close()


def test_a_narrow_filter_finds_every_song_it_passes(crowded):
    engine, query = crowded
    found = engine._best_windows(query, 5, 'genre == "Jazz"')
    assert sorted(sid for sid, _ in found) == ["song000", "song001", "song002"]


def test_a_broad_filter_keeps_only_passing_songs_best_first(crowded, monkeypatch):
    engine, query = crowded
    monkeypatch.setattr(engine_module, "NARROW_FILTER_SONGS", 10)  # 57 Rock songs count as a broad filter here
    found = engine._best_windows(query, 5, 'genre == "Rock"')
    assert len(found) == 5 and not {"song000", "song001", "song002"} & {sid for sid, _ in found}
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    # Broad in count but far from the query: too few among the unfiltered windows, so it searches by id.
    monkeypatch.setattr(engine_module, "NARROW_FILTER_SONGS", 2)
    assert len(engine._best_windows(query, 5, 'genre == "Jazz"')) == 3
