"""Songs like songs over HTTP (similar, mix, path) and result lists as M3U8 playlists, on the shared test index."""

from __future__ import annotations

import io
from pathlib import Path

import mutagen
import numpy as np
import pytest

from .conftest import clip_wav, cover_photo


def playlist(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    return list(zip(lines[1::2], lines[2::2]))


def test_similar_songs_with_explanations(client, song_ids):
    seed = song_ids["Willow Road"]
    res = client.get(f"/api/songs/{seed}/similar?k=4&max_per_artist=1")
    assert res.status_code == 200, res.json
    results = res.json["results"]
    assert len(results) == 4 and seed not in [r["id"] for r in results]
    for r in results:
        assert r["explanation"]["routes"] and r["explanation"]["segment"]["seed"]["id"] == seed
        assert r["audio_url"] == f"/api/songs/{r['id']}/audio"
    assert len({r["artist"] for r in results}) == 4


@pytest.mark.parametrize("query,status", [
    ("k=abc", 400), ("k=0", 400), ("k=1000", 400), ("max_per_album=0", 400), ("duration_min=nan", 400),
    ("cross_genre=maybe", 400), ("colour=blue", 400), ("format=xml", 400), ("year_min=-3", 400),
])
def test_bad_similar_parameters_are_400s(client, song_ids, query, status):
    res = client.get(f"/api/songs/{song_ids['Willow Road']}/similar?{query}")
    assert res.status_code == status and res.json["error"] in ("bad_parameter", "invalid_query"), res.json


def test_unknown_songs_are_404s(client, song_ids):
    assert client.get("/api/songs/0123456789abcdef/similar").status_code == 404
    assert client.get("/api/songs/..%2Fetc/similar").status_code == 404
    assert client.post("/api/mix", json={"seeds": ["0123456789abcdef"]}).status_code == 404
    assert client.get(f"/api/path?from={song_ids['Willow Road']}&to=0123456789abcdef").status_code == 404


def test_playlists_open_in_a_player(client, library, song_ids):
    seed = song_ids["Pulse Engine"]
    res = client.get(f"/api/songs/{seed}/similar?k=5&format=m3u8&base={library.root}")
    assert res.status_code == 200 and res.mimetype == "audio/mpegurl"
    assert "attachment" in res.headers["Content-Disposition"]
    entries = playlist(res.get_data(as_text=True))
    assert len(entries) == 5
    by_path = {str(s.path.relative_to(library.root)): s for s in library.songs}
    for info, location in entries:
        song = by_path[location]
        artist, title = song.artist or song.album_artist, song.title or song.path.stem
        assert info == f"#EXTINF:{round(song.duration)}," + (f"{artist} - {title}" if artist else title)
        assert mutagen.File(library.root / location) is not None
    # without a base: each song's audio URL on this server, which plays
    res = client.get(f"/api/songs/{seed}/similar?k=2", headers={"Accept": "audio/mpegurl"})
    for _, url in playlist(res.get_data(as_text=True)):
        assert url.startswith("http://localhost/api/songs/")
        audio = client.get(url.removeprefix("http://localhost"))
        assert audio.status_code == 200 and audio.mimetype.startswith("audio/")
    # a search's results too
    res = client.post("/api/search?format=m3u8", json={"text": "heavy distorted guitars", "k": 3})
    assert res.mimetype == "audio/mpegurl" and len(playlist(res.get_data(as_text=True))) == 3
    assert client.get(f"/api/songs/{seed}/similar?k=2", headers={"Accept": "*/*"}).is_json


def test_mix_and_path(client, song_ids):
    seeds = [song_ids["Willow Road"], song_ids["Harbor Fog"]]
    res = client.post("/api/mix", json={"seeds": seeds, "negative": [song_ids["Cinder Throne"]], "k": 5,
                                        "max_per_album": 1})
    assert res.status_code == 200, res.json
    ids = [r["id"] for r in res.json["results"]]
    assert len(ids) == 5 and not set(ids) & {*seeds, song_ids["Cinder Throne"]}
    assert res.json["results"] and all(r["explanation"]["seed"]["id"] in seeds for r in res.json["results"])
    res = client.get(f"/api/path?from={seeds[1]}&to={song_ids['Cinder Throne']}&steps=3")
    assert res.status_code == 200, res.json
    path = res.json["results"]
    assert [r["id"] for r in path][::4] == [seeds[1], song_ids["Cinder Throne"]] and len(path) == 5
    assert path[1:-1] and all(0 < r["explanation"]["seed"]["position"] < 1 for r in path[1:-1])
    m3u = client.get(f"/api/path?from={seeds[1]}&to={song_ids['Cinder Throne']}&steps=3&format=m3u8")
    assert len(playlist(m3u.get_data(as_text=True))) == 5


@pytest.mark.parametrize("body", [b"", b"[]", b"{", b'{"seeds": []}', b'{"seeds": "x"}', b'{"seeds": [1]}',
                                  b'{"seeds": ["a"], "k": "3"}', b'{"seeds": ["a"], "k": 2.5}', b'{"seeds": ["a"], "zz": 1}'])
def test_bad_mix_bodies_are_4xx(client, song_ids, body):
    body = body.replace(b'"a"', f'"{song_ids["Willow Road"]}"'.encode())
    res = client.post("/api/mix", data=body, content_type="application/json")
    assert res.status_code == 400, (body, res.status_code, res.json)


def test_bad_path_requests_are_400s(client, song_ids):
    a = song_ids["Willow Road"]
    for query in ("", f"from={a}", f"from={a}&to={a}", f"from={a}&to={song_ids['Harbor Fog']}&steps=0",
                  f"from={a}&to={song_ids['Harbor Fog']}&steps=x"):
        res = client.get(f"/api/path?{query}")
        assert res.status_code == 400, (query, res.json)


def test_like_this_but_a_text(client, song_ids):
    seed = song_ids["Harbor Fog"]
    res = client.get(f"/api/songs/{seed}/similar?k=3&but=heavy%20distorted%20guitars")
    assert res.status_code == 200 and res.json["query"]["but"] == "heavy distorted guitars"
    assert res.json["results"]
    assert res.json["results"] and all("modifier" in [r["route"] for r in hit["explanation"]["routes"]] for hit in res.json["results"])
    assert client.get(f"/api/songs/{seed}/similar?but=%20").status_code == 400


def like_upload(client, field: str, data: bytes, **params):
    form = {field: (io.BytesIO(data), "upload"), **{k: str(v) for k, v in params.items()}}
    return client.post("/api/similar", data=form, content_type="multipart/form-data")


def test_like_an_uploaded_clip_but_a_text(client, library, song_ids, indexed):
    """A clip cut from a song is a seed: its own song comes first (nothing excludes it); "but <text>" moves the
    clip's vector in the description space toward the text's, as for a library song (search.similar._modified)."""
    from search import Query
    from search.planning import upload_seed
    from search.similar import text_modifier

    _, ws, _ = indexed
    song = library.song("Harbor Fog")
    clip = clip_wav(song.path, 4.0, 6.0)
    res = like_upload(client, "audio", clip, k=3)
    assert res.status_code == 200, res.json
    hits = res.json["results"]
    assert hits and hits[0]["id"] == song_ids["Harbor Fog"], [h["title"] for h in hits]
    seg = hits[0]["explanation"]["segment"]
    assert seg["seed"]["id"] is None and 0 <= seg["seed"]["start"] < seg["seed"]["end"] <= 6.5
    text = "heavy distorted electric guitars"
    res = like_upload(client, "audio", clip, k=5, but=text)
    assert res.status_code == 200 and res.json["query"] == {"seed": "audio", "but": text}
    field, vector = text_modifier(ws, text)
    seed = upload_seed(Query(audio=clip), ws.profile, ws.fusion)
    moved = unit(unit(seed[field]) + unit(vector))
    stored = ws.store.get_songs([h["id"] for h in res.json["results"]], ["id", field])
    assert res.json["results"]
    for h in res.json["results"]:
        routes = {r["route"]: r["score"] for r in h["explanation"]["routes"]}
        assert "sound" not in routes and "joint" not in routes  # the moved vector stands for the clip's sound
        assert routes["modifier"] == pytest.approx(float(unit(stored[h["id"]][field]) @ moved), abs=1e-3)


def test_like_an_uploaded_cover_photo_but_a_text(client, library, indexed):
    """A photo's cover leads; offline, where a photo has no vector in the description space, the text is a
    route of its own."""
    from search.similar import text_modifier

    _, ws, _ = indexed
    song = library.song("Pulse Engine")
    photo = cover_photo(song.cover)
    res = like_upload(client, "image", photo, k=3)
    assert res.status_code == 200, res.json
    hits = res.json["results"]
    assert hits and hits[0]["album"] == song.album, [(h["album"], h["score"]) for h in hits]
    assert "cover" in [r["route"] for r in hits[0]["explanation"]["routes"]]
    text = "calm acoustic guitar"
    res = like_upload(client, "image", photo, k=5, but=text)
    assert res.status_code == 200 and res.json["results"]
    field, vector = text_modifier(ws, text)
    stored = ws.store.get_songs([h["id"] for h in res.json["results"]], ["id", field])
    for h in res.json["results"]:
        routes = {r["route"]: r["score"] for r in h["explanation"]["routes"]}
        if "modifier" in routes:
            assert routes["modifier"] == pytest.approx(float(unit(stored[h["id"]][field]) @ unit(vector)), abs=1e-3)
    assert any("modifier" in [r["route"] for r in h["explanation"]["routes"]] for h in res.json["results"])


def test_bad_uploads_for_similar_are_400s(client, library):
    clip = clip_wav(library.song("Harbor Fog").path, 0.0, 3.0)
    assert client.post("/api/similar", data={"k": "3"}, content_type="multipart/form-data").status_code == 400
    assert client.post("/api/similar", json={"k": 3}).status_code == 400
    both = {"audio": (io.BytesIO(clip), "a.wav"), "image": (io.BytesIO(clip), "b.jpg")}
    assert client.post("/api/similar", data=both, content_type="multipart/form-data").status_code == 400
    assert like_upload(client, "audio", b"not audio at all", k=3).status_code in (400, 415)
    assert like_upload(client, "audio", clip, but="  ").status_code == 400
    assert like_upload(client, "audio", clip, k=0).status_code == 400
    assert like_upload(client, "audio", clip, nonsense=1).status_code == 400


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)
