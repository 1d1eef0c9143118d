"""The search engine: a Query in, ranked Hits with explanations out. One class for the CLI and the server.

Each query modality has routes (a query vector compared with one kind of stored vector). The song-level
routes are fused by Milvus hybrid search (RRF, or a weighted sum when the request gives weights); the
audio-window route lives in its own collection, so its contribution is added with the same formula.
Every route is also searched on its own so each hit can say how each route saw it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from crossgenre.errors import DecodeError, InvalidQueryError
from encoders.base import l2_normalize
from scan import decode_audio
from scan.genres import genre_prompts, normalize_genre
from store import VectorStore

from .filters import build_filter
from .query import Hit, Query, RouteMatch

RRF_K = 60
SONG_FIELDS = ["title", "artist", "album", "album_artist", "genre", "genre_source", "year", "track_number",
               "duration", "has_lyrics", "has_cover", "extra"]
MAX_CLIP_SECONDS = 120.0
MIN_CLIP_SECONDS = 0.5
DEFAULT_WEIGHTS = {"sound": 1.0, "lyrics": 0.6, "cover_text": 0.5, "joint": 0.8, "audio_windows": 1.0,
                   "audio_track": 0.8, "cover": 1.0}


@dataclass
class Route:
    """One comparison: `vector` against `field` of the songs (or "windows"), restricted by `filter`."""

    name: str
    field: str
    vector: np.ndarray
    filter: str = ""


class SearchEngine:
    """Answers Queries over one open index (store + profile + fusion)."""

    def __init__(self, profile, store: VectorStore, fusion=None):
        self.profile = profile
        self.store = store
        self.fusion = fusion
        self._encode_lock = threading.Lock()  # one query's models at a time: 2 cores, no gain in overlap
        self._genre_vectors = None

    # -- query -> routes -----------------------------------------------------------------------
    def routes(self, query: Query) -> tuple[list[Route], np.ndarray | None]:
        """The routes of a query, and the vector to compare with audio windows (None: no window route)."""
        p = self.profile
        with self._encode_lock:
            if query.kind == "text":
                return self._text_routes(query.text), (self._describe(query.text) if p.describe_field == "audio" else None)
            if query.kind == "audio":
                clip = self._decode_clip(query.audio)
                vec = p.audio.embed_song(clip).track
                routes = [Route("audio_track", "audio", vec), Route("joint", "joint", vec)]
                return routes, vec
            image = self._load_image(query.image)
            vec = p.cover.encode([image], "image")[0]
            routes = [Route("cover", "cover", vec, "has_cover == true")]
            if self._mapped("cover"):
                routes.append(Route("joint", "joint", self.fusion.project("cover", vec[None])[0]))
            return routes, None

    def _text_routes(self, text: str) -> list[Route]:
        p = self.profile
        describe = self._describe(text)
        lyr = p.lyrics.encode([text], "text")[0]
        routes = [Route("sound", p.describe_field, describe), Route("lyrics", "lyrics", lyr, "has_lyrics == true")]
        if p.cover_text:
            routes.append(Route("cover_text", "cover", p.cover.encode([text], "text")[0], "has_cover == true"))
        if p.describe_field == "audio":
            routes.append(Route("joint", "joint", describe))
        elif self._mapped("lyrics"):
            routes.append(Route("joint", "joint", self.fusion.project("lyrics", lyr[None])[0]))
        return routes

    def _mapped(self, modality: str) -> bool:
        """Whether the fitted fusion can place this modality in the joint space (it needs enough songs with it)."""
        return self.fusion is not None and modality in self.fusion.mapped

    def _describe(self, text: str) -> np.ndarray:
        return self.profile.describe.encode([text], "text")[0]

    def _decode_clip(self, data: bytes) -> np.ndarray:
        rate = self.profile.audio.sample_rate
        try:
            clip = decode_audio(data, rate, max_seconds=MAX_CLIP_SECONDS + 1)
        except DecodeError as exc:
            raise InvalidQueryError(f"the audio clip could not be decoded: {exc}") from None
        seconds = len(clip) / rate
        if seconds < MIN_CLIP_SECONDS:
            raise InvalidQueryError(f"the audio clip is {seconds:.2f} s long; at least {MIN_CLIP_SECONDS} s is needed")
        if seconds > MAX_CLIP_SECONDS:
            raise InvalidQueryError(f"the audio clip is longer than {MAX_CLIP_SECONDS:.0f} s; send a shorter excerpt")
        return clip

    @staticmethod
    def _load_image(data: bytes):
        from encoders.images import load_image

        try:
            return load_image(data)
        except Exception as exc:  # every way an upload can fail to be an image is the client's problem
            raise InvalidQueryError(f"the image could not be read: {exc}") from None

    # -- search --------------------------------------------------------------------------------
    def search(self, query: Query) -> list[Hit]:
        query.validate()
        routes, window_vector = self.routes(query)
        base = build_filter(query)
        query_genre = self.query_genre(query, routes, window_vector, base) if query.cross_genre else None
        flt = base
        if query_genre:
            clause = f"genre != {_quote(query_genre)}"
            flt = f"({base}) and {clause}" if base else clause
        weights = {**DEFAULT_WEIGHTS, **(query.weights or {})}
        ranker = "weighted" if query.weights else query.ranker
        candidates = max(query.k * (5 if query.cross_genre else 3), 30)
        fused, per_route = self._fuse(routes, window_vector, flt, weights, ranker, candidates)
        order = sorted(fused, key=lambda sid: -fused[sid])
        songs = self.store.get_songs(order[: candidates], ["id", *SONG_FIELDS])
        if query.cross_genre:
            order = _diversify(order, fused, songs)
        hits = []
        for rank, sid in enumerate(order[: query.k], start=1):
            if sid not in songs:
                continue
            hits.append(self._hit(sid, rank, fused[sid], songs[sid], per_route, weights, ranker))
        self._explain_parts(hits, query, routes, window_vector)
        return hits

    def _fuse(self, routes, window_vector, flt, weights, ranker, limit):
        """Final score per song, and each route's {song: (score, rank)}."""
        per_route: dict[str, dict[str, tuple[float, int]]] = {}
        active = [r for r in routes if weights.get(r.name, 0) > 0]
        for r in active:
            found = self.store.search(r.field, r.vector, limit, _and(flt, r.filter))
            per_route[r.name] = {h["id"]: (float(h["distance"]), i) for i, h in enumerate(found, start=1)}
        fused: dict[str, float] = {}
        if active:
            hybrid = self.store.hybrid_search(
                [(r.field, r.vector, weights[r.name], _and(flt, r.filter)) for r in active],
                limit=limit, ranker=ranker, rrf_k=RRF_K,
            )
            fused = {h["id"]: float(h["distance"]) for h in hybrid}
        if window_vector is not None and weights.get("audio_windows", 0) > 0:
            best = self._best_windows(window_vector, limit, flt)
            per_route["audio_windows"] = {sid: (s, i) for i, (sid, s) in enumerate(best, start=1)}
            w = weights["audio_windows"]
            for sid, (score, rank) in per_route["audio_windows"].items():
                fused[sid] = fused.get(sid, 0.0) + (1.0 / (RRF_K + rank) if ranker == "rrf" else w * score)
        return fused, per_route

    def _best_windows(self, vector, limit, flt) -> list[tuple[str, float]]:
        """Songs by their best-matching audio window: [(song id, similarity)] best first."""
        allowed = None
        if flt:
            allowed = {row["id"] for row in self.store.iter_songs(["id"], filter=flt)}
            if not allowed:
                return []
        best: dict[str, float] = {}
        for h in self.store.search_windows(vector, limit * 8):
            sid = h["entity"]["song_id"]
            if allowed is not None and sid not in allowed:
                continue
            best[sid] = max(best.get(sid, -1.0), float(h["distance"]))
        return sorted(best.items(), key=lambda kv: -kv[1])[:limit]

    def _hit(self, sid, rank, score, row, per_route, weights, ranker) -> Hit:
        matches = []
        for name, found in per_route.items():
            if sid in found:
                s, r = found[sid]
                part = (1.0 / (RRF_K + r)) if ranker == "rrf" else weights.get(name, 1.0) * s
                matches.append(RouteMatch(name, s, r, part))
        total = sum(m.share for m in matches) or 1.0
        for m in matches:
            m.share /= total
        matches.sort(key=lambda m: -m.share)
        extra = row.get("extra") or {}
        song = {k: row.get(k) for k in SONG_FIELDS if k != "extra"}
        song["window_policy"] = extra.get("window_policy")
        return Hit(sid, rank, score, song, matches, tags=extra.get("top_tags"))

    def _explain_parts(self, hits: list[Hit], query: Query, routes: list[Route], window_vector) -> None:
        """The matched audio segment and lyric lines of each hit."""
        if not hits:
            return
        ids = [h.id for h in hits]
        if window_vector is not None:
            best: dict[str, dict] = {}
            for w in self.store.search_windows(window_vector, len(ids) * 64, song_ids=ids):
                e = w["entity"]
                if e["song_id"] not in best:
                    best[e["song_id"]] = {"start": round(e["start"], 2), "end": round(e["end"], 2), "score": round(float(w["distance"]), 4)}
            for h in hits:
                h.segment = best.get(h.id)
        lyrics_route = next((r for r in routes if r.name == "lyrics"), None)
        with_lyrics = [h.id for h in hits if h.song.get("has_lyrics")]
        if lyrics_route is not None and with_lyrics:
            best_chunk: dict[str, dict] = {}
            for c in self.store.search_chunks(lyrics_route.vector, len(with_lyrics) * 32, song_ids=with_lyrics):
                e = c["entity"]
                best_chunk.setdefault(e["song_id"], {"text": e["text"], "score": round(float(c["distance"]), 4)})
            for h in hits:
                h.lyric = best_chunk.get(h.id)

    # -- genres --------------------------------------------------------------------------------
    def query_genre(self, query: Query, routes, window_vector, flt) -> str | None:
        """The genre a cross-genre search moves away from: given, named in the text, or inferred."""
        if query.query_genre:
            return normalize_genre(query.query_genre)
        if query.kind == "text":
            words = query.text.lower().split()
            for n in (3, 2, 1):
                for i in range(len(words) - n + 1):
                    g = normalize_genre(" ".join(words[i : i + n]))
                    if g and g in genre_prompts():
                        return g
            vec = self._describe(query.text)
            if self._genre_vectors is None:
                prompts = genre_prompts()
                self._genre_names = list(prompts)
                self._genre_vectors = self.profile.describe.encode(list(prompts.values()), "text")
            return self._genre_names[int(np.argmax(self._genre_vectors @ vec))]
        fused, _ = self._fuse(routes, window_vector, flt, DEFAULT_WEIGHTS, "rrf", 10)
        if not fused:
            return None
        top = max(fused, key=fused.get)
        return self.store.get_songs([top], ["genre"]).get(top, {}).get("genre") or None


def _diversify(order: list[str], scores: dict[str, float], songs: dict[str, dict], decay: float = 0.6) -> list[str]:
    """Greedy re-ranking that spreads results over genres: each repeat of a genre scales a score by `decay`."""
    remaining = [sid for sid in order if sid in songs]
    counts: dict[str, int] = {}
    out = []
    while remaining:
        best = max(remaining, key=lambda sid: scores[sid] * decay ** counts.get(songs[sid].get("genre", ""), 0))
        remaining.remove(best)
        g = songs[best].get("genre", "")
        counts[g] = counts.get(g, 0) + 1
        out.append(best)
    return out


def _quote(value: str) -> str:
    import json

    return json.dumps(value)


def _and(a: str, b: str) -> str:
    return f"({a}) and ({b})" if a and b else a or b
