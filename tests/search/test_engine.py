"""The search engine over a real index of the generated library (offline profile): routes, explanations,
filters, cross-genre mode, and the evaluation metrics."""

import io

import numpy as np
import pytest

from scan.errors import InvalidQueryError
from crossgenre.indexer import song_id
from scan import decode_audio
from scan.genres import normalize_genre
from search import Query, SearchEngine
from search import degrade
from search.evaluate import query_metrics


@pytest.fixture(scope="module")
def engine(indexed):
    _, ws, _ = indexed
    return SearchEngine(ws)


def wav(path, start, seconds, spec=None, rate=22050):
    import soundfile as sf

    w = decode_audio(path, rate)[int(start * rate): int((start + seconds) * rate)]
    if spec:
        w = degrade.apply(w, rate, spec, seed=1)
    buf = io.BytesIO()
    sf.write(buf, w, rate, format="WAV")
    return buf.getvalue()


def test_clip_finds_its_song_and_where_it_sits(engine, library):
    # a folk song: the generated techno, metal and hip hop are strict loops, where every loop is "the" place
    song = max((s for s in library.songs if s.genre in ("folk", "ambient", "rock")), key=lambda s: s.duration)
    hits = engine.search(Query(audio=wav(song.path, 4.0, 5.0), k=5))
    assert hits[0].id == song_id(song.path)
    assert hits[0].segment and abs(hits[0].segment["start"] - 4.0) <= 0.6
    assert {r.route for r in hits[0].routes} >= {"print", "audio_track"}


