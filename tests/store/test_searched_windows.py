"""Milvus Lite searches at most a few pooled windows a song; the copy beside it keeps every window."""

import numpy as np

from store.milvus import LITE_SEARCHED_WINDOWS
from store.writes import pooled_windows

from .test_store import record, unit
from .test_window_copies import store  # noqa: F401  (the fixture: a Milvus Lite store)


def test_pooling_spans_consecutive_windows_and_keeps_unit_vectors():
    rng = np.random.default_rng(0)
    starts = np.arange(40) * 6.0
    vectors = unit(rng, 40, 8)
    s, e, v = pooled_windows(starts, starts + 3.0, vectors, 10)
    assert len(v) == 10
    assert list(s) == list(starts[::4]) and list(e) == list(starts[3::4] + 3.0)
    mean = vectors[8:12].mean(axis=0)
    assert np.allclose(v[2], mean / np.linalg.norm(mean), atol=1e-6)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)

    s, e, v = pooled_windows(starts[:11], starts[:11] + 3.0, vectors[:11], 10)  # pairs, the last window alone
    assert len(v) == 6 and e[-1] == starts[10] + 3.0 and np.allclose(v[-1], vectors[10], atol=1e-6)
    s, e, v = pooled_windows(starts[:10], starts[:10] + 3.0, vectors[:10], 10)
    assert len(v) == 10 and np.allclose(v, vectors[:10])
    assert len(pooled_windows(starts, starts + 3.0, vectors, None)[2]) == 40


def test_a_long_song_is_searched_by_pooled_windows_and_explained_by_every_window(store):
    rng = np.random.default_rng(3)
    long, short = record(1, rng, windows=40), record(2, rng, windows=4)
    store.write_songs([long, short])
    assert store.count_parts()[0] == LITE_SEARCHED_WINDOWS + 4

    # a clip like window 17 finds the pooled window that spans windows 16-19 of the long song
    hits = store.search_windows(long.window_vectors[17], 3)
    assert hits[0]["entity"]["song_id"] == "song001"
    assert (hits[0]["entity"]["start"], hits[0]["entity"]["end"]) == (long.window_starts[16], long.window_ends[19])

    # explanations read every window, from the copy
    got = sorted(store.song_windows(["song001"]), key=lambda w: w["start"])
    assert [w["start"] for w in got] == list(long.window_starts)
    assert np.allclose([w["vector"] for w in got], long.window_vectors, atol=1e-6)


def test_without_the_copy_a_long_song_is_explained_by_its_pooled_windows(store):
    rng = np.random.default_rng(4)
    long = record(1, rng, windows=40)
    store.write_songs([long])
    store.window_copies.drop(store.prefix)
    got = sorted(store.song_windows(["song001"]), key=lambda w: w["start"])
    assert [w["start"] for w in got] == list(long.window_starts[::4])
