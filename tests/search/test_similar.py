"""Songs like songs, from stored vectors: similar songs, their options and explanations, mixes and paths,
over the real offline-profile index of the generated test library (and a small index with a re-encode)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from crossgenre.errors import InvalidQueryError
from crossgenre.indexer import song_id
from search.similar import SongOptions, SongSearch, same_recording


@pytest.fixture(scope="module")
def songs(indexed):
    _, ws, _ = indexed
    return SongSearch(ws.store)


@pytest.fixture(scope="module")
def rows(indexed):
    _, ws, _ = indexed
    return {r["id"]: r for r in ws.store.iter_songs(["id", "path", "title", "artist", "album_artist", "album",
                                                      "genre", "year", "duration"])}


def titles(hits):
    return [h.song["title"] for h in hits]


def test_similar_ranks_the_album_mate_high_and_never_the_seed(songs, library, rows):
    """Each song's album-mate (same artist, same style) is among its 3 most similar songs for most songs."""
    found = 0
    paired = [s for s in library.songs if s.album and sum(o.album == s.album for o in library.songs) == 2]
    for seed in paired:
        hits = songs.similar(song_id(seed.path), SongOptions(k=3))
        assert song_id(seed.path) not in [h.id for h in hits]
        mate = next(o for o in library.songs if o.album == seed.album and o is not seed)
        found += song_id(mate.path) in [h.id for h in hits]
    assert found >= 0.75 * len(paired), (found, len(paired))


def test_each_hit_says_which_routes_and_which_segments_matched(songs, library, rows):
    seed = library.song("Willow Road")
    hits = songs.similar(song_id(seed.path), SongOptions(k=5))
    assert len(hits) == 5
    for h in hits:
        # parts add up to the score (negative: a route saw the song below average); shares lie in [0, 1], sum to 1
        assert h.routes and sum(m.part for m in h.routes) == pytest.approx(h.score)
        assert h.routes and all(0.0 <= m.share <= 1.0 for m in h.routes) and sum(m.share for m in h.routes) == pytest.approx(1.0)
        assert {m.route for m in h.routes} <= {"sound", "joint", "lyrics", "cover"}
        seg = h.segment
        assert seg["seed"]["id"] == song_id(seed.path)
        assert 0 <= seg["start"] < seg["end"] <= rows[h.id]["duration"] + 0.5
        assert 0 <= seg["seed"]["start"] < seg["seed"]["end"] <= seed.duration + 0.5
    with_lyrics = [h for h in hits if h.song["has_lyrics"]]
    # Willow Road has lyrics: songs with lyrics are compared by them too, the others are not
    assert with_lyrics and all("lyrics" in {m.route for m in h.routes} for h in with_lyrics[:1])
    without_lyrics = [h for h in hits if not h.song["has_lyrics"]]
    assert without_lyrics and all("lyrics" not in {m.route for m in h.routes} for h in without_lyrics)


def test_lyrics_and_cover_only_score_the_songs_the_sound_routes_found(songs, library, indexed):
    """Lead routes (sound, joint) search the library; lyrics and cover score exactly their candidates."""
    from search.similar import _route_vectors

    _, ws, _ = indexed
    seed = songs._seeds([song_id(library.song("Willow Road").path)])
    routes = _route_vectors(seed, [])
    assert {"sound", "joint", "lyrics"} <= set(routes)
    found = songs._search(routes, "", 3)
    candidates = {h["id"] for name in ("sound", "joint") for h in found[name]}
    stored = ws.store.get_songs(sorted(candidates), ["id", "lyrics", "has_lyrics"])
    assert {h["id"] for h in found["lyrics"]} == {sid for sid in candidates if stored[sid]["has_lyrics"]}
    for h in found["lyrics"]:
        assert h["distance"] == pytest.approx(float(np.dot(stored[h["id"]]["lyrics"], routes["lyrics"][1])), abs=1e-4)


def test_diversity_options_hold_in_every_list(songs, library, rows):
    for seed in library.songs:
        sid = song_id(seed.path)
        hits = songs.similar(sid, SongOptions(k=8, max_per_artist=1))
        artists = [(rows[h.id]["artist"] or rows[h.id]["album_artist"] or "").casefold() for h in hits]
        named = [a for a in artists if a]
        assert len(named) == len(set(named)), (seed.title, artists)
        hits = songs.similar(sid, SongOptions(k=8, max_per_album=1, exclude_seed_album=True))
        albums = [rows[h.id]["album"] for h in hits if rows[h.id]["album"]]
        assert len(albums) == len(set(albums)), (seed.title, albums)
        if rows[sid]["album"]:
            assert rows[sid]["album"] not in albums


