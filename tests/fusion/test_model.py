"""FusionModel: shapes and unit rows, missing modalities, save -> load, versions, and mismatch errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusion import FusionError, FusionMismatchError, FusionModel, fit
from tests.fusion.synthetic import make_library

ENCODERS = {"audio": "musicnn-msd", "lyrics": "all-minilm-l6-v2", "cover": "cover-descriptor"}


@pytest.fixture(scope="module")
def library():
    return make_library(400, seed=7)


@pytest.fixture(scope="module")
def model(library):
    return fit(library.arrays, library.masks, seed=0, encoders=ENCODERS)[0]


def _unit(x):
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_project_gives_unit_rows_in_the_audio_space(model, library):
    for m in ("audio", "lyrics", "cover"):
        out = model.project(m, library.arrays[m][library.masks[m]][:17])
        assert out.shape == (17, 200) and out.dtype == np.float32
        _unit(out)
    np.testing.assert_allclose(model.project("audio", library.arrays["audio"]), library.arrays["audio"], atol=1e-6)


def test_joint_covers_every_song_and_missing_modalities(model, library):
    joint = model.joint(library.arrays, library.masks)
    assert joint.shape == (400, 200)
    _unit(joint)
    audio_only = ~library.masks["lyrics"] & ~library.masks["cover"]
    assert audio_only.any()
    np.testing.assert_allclose(joint[audio_only], library.arrays["audio"][audio_only], atol=1e-6)
    both = library.masks["lyrics"] & library.masks["cover"]
    assert not np.allclose(joint[both], library.arrays["audio"][both], atol=1e-3)
    # audio has the highest weight, so the joint vector stays nearest its own song's audio
    assert (np.argmax(joint @ library.arrays["audio"].T, axis=1) == np.arange(400)).mean() > 0.95


def test_joint_accepts_audio_alone(model, library):
    joint = model.joint({"audio": library.arrays["audio"][:5]})
    np.testing.assert_allclose(joint, library.arrays["audio"][:5], atol=1e-6)


def test_save_load_gives_the_same_projections_and_version(model, library, tmp_path):
    model.save(tmp_path / "fusion")
    doc = json.loads((tmp_path / "fusion" / "fusion.json").read_text())
    assert doc["version"] == model.version and doc["joint_dim"] == 200
    assert doc["modalities"]["lyrics"] == {"dim": 384, "encoder": "all-minilm-l6-v2", "method": "contrastive", "weight": 0.5, "hidden": 128}
    assert doc["fit_report"]["n_songs"] == 400
    loaded = FusionModel.load(tmp_path / "fusion", encoders=ENCODERS, dims={"audio": 200, "lyrics": 384, "cover": 256})
    assert loaded.version == model.version
    for m in ("lyrics", "cover"):
        x = library.arrays[m][library.masks[m]]
        np.testing.assert_array_equal(loaded.project(m, x), model.project(m, x))
    np.testing.assert_array_equal(loaded.joint(library.arrays, library.masks), model.joint(library.arrays, library.masks))
    assert loaded.report.summary() == model.report.summary()


def test_version_follows_the_weights(model, tmp_path):
    copy = FusionModel.load(model.save(tmp_path / "a"))
    before = copy.version
    with torch.no_grad():
        copy.heads["cover"].linear.bias[0] += 1e-3
    assert copy.refresh_version() != before
    copy.weights["lyrics"] = 0.25
    assert copy.refresh_version() not in (before, model.version)


def test_load_refuses_other_encoders_or_dims(model, tmp_path):
    path = model.save(tmp_path / "fusion")
    with pytest.raises(FusionMismatchError, match="fitted on lyrics vectors from 'all-minilm-l6-v2', not 'mpnet'"):
        FusionModel.load(path, encoders={"lyrics": "mpnet"})
    with pytest.raises(FusionMismatchError, match="expects 256-dim cover vectors, not 512"):
        FusionModel.load(path, dims={"cover": 512})
    with pytest.raises(FusionMismatchError, match="no tags modality"):
        FusionModel.load(path, dims={"tags": 50})
    with pytest.raises(FusionMismatchError, match=r"expects \(n, 384\)"):
        model.project("lyrics", np.ones((2, 512), np.float32))


def test_load_refuses_weights_that_do_not_match_the_manifest(model, tmp_path):
    path = model.save(tmp_path / "fusion")
    doc = json.loads((path / "fusion.json").read_text())
    doc["modalities"]["lyrics"]["weight"] = 0.9
    (path / "fusion.json").write_text(json.dumps(doc))
    with pytest.raises(FusionError, match="inconsistent"):
        FusionModel.load(path)
    with pytest.raises(FusionError, match="fusion.json is missing"):
        FusionModel.load(tmp_path / "nowhere")


def test_identity_model_joins_audio_alone_and_round_trips(library, tmp_path):
    model = FusionModel.identity({"audio": 200, "lyrics": 384, "cover": 256}, ENCODERS)
    assert model.methods == {"audio": "identity", "lyrics": "none", "cover": "none"}
    np.testing.assert_allclose(model.joint(library.arrays, library.masks), library.arrays["audio"], atol=1e-6)
    with pytest.raises(FusionError, match="no lyrics map"):
        model.project("lyrics", library.arrays["lyrics"][:2])
    loaded = FusionModel.load(model.save(tmp_path / "identity"), encoders=ENCODERS)
    assert loaded.version == model.version and loaded.heads == {}


def test_bad_inputs_name_the_problem(model, library):
    with pytest.raises(FusionError, match="needs an 'audio' array"):
        model.joint({"lyrics": library.arrays["lyrics"]})
    with pytest.raises(FusionError, match="lyrics array has shape"):
        model.joint({"audio": library.arrays["audio"], "lyrics": library.arrays["lyrics"][:10]})
    with pytest.raises(FusionError, match="all-zero vectors"):
        model.joint({"audio": library.arrays["audio"], "lyrics": np.zeros((400, 384), np.float32)})
    with pytest.raises(FusionError, match="unknown modality"):
        model.joint({"audio": library.arrays["audio"], "tags": library.arrays["audio"]})


def test_save_replaces_the_model_atomically(model, library, tmp_path, monkeypatch):
    """A save that fails midway leaves the previous model whole; one killed between its renames is put back."""
    import os

    import fusion.model as fusion_model

    path = model.save(tmp_path / "fusion")
    before = (path / "fusion.json").read_text()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(fusion_model, "save_file", disk_full)
        with pytest.raises(OSError):
            model.save(path)
    assert (path / "fusion.json").read_text() == before
    assert FusionModel.load(path).version == model.version

    os.rename(path, tmp_path / "fusion.old")  # as a save killed between its two renames leaves it
    assert FusionModel.load(path).version == model.version
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fusion"]
