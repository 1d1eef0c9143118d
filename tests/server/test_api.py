"""The JSON API over a real index of the test library: ranking, explanations, songs, ranges, errors, tokens."""

from __future__ import annotations

import io
import json

import pytest

from .conftest import TOKEN, clip_wav, cover_photo


def search(client, **body):
    return client.post("/api/search", json=body)


def upload(client, field: str, data: bytes, name: str = "upload", **params):
    form = {field: (io.BytesIO(data), name), **{k: str(v) for k, v in params.items()}}
    return client.post("/api/search", data=form, content_type="multipart/form-data")


def assert_explained(hit: dict) -> None:
    ex = hit["explanation"]
    assert set(ex) == {"routes", "segment", "lyric", "tags", "feel"}
    assert " bpm · " in ex["feel"], "every result says its tempo and key"
    assert ex["routes"], "every result says which routes found it"
    assert abs(sum(r["share"] for r in ex["routes"]) - 1.0) < 1e-3
    for key in ("id", "rank", "score", "title", "artist", "album", "genre", "genre_source", "year", "audio_url"):
        assert key in hit


# -- search ------------------------------------------------------------------------------------
def test_text_search_returns_ranked_explained_songs(client, library):
    r = search(client, text="driving techno with a four-on-the-floor kick drum", k=5)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["query"]["kind"] == "text" and body["query"]["k"] == 5
    assert isinstance(body["took_ms"], float)
    hits = body["results"]
    assert 1 <= len(hits) <= 5
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for h in hits:
        assert_explained(h)
        assert "path" not in h, "a server path never reaches the client"


def test_lyrics_text_finds_the_song_and_quotes_the_lines(client, song_ids):
    r = search(client, text="down the willow road where the river bends, my father's old guitar", k=5)
    hits = r.json["results"]
    assert hits[0]["id"] == song_ids["Willow Road"], [h["title"] for h in hits]
    assert "willow road" in hits[0]["explanation"]["lyric"]["text"].lower()


def test_a_sound_with_a_subject_finds_the_song_and_says_how_it_read_the_text(client, song_ids):
    r = search(client, text="fast heavy metal, about kings who fell into ashes", k=5)
    assert (r.json["query"]["sound"], r.json["query"]["subject"]) == ("fast heavy metal", "kings who fell into ashes")
    top = r.json["results"][0]
    assert top["id"] == song_ids["Cinder Throne"], [h["title"] for h in r.json["results"]]
    assert "ashes" in top["explanation"]["lyric"]["text"].lower()  # the line found by the subject
    assert (search(client, text="a song about kings", k=1).json["query"]["sound"]) == ""  # lyrics routes only
    assert "subject" not in search(client, text="techno at about 128 bpm", k=1).json["query"]


@pytest.mark.parametrize("title, start", [("Willow Road", 6.0), ("Cinder Throne", 3.0), ("Pulse Engine", 2.0)])
def test_clip_cut_from_a_song_finds_that_song_first(client, library, song_ids, title, start):
    song = library.song(title)
    r = upload(client, "audio", clip_wav(song.path, start, 5.0), "clip.wav", k=5)
    assert r.status_code == 200, r.json
    hits = r.json["results"]
    assert r.json["query"]["kind"] == "audio"
    assert hits[0]["id"] == song_ids[title], [h["title"] for h in hits]
    seg = hits[0]["explanation"]["segment"]
    assert seg is not None and 0 <= seg["start"] < seg["end"] <= song.duration + 0.5
    for h in hits:
        assert_explained(h)


@pytest.mark.parametrize("title", ["Pulse Engine", "Late Train Home", "Harbor Fog"])
def test_photo_of_a_cover_finds_that_album_first(client, library, title):
    song = library.song(title)
    r = upload(client, "image", cover_photo(song.cover), "photo.jpg", k=5)
    assert r.status_code == 200, r.json
    hits = r.json["results"]
    assert hits[0]["album"] == song.album, [(h["album"], h["score"]) for h in hits]
    assert any(route["route"] == "cover" for route in hits[0]["explanation"]["routes"])


