"""fit on synthetic libraries: determinism, beating the no-fusion baseline, and the small-library fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from fusion import FitConfig, FusionError, fit
from tests.fusion.synthetic import make_library


@pytest.fixture(scope="module")
def library():
    return make_library(1500, seed=3)


@pytest.fixture(scope="module")
def fitted(library):
    return fit(library.arrays, library.masks, seed=0, encoders={"audio": "a", "lyrics": "l", "cover": "c"})


def test_fits_a_few_hundred_songs():
    lib = make_library(300, seed=1)
    model, report = fit(lib.arrays, lib.masks, seed=0)
    assert report.methods == {"audio": "identity", "lyrics": "contrastive", "cover": "contrastive"}
    assert report.fallback is None
    assert report.n_train + report.n_val + report.n_test == 300
    assert report.stopped_by in ("patience", "max_epochs", "time_budget")
    assert 0 <= report.best_epoch <= report.epochs and len(report.val_loss) == report.epochs + 1
    assert min(report.val_loss) <= report.val_loss[0]
    assert 0.01 <= report.temperature <= 1.0
    assert model.joint(lib.arrays, lib.masks).shape == (300, 200)


def test_same_seed_same_model_other_seed_other_model():
    lib = make_library(300, seed=2)
    a, ra = fit(lib.arrays, lib.masks, seed=5)
    b, rb = fit(lib.arrays, lib.masks, seed=5)
    c, _ = fit(lib.arrays, lib.masks, seed=6)
    assert a.version == b.version != c.version
    assert ra.recall == rb.recall
    np.testing.assert_array_equal(a.project("lyrics", lib.arrays["lyrics"]), b.project("lyrics", lib.arrays["lyrics"]))


def test_fitted_beats_no_fusion_baseline_on_held_out_songs(fitted):
    model, report = fitted
    for pair in ("lyrics→audio", "cover→audio"):
        r = report.recall[pair]
        assert report.queries[pair] >= 10
        assert r["fitted"]["R@10"] >= r["no fusion"]["R@10"] + 0.3, report.summary()
        assert r["fitted"]["R@1"] >= r["no fusion"]["R@1"] + 0.2, report.summary()
        assert report.beats_baseline(pair)


def test_split_keeps_albums_together(library, fitted):
    """Songs sharing a cover are never split between train and test (their cover would leak)."""
    _, report = fitted
    # every cover query counted once per album: queries <= distinct covers among test songs
    assert report.queries["cover→audio"] <= report.gallery["cover→audio"]
    assert report.n_train > 0.7 * library.album.size


def test_summary_names_each_pair_and_column(fitted):
    text = fitted[1].summary()
    for word in ("1500 songs", "lyrics→audio", "cover→audio", "no fusion", "ridge", "fitted", "R@1 / R@10"):
        assert word in text


def test_tiny_library_gets_ridge_maps_and_an_audio_joint():
    lib = make_library(20, seed=4)
    model, report = fit(lib.arrays, lib.masks, seed=0)
    assert report.fallback and "ridge" in report.fallback
    assert report.methods["lyrics"] == "ridge" and report.methods["cover"] == "ridge"
    assert report.recall == {} and report.n_val == report.n_test == 0
    np.testing.assert_allclose(model.joint(lib.arrays, lib.masks), lib.arrays["audio"], atol=1e-6)
    projected = model.project("lyrics", lib.arrays["lyrics"][lib.masks["lyrics"]])
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, atol=1e-5)
    assert "fallback" in report.summary()


def test_summary_warns_when_the_test_songs_are_few():
    lib = make_library(60, seed=0)
    _, report = fit(lib.arrays, lib.masks, seed=0)
    assert report.methods["lyrics"] == "contrastive"
    assert "too few for the figures to mean much" in report.summary()


def test_a_modality_no_song_has_gets_no_map():
    lib = make_library(300, seed=5)
    masks = {**lib.masks, "cover": np.zeros(300, bool)}
    model, report = fit(lib.arrays, masks, seed=0)
    assert report.methods == {"audio": "identity", "lyrics": "contrastive", "cover": "none"}
    assert model.weights["cover"] == 0.0
    with pytest.raises(FusionError, match="no cover map"):
        model.project("cover", lib.arrays["cover"][:3])


def test_a_rare_modality_gets_a_ridge_map_left_out_of_the_joint():
    lib = make_library(300, seed=6)
    cover = lib.masks["cover"] & (np.arange(300) < 40)
    cover &= np.cumsum(cover) <= 12
    model, report = fit(lib.arrays, {**lib.masks, "cover": cover}, seed=0, config=FitConfig(min_pairs=30))
    assert report.methods["lyrics"] == "contrastive" and report.methods["cover"] == "ridge"
    assert model.weights["cover"] == 0.0 and model.weights["lyrics"] > 0
