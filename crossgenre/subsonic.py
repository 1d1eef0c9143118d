"""Playlists into a Subsonic-API server (Navidrome, Airsonic, Gonic, Supysonic ...), matched to its own songs.

The server knows its songs by its own ids. Each crossgenre song is matched to one of them: by the file's
path relative to the music folder (both servers read the same library), else by artist, title and album
with durations within 2 s, else by artist and title with durations within 2 s. A named playlist is
created, or replaced when the user already has one of that name (`createPlaylist` with its id).

Authentication: a salted token (`t` = md5(password + salt), `s` = salt) where the server's API is 1.13
or newer, the password form (`p=enc:<hex>`) before that. The version comes from an unauthenticated ping.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CrossgenreError

CLIENT = "crossgenre"
PAGE = 500
DURATION_SLACK = 2.0  # seconds


class SubsonicError(CrossgenreError):
    """The Subsonic server refused a request or could not be reached."""


@dataclass
class PushReport:
    playlist_id: str
    name: str
    matched: list[tuple[dict, str, str]] = field(default_factory=list)  # (crossgenre song, server id, how)
    unmatched: list[dict] = field(default_factory=list)
    replaced: bool = False

    def summary(self) -> str:
        lines = [f"{'Replaced' if self.replaced else 'Created'} playlist {self.name!r} with {len(self.matched)} songs "
                 f"({len(self.unmatched)} not found on the server)"]
        for song in self.unmatched:
            lines.append(f"  not found: {song.get('artist') or '?'} - {song.get('title') or Path(song['path']).name} ({song['path']})")
        return "\n".join(lines)


class SubsonicClient:
    def __init__(self, url: str, user: str, password: str, timeout: float = 30.0):
        self.url, self.user, self.password, self.timeout = url.rstrip("/"), user, password, timeout
        self.version = self._version()
        self.token_auth = _at_least(self.version, (1, 13))

    def call(self, method: str, params: list[tuple[str, str]] | None = None) -> dict:
        """One API call; the `subsonic-response` object, or SubsonicError with the server's message."""
        query = [("u", self.user), ("v", self.version), ("c", CLIENT), ("f", "json"), *self._auth(), *(params or [])]
        answer = self._get(method, query)
        if answer.get("status") != "ok":
            err = answer.get("error") or {}
            raise SubsonicError(f"the Subsonic server refused {method}: {err.get('message', 'no reason given')} "
                                f"(code {err.get('code', '?')})")
        return answer

    def _auth(self) -> list[tuple[str, str]]:
        if self.token_auth:
            salt = secrets.token_hex(6)
            return [("t", hashlib.md5((self.password + salt).encode("utf-8")).hexdigest()), ("s", salt)]
        return [("p", "enc:" + self.password.encode("utf-8").hex())]

    def _version(self) -> str:
        answer = self._get("ping", [("c", CLIENT), ("f", "json"), ("v", "1.0.0")])
        version = answer.get("version")
        if not version:
            raise SubsonicError(f"{self.url} does not answer as a Subsonic server (no API version in its ping)")
        return version

    def _get(self, method: str, query: list[tuple[str, str]]) -> dict:
        url = f"{self.url}/rest/{method}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except ValueError:
                raise SubsonicError(f"the Subsonic server answered HTTP {exc.code} to {method}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SubsonicError(f"cannot reach a Subsonic server at {self.url}: {exc}") from None
        if not isinstance(body, dict) or "subsonic-response" not in body:
            raise SubsonicError(f"{self.url} answered {method} with something other than a Subsonic response")
        return body["subsonic-response"]

    # -- the server's songs and playlists ------------------------------------------------------
    def songs(self) -> list[dict]:
        """Every song the server has (search3 with an empty query, page by page)."""
        out, offset = [], 0
        while True:
            page = self.call("search3", [("query", ""), ("artistCount", "0"), ("albumCount", "0"),
                                         ("songCount", str(PAGE)), ("songOffset", str(offset))])
            songs = (page.get("searchResult3") or {}).get("song") or []
            out += songs
            if len(songs) < PAGE:
                return out
            offset += PAGE

    def playlists(self) -> list[dict]:
        return (self.call("getPlaylists").get("playlists") or {}).get("playlist") or []

    def playlist(self, playlist_id: str) -> dict:
        return self.call("getPlaylist", [("id", playlist_id)]).get("playlist") or {}

    def save_playlist(self, name: str, song_ids: list[str]) -> tuple[str, bool]:
        """Create the named playlist, or replace the songs of the user's playlist of that name: (id, replaced)."""
        mine = [p for p in self.playlists() if p.get("name") == name and p.get("owner", self.user) == self.user]
        params = [("songId", sid) for sid in song_ids]
        if mine:
            self.call("createPlaylist", [("playlistId", str(mine[0]["id"])), *params])
            return str(mine[0]["id"]), True
        answer = self.call("createPlaylist", [("name", name), *params])
        created = answer.get("playlist")  # API 1.14 returns it; older servers do not
        if created:
            return str(created["id"]), False
        found = [p for p in self.playlists() if p.get("name") == name]
        return str(found[-1]["id"]) if found else "", False


def match_songs(songs: list[dict], server_songs: list[dict], library_roots: list[str]) -> list[tuple[dict, str | None, str]]:
    """For each crossgenre song {path, artist, title, album, duration}: (song, server id or None, how)."""
    by_path = {_norm_path(s.get("path")): s for s in server_songs if s.get("path")}
    by_tags: dict[tuple, list[dict]] = {}
    for s in server_songs:
        by_tags.setdefault((_key(s.get("artist")), _key(s.get("title"))), []).append(s)
    out = []
    for song in songs:
        hit, how = None, ""
        for root in library_roots:
            try:
                rel = Path(song["path"]).resolve().relative_to(Path(root).resolve())
            except ValueError:
                continue
            hit = by_path.get(_norm_path(str(rel)))
            if hit:
                how = "path"
                break
        if hit is None:
            near = [s for s in by_tags.get((_key(song.get("artist")), _key(song.get("title"))), [])
                    if abs(float(s.get("duration") or 0) - float(song.get("duration") or 0)) <= DURATION_SLACK]
            same_album = [s for s in near if _key(s.get("album")) == _key(song.get("album"))]
            if same_album or near:
                hit, how = (same_album or near)[0], "tags" if same_album else "artist and title"
        out.append((song, str(hit["id"]) if hit else None, how))
    return out


def push(client: SubsonicClient, name: str, songs: list[dict], library_roots: list[str]) -> PushReport:
    """Match the songs to the server's and save them there as the playlist `name`, in order."""
    if not name.strip():
        raise CrossgenreError("a playlist needs a name")
    matches = match_songs(songs, client.songs(), library_roots)
    ids = [sid for _, sid, _ in matches if sid]
    playlist_id, replaced = client.save_playlist(name, ids)
    report = PushReport(playlist_id, name, replaced=replaced)
    for song, sid, how in matches:
        (report.matched.append((song, sid, how)) if sid else report.unmatched.append(song))
    return report


def credentials(url: str | None, user: str | None) -> tuple[str, str, str]:
    """URL and user as given (flags, else the configuration's subsonic_url/subsonic_user, which
    CROSSGENRE_SUBSONIC_URL/_USER override), and the password from CROSSGENRE_SUBSONIC_PASSWORD only, so
    that it stays out of shell histories, process lists and configuration files."""
    password = os.environ.get("CROSSGENRE_SUBSONIC_PASSWORD", "")
    missing = [n for n, v in (("--url (or subsonic_url in the configuration, or CROSSGENRE_SUBSONIC_URL)", url),
                              ("--user (or subsonic_user, or CROSSGENRE_SUBSONIC_USER)", user),
                              ("CROSSGENRE_SUBSONIC_PASSWORD", password)) if not v]
    if missing:
        raise CrossgenreError("the Subsonic server needs " + ", ".join(missing))
    return url, user, password


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    try:
        parts = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return parts >= wanted


def _key(text) -> str:
    return " ".join(str(text or "").casefold().split())


def _norm_path(path) -> str:
    return str(path or "").replace("\\", "/").strip("/")
