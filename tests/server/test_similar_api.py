"""Songs like songs over HTTP (similar, mix, path) and result lists as M3U8 playlists, on the shared test index."""

from __future__ import annotations

from pathlib import Path

import mutagen
import pytest


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
    assert all(r["explanation"]["seed"]["id"] in seeds for r in res.json["results"])
    res = client.get(f"/api/path?from={seeds[1]}&to={song_ids['Cinder Throne']}&steps=3")
    assert res.status_code == 200, res.json
    path = res.json["results"]
    assert [r["id"] for r in path][::4] == [seeds[1], song_ids["Cinder Throne"]] and len(path) == 5
    assert all(0 < r["explanation"]["seed"]["position"] < 1 for r in path[1:-1])
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
    assert all("modifier" in [r["route"] for r in hit["explanation"]["routes"]] for hit in res.json["results"])
    assert client.get(f"/api/songs/{seed}/similar?but=%20").status_code == 400