def test_a_segment_is_the_songs_window_closest_to_the_query(engine, library):
    """The matched segment of each hit is its own window nearest the query's audio vector, read by key."""
    songs = [song_id(s.path) for s in library.songs[:6]]
    windows = {}
    for w in engine.store.song_windows(songs):
        windows.setdefault(w["song_id"], []).append(w)
    target = songs[2]
    mid = sorted(windows[target], key=lambda w: w["start"])[len(windows[target]) // 2]
    segments = engine._closest_windows(np.asarray(mid["vector"], np.float32), songs)
    assert set(segments) == set(windows), "every song with windows gets its segment"
    assert segments[target]["start"] == round(mid["start"], 2) and segments[target]["score"] == pytest.approx(1.0, abs=1e-3)
    for sid, segment in segments.items():
        best = max(float(np.dot(w["vector"], mid["vector"])) for w in windows[sid])
        assert segment["score"] == pytest.approx(best, abs=1e-4)


def test_phone_recorded_clip_still_finds_its_song(engine, library):
    found = 0
    songs = [s for s in library.songs if s.duration >= 10]
    for song in songs:
        hits = engine.search(Query(audio=wav(song.path, 2.0, 6.0, {"phone": True, "noise_snr": 10, "bitrate": 64}), k=3))
        found += hits[0].id == song_id(song.path)
    assert found / len(songs) >= 0.9


def test_cover_photo_finds_its_album(engine, library):
    from encoders.augment import apply
    from encoders.images import load_image

    song = next(s for s in library.songs if s.cover)
    photo = apply(load_image(song.cover), {"crop": 0.85, "rotate": 5, "jpeg": 40}, seed=3)
    buf = io.BytesIO()
    photo.save(buf, "JPEG")
    hits = engine.search(Query(image=buf.getvalue(), k=3))
    same_album = {song_id(s.path) for s in library.songs if s.album == song.album and s.cover}
    assert hits[0].id in same_album


def test_every_result_explains_itself(engine, library):
    song = next(s for s in library.songs if s.lyrics)
    line = song.lyrics.strip().splitlines()[0]
    for query in (Query(text=line, k=5), Query(audio=wav(song.path, 1.0, 4.0), k=5)):
        hits = engine.search(query)
        assert hits
        for h in hits:
            assert h.routes and abs(sum(r.share for r in h.routes) - 1.0) < 1e-6
            assert h.routes and all(r.rank >= 1 for r in h.routes)
    lyric_hits = engine.search(Query(text=line, k=5))
    mine = next(h for h in lyric_hits if h.id == song_id(song.path))
    assert mine.lyric and line.split()[0] in mine.lyric["text"]


def test_filters_and_cross_genre(engine, library):
    hits = engine.search(Query(text="heavy distorted guitars", k=10, genre="Metal"))
    assert hits and all(h.song["genre"] == "Metal" for h in hits)
    cross = engine.search(Query(text="heavy metal distorted guitars", k=10, cross_genre=True))
    assert cross and all(h.song["genre"] != "Metal" for h in cross)
    years = engine.search(Query(text="music", k=20, year_min=2000, year_max=2010))
    assert years and all(2000 <= h.song["year"] <= 2010 for h in years)


def test_a_filtered_clip_returns_only_matching_songs_and_its_source_when_it_matches(engine, library):
    song = max((s for s in library.songs if s.genre in ("folk", "ambient", "rock")), key=lambda s: s.duration)
    clip = wav(song.path, 4.0, 6.0)
    genre = engine.store.get_songs([song_id(song.path)], ["genre"])[song_id(song.path)]["genre"]
    same = engine.search(Query(audio=clip, k=5, genre=genre))
    assert same[0].id == song_id(song.path) and all(h.song["genre"] == genre for h in same)
    other = next(normalize_genre(g) for g in sorted({s.genre for s in library.songs}) if normalize_genre(g) != genre)
    elsewhere = engine.search(Query(audio=clip, k=5, genre=other))
    assert song_id(song.path) not in [h.id for h in elsewhere]
    assert elsewhere and all(h.song["genre"] == other for h in elsewhere)
    assert elsewhere and all(r.route != "print" for h in elsewhere for r in h.routes)  # its prints vote for a song filtered out


@pytest.mark.parametrize("bad", [Query(text=""), Query(text="x", k=0), Query(text="x", k=1000),
                                 Query(text="x", audio=b"y"), Query(audio=b"not audio at all"),
                                 Query(image=b"\x89PNG\r\n\x1a\n garbage"), Query(text="x", weights={"nope": 1})])
def test_bad_queries_are_clear_errors(engine, bad):
    with pytest.raises(InvalidQueryError):
        engine.search(bad)


def test_metrics_by_hand():
    m = query_metrics(["a", "x", "b", "y"], {"a", "b"})
    assert m["R@1"] == 1.0 and m["MRR"] == 1.0
    assert m["mAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["nDCG@10"] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))
    none = query_metrics(["x", "y"], {"a"})
    assert none["R@10"] == 0.0 and none["MRR"] == 0.0


def test_degradations_do_what_they_say():
    rng = np.random.default_rng(0)
    rate = 16000
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    noisy = degrade.noise(tone, 10, rng)
    snr = 10 * np.log10(np.mean(tone**2) / np.mean((noisy - tone) ** 2))
    assert abs(snr - 10) < 0.5
    low = (0.5 * np.sin(2 * np.pi * 80 * t)).astype(np.float32)
    assert np.std(degrade.phone(low, rate)[rate:]) < 0.1 * np.std(low)
    assert np.std(degrade.phone(tone, rate)[rate:]) > 0.7 * np.std(tone)
    assert len(degrade.speed(tone, 1.25)) == int(len(tone) / 1.25)
    assert abs(len(degrade.reencode(tone, rate, 64)) - len(tone)) < 0.05 * len(tone)


def test_a_subject_alone_still_finds_songs_in_a_library_without_lyrics(library, tmp_path):
    from crossgenre.config import Config
    from crossgenre.indexer import Indexer
    from crossgenre.workspace import open_for_indexing

    instrumentals = library.root / "Lumen Drift"  # one album, no lyrics
    config = Config(data_dir=tmp_path, profile="offline", library=(str(instrumentals),), threads=2)
    ws = open_for_indexing(config, "offline")
    try:
        Indexer(ws, progress=False).run([instrumentals])
        hits = SearchEngine(ws).search(Query(text="songs about the open sea", k=5))
    finally:
        ws.close()
    assert len(hits) == 2  # read by the sound route, as the words have nothing to be matched against
    assert hits and all("sound" in {r.route for r in h.routes} for h in hits)