def test_filters_restrict_results(client):
    r = search(client, text="guitar", k=20, artist="Unit 128")
    assert r.status_code == 200
    assert r.json["results"] and all(h["artist"] == "Unit 128" for h in r.json["results"])
    r = search(client, text="guitar", k=20, year_min=2015, year_max=2017)
    assert r.json["results"] and all(2015 <= h["year"] <= 2017 for h in r.json["results"])
    r = search(client, text="guitar", k=20, genre="Metal")
    assert r.json["results"] and all(h["genre"] == "Metal" for h in r.json["results"])


def test_non_ascii_filter_values_match(client):
    r = search(client, text="guitar", k=5, artist="Mara Åkesson")
    assert r.status_code == 200
    assert r.json["results"] and all(h["artist"] == "Mara Åkesson" for h in r.json["results"])


def test_filter_matching_nothing_gives_an_empty_list(client):
    r = search(client, text="guitar", artist="Nobody At All")
    assert r.status_code == 200 and r.json["results"] == []


def test_cross_genre_and_weights(client):
    r = search(client, text="loud rock guitar", k=6, cross_genre=True)
    assert r.status_code == 200
    assert r.json["results"] and all(h["genre"] != "Rock" for h in r.json["results"])
    r = search(client, text="loud rock guitar", k=3, weights={"lyrics": 1, "sound": 0}, ranker="weighted")
    assert r.status_code == 200 and r.json["query"]["weights"] == {"lyrics": 1, "sound": 0}


def test_tempo_key_and_energy_filters(client):
    r = search(client, text="around 120 bpm", bpm_min=110, k=20)
    assert r.status_code == 200, r.json
    assert r.json["query"]["music"].startswith("tempo ~120 bpm") and r.json["query"]["bpm_min"] == 110
    hits = r.json["results"]
    assert hits and all(h["bpm"] >= 110 for h in hits)
    key = hits[0]["camelot"]
    same = search(client, text="music", key=key, k=20).json["results"]
    assert same and all(h["camelot"] == key for h in same)
    near = search(client, text="music", key=key, compatible_keys=True, k=20).json["results"]
    assert {h["id"] for h in near} >= {h["id"] for h in same}
    form = client.post("/api/search", data={"text": "music", "bpm_max": "100", "half_double": "true", "energy_min": "0.1"},
                       content_type="multipart/form-data")
    assert form.status_code == 200, form.json
    assert form.json["results"] and all(0 < h["bpm"] <= 200 for h in form.json["results"])  # at most 100 counted in half time
    assert form.json["results"] and all(h["energy"] >= 0.1 for h in form.json["results"])
    for body in ({"bpm_min": "fast"}, {"bpm_min": 500}, {"key": "H dorian"}, {"half_double": "yes"},
                 {"energy_max": 2}, {"bpm_min": 130, "bpm_max": 120}):
        bad = search(client, text="music", **body)
        assert bad.status_code == 400 and bad.json["detail"], body
    assert client.post("/api/search", data={"text": "x", "bpm_min": "quick"}).status_code == 400


def test_form_text_search_works_like_json(client):
    r = client.post("/api/search", data={"text": "calm ambient pads", "k": "3", "cross_genre": "false"})
    assert r.status_code == 200 and len(r.json["results"]) == 3


# -- songs -------------------------------------------------------------------------------------
def test_song_metadata(client, library, song_ids):
    song = library.song("Pulse Engine")
    r = client.get(f"/api/songs/{song_ids['Pulse Engine']}")
    assert r.status_code == 200
    assert (r.json["title"], r.json["artist"], r.json["album"], r.json["year"]) == (song.title, song.artist, song.album, 2021)
    assert r.json["has_cover"] and r.json["cover_url"].endswith("/cover")
    assert "path" not in r.json


@pytest.mark.parametrize("title, mime", [("Pulse Engine", "audio/mpeg"), ("Harbor Fog", "audio/flac"),
                                         ("Night Shift Grid", "audio/mp4"), ("Late Train Home", "audio/wav"),
                                         ("Broken Amplifier", "audio/ogg")])
