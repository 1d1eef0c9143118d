"""Playlists pushed into a real Subsonic server (Supysonic, started here on 127.0.0.1 over the generated
library) and read back through that server's own API."""

from __future__ import annotations

import pytest

from crossgenre.subsonic import SubsonicClient, SubsonicError, match_songs, push
from tests.fixtures import subsonic


@pytest.fixture(scope="module")
def server(library, tmp_path_factory):
    if not subsonic.available():
        pytest.skip("Supysonic is not installed in .venv-subsonic (bash scripts/setup.sh --test)")
    proc, url = subsonic.start_server(library.root, tmp_path_factory.mktemp("supysonic"))
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def client(server):
    return SubsonicClient(server, subsonic.USER, subsonic.PASSWORD)


@pytest.fixture(scope="module")
def rows(indexed):
    _, ws, _ = indexed
    return {r["title"] or r["path"]: r for r in ws.store.iter_songs(["id", "path", "artist", "title", "album", "duration"])}


def entries(client, playlist_id) -> list[str]:
    return [e["title"] for e in client.playlist(playlist_id).get("entry", [])]


def test_a_playlist_is_created_then_replaced_and_reads_back_in_order(client, rows, library):
    assert client.version == "1.12.0" and not client.token_auth  # Supysonic: the password form
    first = [rows[t] for t in ("Willow Road", "Harbor Fog", "Cinder Throne")]
    report = push(client, "crossgenre: like Willow Road", first, [str(library.root)])
    assert not report.replaced and not report.unmatched
    assert {how for _, _, how in report.matched} == {"path"}
    assert entries(client, report.playlist_id) == ["Willow Road", "Harbor Fog", "Cinder Throne"]
    second = [rows[t] for t in ("Lantern Song", "Willow Road")]
    again = push(client, "crossgenre: like Willow Road", second, [str(library.root)])
    assert again.replaced and again.playlist_id == report.playlist_id
    assert entries(client, report.playlist_id) == ["Lantern Song", "Willow Road"]
    assert [p["name"] for p in client.playlists()].count("crossgenre: like Willow Road") == 1


def test_songs_are_matched_by_tags_when_paths_differ_and_the_rest_is_reported(client, rows):
    moved = dict(rows["Pulse Engine"], path="/elsewhere/Pulse Engine.mp3")  # another copy of the library
    absent = {"path": "/elsewhere/x.mp3", "artist": "Nobody", "title": "Nothing", "album": "", "duration": 10.0}
    wrong_length = dict(moved, duration=moved["duration"] + 30)
    matched = match_songs([moved, absent, wrong_length], client.songs(), [])
    assert [how for _, _, how in matched] == ["tags", "", ""]
    report = push(client, "crossgenre: moved", [moved, absent], [])
    assert [s["title"] for s in report.unmatched] == ["Nothing"] and "not found: Nobody - Nothing" in report.summary()
    assert entries(client, report.playlist_id) == ["Pulse Engine"]


def test_a_wrong_password_or_no_server_is_a_clear_error(server, tmp_path):
    with pytest.raises(SubsonicError, match="refused"):
        SubsonicClient(server, subsonic.USER, "wrong").playlists()
    with pytest.raises(SubsonicError, match="cannot reach"):
        SubsonicClient("http://127.0.0.1:9", "u", "p")


def test_the_cli_takes_the_server_and_user_from_the_configuration(server, client, indexed, library, tmp_path,
                                                                   monkeypatch, capsys):
    from crossgenre.cli import main

    config, _, _ = indexed
    toml = tmp_path / "crossgenre.toml"
    toml.write_text(f'subsonic_url = "{server}"\nsubsonic_user = "{subsonic.USER}"\n')
    for name in ("CROSSGENRE_SUBSONIC_URL", "CROSSGENRE_SUBSONIC_USER"):
        monkeypatch.delenv(name, raising=False)
    args = ["subsonic", "push", "from the configuration", "--similar", "Mara Åkesson - Lantern Song", "-k", "3",
            "--config", str(toml), "--data-dir", str(config.data_dir), "--profile", "offline",
            "--library-root", str(library.root)]
    monkeypatch.setenv("CROSSGENRE_SUBSONIC_PASSWORD", subsonic.PASSWORD)
    assert main(args) == 0, capsys.readouterr()
    pushed = [p for p in client.playlists() if p["name"] == "from the configuration"]
    assert len(pushed) == 1 and len(entries(client, pushed[0]["id"])) == 3
    monkeypatch.delenv("CROSSGENRE_SUBSONIC_PASSWORD")
    assert main(args) != 0
    assert "CROSSGENRE_SUBSONIC_PASSWORD" in capsys.readouterr().err
