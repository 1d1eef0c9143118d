"""The full profile end to end (index -> fuse -> store -> search) on random-weight CLAP and OpenCLIP
models of the real architectures, written in the published formats into a model folder, as
`crossgenre models download` would lay out the real ones."""

import io
import json

import pytest

from crossgenre.config import Config
from crossgenre.indexer import index_library, song_id
from crossgenre.workspace import open_for_indexing, open_for_search
from scan.errors import ProfileMismatchError
from encoders.profile import read_profile_settings
from tests.fixtures.random_models import write_model_dir
from search import Query, SearchEngine


@pytest.fixture(scope="module")
def full_index(library, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("models")
    settings = write_model_dir(model_dir, read_profile_settings("full"), size="tiny")
    (model_dir / "full.json").write_text(json.dumps(settings))  # the tiny architecture, in the model folder
    config = Config(data_dir=tmp_path_factory.mktemp("full-data"), model_dir=model_dir, profile="auto")
    ws = open_for_indexing(config)
    report = index_library(ws, [library.root], progress=False)
    yield config, ws, report
    ws.close()


def test_auto_picks_full_when_its_weights_are_present(full_index, library):
    config, ws, report = full_index
    assert ws.profile.name == "full"
    assert report.added == len(library.songs)
    assert ws.store.stored_vector_fields()["audio"] == ws.profile.audio.dim
    assert "tags" not in ws.store.stored_vector_fields()


def test_full_profile_answers_every_query_kind_with_explanations(full_index, library):
    import soundfile as sf

    from scan import decode_audio

    _, ws, _ = full_index
    engine = SearchEngine(ws)
    text_hits = engine.search(Query(text="loud distorted guitars", k=5))
    assert len(text_hits) == 5
    assert {r.route for h in text_hits for r in h.routes} >= {"sound", "cover_text"}
    assert text_hits and all(h.segment for h in text_hits), "text queries match audio windows in the full profile"
    subject_hits = engine.search(Query(text="a song about kings fallen into ashes", k=5))  # names no sound
    assert subject_hits and all(h.song["has_lyrics"] or "cover_text" in {r.route for r in h.routes} for h in subject_hits)
    assert not {r.route for h in subject_hits for r in h.routes} & {"sound", "audio_windows"}
    song = max(library.songs, key=lambda s: s.duration)
    clip = decode_audio(song.path, 48000)[48000 * 2: 48000 * 8]
    buf = io.BytesIO()
    sf.write(buf, clip, 48000, format="WAV")
    clip_hits = engine.search(Query(audio=buf.getvalue(), k=3))
    assert clip_hits[0].id == song_id(song.path)
    covered = next(s for s in library.songs if s.cover)
    image_hits = engine.search(Query(image=covered.cover, k=3))
    assert image_hits[0].song["album"] == covered.album


def test_searching_with_another_profile_is_a_clear_error(full_index):
    config, ws, _ = full_index
    from dataclasses import replace

    ws.store.close()
    try:
        with pytest.raises(ProfileMismatchError, match="built with the full profile"):
            open_for_search(replace(config, profile="offline"))
    finally:
        ws.store.__init__(config.uri)  # reopen for the fixture's teardown
        ws.store.open_existing()
