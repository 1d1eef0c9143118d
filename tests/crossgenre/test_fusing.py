"""When the fusion is fitted again, and what a fit reads: a sample of bounded size, drawn from every song."""

from __future__ import annotations

import numpy as np
import pytest

from crossgenre.fusing import SETTLED_SONGS, needs_refit, sample_vectors


@pytest.mark.parametrize("songs, fitted_on, refit", [
    (28, 0, True),  # never fitted
    (36, 28, True),  # a small library grew by a fifth of its new size
    (34, 28, False),
    (22, 28, True),  # ... or shrank by one
    (SETTLED_SONGS + 3000, SETTLED_SONGS, False),  # a large library: not at 20 % or 30 % more ...
    (int(SETTLED_SONGS * 1.99), SETTLED_SONGS, False),
    (2 * SETTLED_SONGS, SETTLED_SONGS, True),  # ... but when it doubled
    (SETTLED_SONGS // 2, SETTLED_SONGS, True),  # ... or halved
])
def test_a_library_is_refitted_often_while_small_and_rarely_once_large(songs, fitted_on, refit):
    assert needs_refit(songs, fitted_on) is refit


def test_refits_on_the_way_from_ten_thousand_songs_to_a_million_are_few():
    fitted, refits = SETTLED_SONGS, 0
    for songs in range(SETTLED_SONGS, 1_000_001, 1000):  # a library growing 1,000 songs a run
        if needs_refit(songs, fitted):
            fitted, refits = songs, refits + 1
    assert refits == 6  # a fixed 20 % refits 19 times


def test_a_fit_reads_a_uniform_sample_of_at_most_the_limit(indexed):
    _, ws, _ = indexed
    all_ids = {r["id"]: r for r in ws.store.iter_songs(["id", "has_lyrics", "audio"])}
    assert len(all_ids) >= 10
    arrays, masks, ids = sample_vectors(ws.store, len(all_ids) + 5)
    assert sorted(ids) == sorted(all_ids), "under the limit, every song"
    picks = []
    for seed in range(20):
        arrays, masks, ids = sample_vectors(ws.store, 4, seed=seed)
        assert len(ids) == len(set(ids)) == 4 and all(len(a) == 4 for a in arrays.values())
        for i, sid in enumerate(ids):  # each kept row holds that song's own vectors and flags
            assert np.allclose(arrays["audio"][i], all_ids[sid]["audio"], atol=1e-6)
            assert masks["lyrics"][i] == all_ids[sid]["has_lyrics"]
        picks += ids
    # drawn from the whole library, not its first rows: every song is kept by some of the 20 draws
    assert set(picks) == set(all_ids)