def test_filters_and_cross_genre(songs, library, rows, tmp_path):
    seed = library.song("Pulse Engine")
    sid = song_id(seed.path)
    assert {rows[h.id]["genre"] for h in songs.similar(sid, SongOptions(k=20, genre="rock"))} == {"Rock"}
    hits = songs.similar(sid, SongOptions(k=20, year_min=2012, year_max=2017))
    assert hits and all(2012 <= rows[h.id]["year"] <= 2017 for h in hits)
    hits = songs.similar(sid, SongOptions(k=20, duration_min=11, duration_max=14))
    assert hits and all(11 <= rows[h.id]["duration"] <= 14 for h in hits)
    folder = library.song("Willow Road").path.parent
    hits = songs.similar(sid, SongOptions(k=20, folder=str(folder)))
    assert sorted(titles(hits)) == ["Lantern Song", "Willow Road"]
    hits = songs.similar(sid, SongOptions(k=20, cross_genre=True))
    assert hits and rows[sid]["genre"] not in {rows[h.id]["genre"] for h in hits}


def test_a_song_is_named_by_id_path_or_artist_and_title(songs, library):
    seed = library.song("Lantern Song")
    sid = song_id(seed.path)
    assert songs.resolve(sid) == sid
    assert songs.resolve(str(seed.path)) == sid
    assert songs.resolve("Mara Åkesson - Lantern Song") == sid
    assert songs.resolve("mara åkesson - lantern song") == sid
    for bad in ("", "Nobody - Nothing", "0123456789abcdef", "/no/such/file.mp3"):
        with pytest.raises(InvalidQueryError):
            songs.resolve(bad)
    with pytest.raises(InvalidQueryError):
        songs.similar(sid, SongOptions(k=0))
    with pytest.raises(InvalidQueryError):
        songs.similar(sid, SongOptions(max_per_artist=0))


def test_a_mix_is_like_its_seeds_and_ordered_for_listening(songs, library, rows, indexed):
    _, ws, _ = indexed
    seeds = [song_id(library.song(t).path) for t in ("Willow Road", "Harbor Fog")]
    hits = songs.mix(seeds, options=SongOptions(k=8))
    ids = [h.id for h in hits]
    assert len(ids) == 8 and not set(ids) & set(seeds) and len(set(ids)) == 8
    vec = {k: np.asarray(v["audio"]) for k, v in ws.store.get_songs(ids + seeds, ["id", "audio"]).items()}
    # the first song is the one closest to the first seed; each next the closest to the one before it
    assert ids[0] == max(ids, key=lambda i: vec[i] @ vec[seeds[0]])
    for n in range(1, len(ids)):
        assert ids[n] == max(ids[n:], key=lambda i: vec[i] @ vec[ids[n - 1]])
        assert hits[n].seed["like_previous"] == pytest.approx(float(vec[ids[n]] @ vec[ids[n - 1]]), abs=1e-3)
    assert hits and all(h.seed["id"] in seeds for h in hits)


def test_negative_seeds_push_a_mix_away_from_them(songs, library, rows):
    seeds = [song_id(library.song("Willow Road").path)]
    negatives = [song_id(library.song(t).path) for t in ("Lantern Song",)]
    plain = songs.mix(seeds, options=SongOptions(k=4))
    pushed = songs.mix(seeds, negatives, SongOptions(k=4))
    folk = lambda hits: sum(rows[h.id]["genre"] == "folk" for h in hits)  # noqa: E731
    assert negatives[0] not in [h.id for h in pushed]
    neg = np.asarray(songs._seeds(negatives)[0]["audio"])
    near = lambda hits: np.mean([songs._seeds([h.id])[0]["audio"] @ neg for h in hits])  # noqa: E731
    assert near(pushed) < near(plain), (titles(plain), titles(pushed), folk(plain), folk(pushed))
    with pytest.raises(InvalidQueryError):
        songs.mix(seeds, seeds)
    with pytest.raises(InvalidQueryError):
        songs.mix([])