def test_audio_streams_the_file_with_ranges(client, library, song_ids, title, mime):
    data = library.song(title).path.read_bytes()
    url = f"/api/songs/{song_ids[title]}/audio"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.mimetype == mime
    assert whole.data == data and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.data == data[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.data == data[-500:]
    beyond = client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416
    again = client.get(url, headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304


def test_cover_bytes_and_sniffed_type(client, library, song_ids):
    png_song = library.song("Broken Amplifier")  # an embedded PNG
    r = client.get(f"/api/songs/{song_ids['Broken Amplifier']}/cover")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png_song.cover
    folder = library.song("Willow Road")  # the folder's Cover.jpg
    r = client.get(f"/api/songs/{song_ids['Willow Road']}/cover")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data == folder.cover
    r = client.get(f"/api/songs/{song_ids['Highway Thunder']}/cover")  # no art of its own: its album's PNG
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png_song.cover


def test_song_without_cover_is_a_json_404(client, song_ids):
    r = client.get(f"/api/songs/{song_ids['track07']}/cover")
    assert r.status_code == 404 and r.json["error"] == "no_cover"


@pytest.mark.parametrize("path", ["/api/songs/0000000000000000", "/api/songs/0000000000000000/audio",
                                  "/api/songs/0000000000000000/cover", "/api/songs/not%20an%20id/audio",
                                  "/api/songs/" + "a" * 300, "/api/nothing-here"])
def test_unknown_ids_and_routes_are_json_404s(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert set(r.json) == {"error", "detail"}


# -- index facts -------------------------------------------------------------------------------
def test_stats_and_health(client, library):
    s = client.get("/api/stats").json
    assert s["songs"] == len(library.songs) and s["versions"]["profile"] == "offline"
    assert "milvus" not in s
    h = client.get("/api/health").json
    assert h == {"status": "ok", "songs": len(library.songs), "profile": "offline", "indexing": h["indexing"]}


def test_page_and_assets_are_served_with_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and b'id="search-form"' in r.data
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Access-Control-Allow-Origin" not in r.headers
    for asset in ("/static/app.js", "/static/style.css", "/static/placeholder.svg"):
        assert client.get(asset).status_code == 200
    r = client.post("/api/search", json={"text": "x"}, headers={"Origin": "http://evil.example"})
    assert not any(h.startswith("Access-Control") for h in r.headers.keys())


def test_openapi_document_is_valid_and_covers_every_route(client, app):
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").json
    validate(spec)
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule.replace("<song_id>", "{id}")
            assert path in documented, f"{path} is not in the OpenAPI document"


def test_one_declaration_validates_requests_and_writes_the_openapi_document(client):
    """search.query.PARAMS: each declared limit is the one the document shows and the one requests meet."""
    from search.query import PARAMS, ROUTE_NAMES

    schema = client.get("/api/openapi.json").json["components"]["schemas"]["SearchRequest"]["properties"]
    assert set(schema) == {p.name for p in PARAMS}
    for p in PARAMS:
        if p.kind == "int":
            assert (schema[p.name]["minimum"], schema[p.name]["maximum"]) == (p.low, p.high)
            assert search(client, text="calm", **{**{"k": 1}, p.name: p.high}).status_code == 200
            for bad in (p.low - 1, p.high + 1):
                r = search(client, text="calm", **{p.name: bad})
                assert r.status_code == 400 and r.json["error"] == "invalid_query" and p.name in r.json["detail"]
        elif p.kind == "text":
            assert schema[p.name]["maxLength"] == p.max_len
            r = search(client, **{"text": "calm", p.name: "x" * (p.max_len + 1)})
            assert r.status_code == 400 and r.json["error"] == "invalid_query", p.name
        elif p.kind in ("choice", "weights"):
            enum = schema[p.name]["enum"] if p.kind == "choice" else schema[p.name]["propertyNames"]["enum"]
            assert enum == list(p.choices)
    assert schema["weights"]["propertyNames"]["enum"] == list(ROUTE_NAMES)
    assert schema["k"]["default"] == 10


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, code", [
    ({"text": ""}, "invalid_query"),
    ({"text": "x" * 1001}, "invalid_query"),
    ({"text": "ok", "k": 0}, "invalid_query"),
    ({"text": "ok", "k": 201}, "invalid_query"),
    ({"text": "ok", "k": "10"}, "bad_parameter"),
    ({"text": "ok", "k": True}, "bad_parameter"),
    ({"text": 5}, "bad_parameter"),
    ({"text": "ok", "year_min": "1990"}, "bad_parameter"),
    ({"text": "ok", "year_min": 12000}, "invalid_query"),
    ({"text": "ok", "cross_genre": "yes"}, "bad_parameter"),
    ({"text": "ok", "weights": [1, 2]}, "bad_parameter"),
    ({"text": "ok", "weights": {"vibes": 1}}, "invalid_query"),
    ({"text": "ok", "weights": {"sound": -1}}, "invalid_query"),
    ({"text": "ok", "ranker": "best"}, "invalid_query"),
    ({"text": "ok", "colour": "red"}, "bad_parameter"),
    ({"text": "ok", "artist": "\ud800"}, "bad_parameter"),
    ({}, "empty_query"),
])
def test_bad_json_parameters_are_400_with_a_reason(client, body, code):
    r = client.post("/api/search", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400, r.json
    assert r.json["error"] == code and r.json["detail"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b"\xff\xfe", b"[" * 100_000, b"null", b'"text"'])
def test_bad_json_bodies_are_400(client, raw):
    r = client.post("/api/search", data=raw, content_type="application/json")
    assert r.status_code == 400 and r.json["error"] == "bad_json"


def test_uploads_are_typed_by_their_bytes(client, library):
    wav = clip_wav(library.song("Harbor Fog").path, 1.0, 3.0)
    # a real clip named .txt with a text content type is still a clip
    r = client.post("/api/search", content_type="multipart/form-data",
                    data={"audio": (io.BytesIO(wav), "notes.txt", "text/plain")})
    assert r.status_code == 200
    # text named .mp3 with an audio content type is refused by its bytes
    r = client.post("/api/search", content_type="multipart/form-data",
                    data={"audio": (io.BytesIO(b"just some words\n" * 20), "song.mp3", "audio/mpeg")})
    assert r.status_code == 415 and r.json["error"] == "unsupported_audio"
    r = upload(client, "image", wav, "cover.jpg")
    assert r.status_code == 415 and r.json["error"] == "unsupported_image"


@pytest.mark.parametrize("field, data, status", [
    ("audio", b"", 400),
    ("audio", b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 500, 400),  # a tag and no audio
    ("audio", b"fLaC" + bytes(range(256)) * 4, 400),
    ("audio", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x01" * 60, 400),
    ("image", b"\xff\xd8\xff\xe0" + b"\x00" * 100, 400),  # a JPEG start and nothing else
    ("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, 400),
])
def test_undecodable_uploads_are_4xx(client, field, data, status):
    r = upload(client, field, data)
    assert r.status_code == status, r.json
    assert r.json["detail"]


def test_clip_too_short_and_too_long(client, library):
    song = library.song("Harbor Fog")
    r = upload(client, "audio", clip_wav(song.path, 0.0, 0.2), "short.wav")
    assert r.status_code == 400 and "0.5 s" in r.json["detail"]
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000 * 125, np.float32), 8000, format="WAV", subtype="PCM_U8")  # 125 s of silence
    r = upload(client, "audio", buf.getvalue(), "long.wav")
    assert r.status_code == 400 and "120 s" in r.json["detail"]


def test_image_bomb_is_refused_from_its_header(client):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, "PNG")  # 144 megapixels in ~20 kB
    r = upload(client, "image", buf.getvalue(), "bomb.png")
    assert r.status_code == 413 and r.json["error"] == "image_too_large"