def test_a_path_moves_from_one_song_to_the_other(songs, library):
    a, b = song_id(library.song("Harbor Fog").path), song_id(library.song("Cinder Throne").path)
    hits = songs.path(a, b, steps=5)
    ids = [h.id for h in hits]
    assert ids[0] == a and ids[-1] == b and len(ids) == len(set(ids)) == 7
    steps = hits[1:-1]
    like_to = [h.seed["like_to"] for h in steps]
    like_from = [h.seed["like_from"] for h in steps]
    # on the whole each step is nearer the end and further from the start than the one before
    assert np.corrcoef(range(len(steps)), like_to)[0, 1] > 0.5, like_to
    assert np.corrcoef(range(len(steps)), like_from)[0, 1] < -0.5, like_from
    assert steps and all(h.segment and h.routes for h in steps)
    with pytest.raises(InvalidQueryError):
        songs.path(a, a)
    with pytest.raises(InvalidQueryError):
        songs.path(a, b, steps=0)


# -- the same recording in another file -------------------------------------------------------
@pytest.fixture(scope="module")
def with_copy(library, tmp_path_factory):
    """A small index: four songs and an MP3 re-encode of one of them."""
    from crossgenre.config import Config
    from crossgenre.indexer import Indexer
    from crossgenre.workspace import open_for_indexing
    from scan import decode_audio
    from tests.fixtures.media import write_audio

    root = tmp_path_factory.mktemp("copies")
    chosen = [library.song(t) for t in ("Willow Road", "Lantern Song", "Harbor Fog", "Broken Amplifier")]
    for s in chosen:
        shutil.copy(s.path, root / s.path.name)
    wave = decode_audio(chosen[0].path, 48000)
    write_audio(root / "copy of willow road.mp3", np.stack([wave, wave]), 48000, "mp3")
    ws = open_for_indexing(Config(data_dir=tmp_path_factory.mktemp("copydata"), profile="offline"), "offline")
    Indexer(ws, progress=False).run([root])
    yield ws, song_id(root / chosen[0].path.name), song_id(root / "copy of willow road.mp3")
    ws.close()


def test_the_same_recording_in_another_file_is_never_similar(with_copy):
    ws, original, copy = with_copy
    songs = SongSearch(ws.store)
    for seed, twin in ((original, copy), (copy, original)):
        hits = songs.similar(seed, SongOptions(k=10))
        assert twin not in [h.id for h in hits]
        assert len(hits) == 3  # every other song is listed
    mix = songs.mix([original], options=SongOptions(k=10))
    assert copy not in [h.id for h in mix]
    as_array = ws.store.song_print_keys([original, copy, *[h.id for h in hits]])
    assert same_recording(as_array[original], as_array[copy])
    assert not any(same_recording(as_array[original], as_array[h.id]) for h in hits if h.id != copy)


def test_like_this_but_a_text_compares_songs_with_the_seed_moved_toward_the_text(songs, library, indexed):
    """The definition (search.similar._modified): the seed's description-space vector plus the text's, both unit
    length, stands for the seed's sound. (Its effect on real music: docs/similar.md, bench/modifier.py.)"""
    from search.similar import text_modifier

    _, ws, _ = indexed
    seed = song_id(library.song("Harbor Fog").path)
    field, text = text_modifier(ws, "heavy distorted electric guitars")
    stored = {k: np.asarray(v[field], np.float32) for k, v in ws.store.get_songs(songs_ids(ws), ["id", field]).items()}
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    moved = unit(unit(stored[seed]) + unit(text))
    modified = songs.similar(seed, SongOptions(k=5), modifier=(field, text))
    assert seed not in [h.id for h in modified]
    for h in modified:
        routes = {m.route: m.score for m in h.routes}
        assert "sound" not in routes and "joint" not in routes  # the moved vector stands for the seed's sound
        assert routes["modifier"] == pytest.approx(float(unit(stored[h.id]) @ moved), abs=1e-4)
    with pytest.raises(InvalidQueryError):
        text_modifier(ws, "  ")


def songs_ids(ws):
    return [r["id"] for r in ws.store.iter_songs(["id"])]


def test_eval_runs_song_seeded_queries(indexed, library):
    from search import SearchEngine
    from search.evaluate import evaluate

    _, ws, _ = indexed
    rel = lambda title: str(library.song(title).path.relative_to(library.root))  # noqa: E731
    items = [{"id": "like-willow", "group": "song-album", "song": rel("Willow Road"), "relevant": [rel("Lantern Song")]},
             {"id": "like-pulse", "group": "song-album", "song": rel("Pulse Engine"), "options": {"genre": "rock"},
              "relevant": [rel("Night Shift Grid")]}]
    report = evaluate(SearchEngine(ws), items, library.root, song_id)
    first, filtered = report.queries
    assert first["R@10"] == 1.0 and first["P@10"] == pytest.approx(0.1)
    assert filtered["R@10"] == 0.0  # its options keep the techno album-mate out