def test_upload_size_cap_is_a_json_413(client):
    r = upload(client, "audio", b"ID3" + b"\x00" * (21 * 1024 * 1024), "big.mp3")
    assert r.status_code == 413 and r.json["error"] == "too_large"


def test_both_files_or_a_file_plus_text_are_refused(client, library):
    wav = clip_wav(library.song("Harbor Fog").path, 1.0, 2.0)
    r = client.post("/api/search", content_type="multipart/form-data",
                    data={"audio": (io.BytesIO(wav), "a.wav"), "image": (io.BytesIO(library.song("Harbor Fog").cover), "c.jpg")})
    assert r.status_code == 400
    r = upload(client, "audio", wav, "a.wav", text="and words")
    assert r.status_code == 400 and r.json["error"] == "invalid_query"


def test_wrong_method_is_a_json_405(client):
    r = client.get("/api/search")
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed" and "POST" in r.headers["Allow"]


# -- the index job and its token ---------------------------------------------------------------
def test_write_endpoints_are_off_without_a_token(open_app):
    r = open_app.test_client().post("/api/index", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403 and r.json["error"] == "writes_disabled"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, "Bearer", f"Bearer {TOKEN}x"])
def test_index_needs_the_right_token(client, header):
    r = client.post("/api/index", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_reindex_runs_in_the_background_once_at_a_time(app, client, library):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/api/index", headers=auth)
    assert r.status_code == 202 and r.json["state"] == "running"
    second = client.post("/api/index", headers=auth)
    job = app.extensions["crossgenre"].index_job
    assert second.status_code == 409 or not job.running
    assert job.wait(timeout=300)
    status = client.get("/api/index/status").json
    assert status["state"] == "finished", status
    assert f"{len(library.songs)} unchanged" in status["summary"]
    assert status["failed_count"] == len(library.broken)
    assert status["failed"] and all(not f["path"].startswith("/") for f in status["failed"]), "no server paths in the status"
    # searching still works on the shared store afterwards
    assert search(client, text="calm ambient pads", k=3).status_code == 200


def test_reindex_of_new_files_runs_beside_searches(indexed, app, library, tmp_path):
    """New files are embedded in the background while searches (which share the models) keep answering."""
    import shutil
    from dataclasses import replace

    from crossgenre.indexer import song_id
    from crossgenre.serve import build_app

    config, ws, _ = indexed
    music = tmp_path / "new music"
    music.mkdir()
    copies = [shutil.copy(library.song(t).path, music) for t in ("Lantern Song", "Black Anvil")]
    ids = [song_id(p) for p in copies]
    other = build_app(replace(config, library=(str(music),)), ws)  # the same workspace: the same models and lock
    client = other.test_client()
    job = other.extensions["crossgenre"].index_job
    clip = clip_wav(library.song("Harbor Fog").path, 1.0, 3.0)
    try:
        assert client.post("/api/index", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
        answered = []
        while job.running:
            answered.append(search(client, text="calm ambient pads", k=3).status_code)
            answered.append(upload(client, "audio", clip, "clip.wav", k=3).status_code)
        assert job.wait(timeout=120)
        assert answered and set(answered) == {200}
        status = client.get("/api/index/status").json
        assert status["state"] == "finished" and "2 added" in status["summary"], status
        assert client.get(f"/api/songs/{ids[0]}").json["title"] == "Lantern Song"
    finally:
        ws.store.delete_songs(ids)


def test_stats_polled_during_a_reindex_count_the_library_at_most_every_few_seconds(indexed, monkeypatch):
    """A page polls /api/stats while a re-index runs; each count reads every song row, so polls within
    STATS_TTL_WHILE_INDEXING share one count, a later poll counts again, and the run's end counts at once."""
    import threading
    import time

    from search import SearchEngine
    from server import api
    from server.app import create_app

    config, ws, _ = indexed
    counts, release = [], threading.Event()

    def stats():
        counts.append(1)
        return {"songs": len(counts)}

    def reindex(on_progress):
        release.wait(timeout=60)

        class Report:
            failed: list = []

            def summary(self):
                return "nothing changed"

        return Report()

    monkeypatch.setattr(api, "STATS_TTL_WHILE_INDEXING", 2.0)
    client = create_app(config, SearchEngine(ws), reindex=reindex, stats=stats).test_client()
    job = client.application.extensions["crossgenre"].index_job
    assert client.post("/api/index", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
    try:
        first = [client.get("/api/stats").json["songs"] for _ in range(5)]
        time.sleep(2.1)
        later = client.get("/api/stats").json["songs"]
    finally:
        release.set()
        assert job.wait(timeout=60)
    assert first == [1] * 5, "polls within a few seconds share one count"
    assert later == 2, "a poll after a few seconds counts again"
    assert client.get("/api/stats").json["songs"] == 3, "the end of the run counts again at once"
