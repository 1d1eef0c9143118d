"""The search engine: a Query in, ranked Hits with explanations out. One class for the CLI and the server.

Each query modality has routes (a query vector compared with one kind of stored vector). Every route is
searched on its own, so each hit can say how each route saw it, and the routes are fused by one of:
  calibrated  each route's similarity in standard deviations above the query's mean similarity to a
              sample of the library, summed (text and image queries' default). Routes on unlike scales become
              comparable, a route that tells songs apart counts more than one that does not, and a song
              without lyrics or a cover is scored as average, not as absent, by the routes it lacks.
  rrf         Milvus hybrid search with reciprocal rank fusion (clips' default)
  weighted    Milvus hybrid search with a weighted sum of similarities (any query that gives weights
              without a ranker)
The audio-window and print routes live in their own collections, so their contributions are added
with the same formula (see `route_part`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from scan.errors import DecodeError, InvalidQueryError
from encoders.fingerprint import to_print_rate
from scan import decode_audio
from scan.genres import genre_prompts, normalize_genre
from store import VectorStore, quote

from .feel import clip_feel, feel_words, text_feel
from .filters import build_filter
from .query import Hit, Query, RouteMatch
from .wording import split_subject

RRF_K = 60
SONG_FIELDS = ["title", "artist", "album", "album_artist", "genre", "genre_source", "year", "track_number",
               "duration", "has_lyrics", "has_cover", "bpm", "key", "mode", "camelot", "energy", "brightness_hz",
               "onset_rate", "extra"]
MAX_CLIP_SECONDS = 120.0
MIN_CLIP_SECONDS = 0.5
DEFAULT_WEIGHTS = {"sound": 1.0, "lyrics": 0.6, "cover_text": 0.5, "joint": 0.8, "audio_windows": 1.0,
                   "audio_track": 0.8, "cover": 1.0, "print": 3.0, "feel": 1.0, "mood": 1.0}
# Per query kind: the default ranker and weight overrides. A text query may be about how a song sounds,
# what its words say, or both; its wording (search.wording) and its routes' scores tell which:
# calibrated fusion, equal weights.
# A cover photo's own album must come first, so the cover route outweighs the looser joint route. A
# clip's routes agree on its source song, where rank fusion (RRF) is robust. (docs/evaluation.md)
KIND_DEFAULTS = {
    "text": ("calibrated", {"sound": 1.0, "lyrics": 1.0, "cover_text": 1.0, "joint": 1.0, "audio_windows": 1.0,
                            "feel": 1.0}),
    "audio": ("rrf", {}),
    "image": ("calibrated", {"cover": 1.0, "joint": 0.3}),
}
PRINT_MIN_SHARE = 0.2  # a song must win this share of a clip's prints to count as its source
BACKGROUND_SONGS = 256  # songs sampled per route to calibrate its scores
BACKGROUND_SECONDS = 60.0  # how long a sample serves before it is drawn again (the library may grow)
# One pool for every engine's store calls: they wait on Milvus, so a few threads serve many queries.
_SEARCHES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store-search")


@dataclass
class Route:
    """One comparison: `vector` against `field` of the songs (or "windows"), restricted by `filter`."""

    name: str
    field: str
    vector: np.ndarray
    filter: str = ""


@dataclass
class Plan:
    """What a query compares: song-level routes, a vector for audio windows, and a clip's prints."""

    routes: list[Route]
    window_vector: np.ndarray | None = None
    prints: np.ndarray | None = None  # (n, dim) clip prints
    print_starts: np.ndarray | None = None  # (n,) seconds into the clip
    clip_seconds: float = 0.0


def route_part(name: str, score: float, rank: int, weights: dict, ranker: str,
               calibration: tuple[float, float] | None = None) -> float:
    """One route's contribution to a song's final score.

    Calibrated: weight x (score - mean) / std, with the route's (mean, std) for this query.
    RRF (Milvus's is unweighted) gives 1/(k + rank); the print route alone keeps its weight there,
    because when it finds the song a clip was cut from, that must outrank songs that merely sound alike.
    """
    if ranker == "calibrated":
        mean, std = calibration
        return weights.get(name, 1.0) * (score - mean) / std
    if ranker == "rrf":
        return (weights.get(name, 1.0) if name == "print" else 1.0) / (RRF_K + rank)
    return weights.get(name, 1.0) * score


class SearchEngine:
    """Answers Queries over one open index: a workspace with `profile`, `store`, `fusion` and `model_lock`.

    The engine reads the fusion from the workspace at each query, so a refit is seen at once.
    """

    def __init__(self, workspace):
        self.workspace = workspace
        self.model_lock = workspace.model_lock  # held while a model runs (queries and a re-index alike)
        self._backgrounds: dict[tuple[str, str], tuple[float, np.ndarray]] = {}  # (field, filter) -> (when, sample)

    @property
    def profile(self):
        return self.workspace.profile

    @property
    def store(self) -> VectorStore:
        return self.workspace.store

    @property
    def fusion(self):
        return self.workspace.fusion

    # -- query -> routes -----------------------------------------------------------------------
    def plan(self, query: Query) -> Plan:
        """Encode the query into its routes."""
        p = self.profile
        with self.model_lock:
            if query.kind == "text":
                routes = self._text_routes(query.text)
                sound = next((r for r in routes if r.name == "sound"), None)  # absent when the text names no sound
                return Plan(routes, sound.vector if sound is not None and p.describe_field == "audio" else None)
            if query.kind == "audio":
                clip = self._decode_clip(query.audio)
                embedding = p.audio.embed_song(clip)
                vec = embedding.track
                prints, starts = p.printer.clip_prints(to_print_rate(clip, p.audio.sample_rate))
                routes = [Route("audio_track", "audio", vec), Route("joint", "joint", vec)]
                if query.cross_genre:  # the same feel in other genres: tempo, mode, energy, timbre, mood tags
                    routes += [Route(n, f, v) for n, (f, v) in clip_feel(p, clip, embedding.tags).items()]
                return Plan(routes, vec, prints, starts, len(clip) / p.audio.sample_rate)
            image = self._load_image(query.image)
            vec = p.cover.encode([image], "image")[0]
            routes = [Route("cover", "cover", vec, "has_cover == true")]
            if self._mapped("cover"):
                routes.append(Route("joint", "joint", self.fusion.project("cover", vec[None])[0]))
            return Plan(routes)

    def _text_routes(self, text: str) -> list[Route]:
        """Sound routes compare the query's sound part, the lyrics routes its subject (search.wording);
        a query that names only a subject has no sound routes."""
        p = self.profile
        sound, subject = split_subject(text)
        if not sound and not len(self._background("lyrics", "has_lyrics == true")):
            sound = text  # no song has words to be about anything: the sound routes read it all instead
        feel, sound = text_feel(sound)  # tempo, key and mood words; the rest is for the sound routes
        if feel is not None and not sound and not subject:  # "around 120 bpm in A minor": nothing for words
            return [Route("feel", "descriptors", feel)]
        lyr = p.lyrics.encode([subject or text], "text")[0]
        routes = [Route("lyrics", "lyrics", lyr, "has_lyrics == true")]
        if feel is not None:
            routes.append(Route("feel", "descriptors", feel))
        if sound:
            describe = self._describe(sound)
            routes.append(Route("sound", p.describe_field, describe))
            if p.describe_field == "audio":  # CLAP's text encoder places a sound in the joint (audio) space
                routes.append(Route("joint", "joint", describe))
        if p.cover_text:
            routes.append(Route("cover_text", "cover", p.cover.encode([text], "text")[0], "has_cover == true"))
        if p.describe_field != "audio" and self._mapped("lyrics"):
            # the words' encoding, placed in the joint space: it can only judge songs with words
            routes.append(Route("joint", "joint", self.fusion.project("lyrics", lyr[None])[0], "has_lyrics == true"))
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
        plan = self.plan(query)
        base = build_filter(query)
        query_genre = self.query_genre(query, plan, base) if query.cross_genre else None
        flt = base
        if query_genre:
            clause = f"genre != {quote(query_genre)}"
            flt = f"({base}) and {clause}" if base else clause
        kind_ranker, kind_weights = KIND_DEFAULTS[query.kind]
        weights = {**DEFAULT_WEIGHTS, **kind_weights, **(query.weights or {})}
        ranker = query.ranker or ("weighted" if query.weights else kind_ranker)
        candidates = max(query.k * (5 if query.cross_genre else 3), 30)
        fused, per_route, offsets, calibration = self._fuse(plan, flt, weights, ranker, candidates)
        order = sorted(fused, key=lambda sid: -fused[sid])
        if query.cross_genre:  # spreading results over genres needs the candidates' genres first
            order = _diversify(order, fused, self.store.get_songs(order[:candidates], ["id", "genre"]))
        top = order[: query.k]
        rows = _SEARCHES.submit(self.store.get_songs, top, ["id", *SONG_FIELDS])  # beside the explanations
        segments, lyrics = self._explain_parts(top, plan, offsets)
        songs = rows.result()
        hits = []
        for rank, sid in enumerate(top, start=1):
            if sid in songs:  # a song deleted since the search has no row
                hit = self._hit(sid, rank, fused[sid], songs[sid], per_route, weights, ranker, calibration)
                hit.segment, hit.lyric = segments.get(sid), lyrics.get(sid)
                hits.append(hit)
        return hits

    def _fuse(self, plan: Plan, flt, weights, ranker, limit):
        """Final score per song, each route's {song: (score, rank)}, where in each song a clip starts, and
        each route's (mean, std) for calibrated fusion."""
        active = [r for r in plan.routes if weights.get(r.name, 0) > 0]
        # Every route's search at once: the Milvus process (or server) works on them in parallel.
        searches = {r.name: partial(self.store.search, r.field, r.vector, limit, _and(flt, r.filter)) for r in active}
        windows = plan.window_vector is not None and weights.get("audio_windows", 0) > 0
        prints = plan.prints is not None and len(plan.prints) and weights.get("print", 0) > 0
        allowed = self._allowed(flt) if windows or prints else None  # only those routes need the ids
        if windows:
            searches["audio_windows"] = partial(self._best_windows, plan.window_vector, limit, allowed)
        if prints:
            searches["print"] = partial(self._print_sources, plan, allowed)
        found = dict(zip(searches, _SEARCHES.map(lambda f: f(), searches.values())))

        per_route: dict[str, dict[str, tuple[float, int]]] = {}
        for r in active:
            per_route[r.name] = {h["id"]: (float(h["distance"]), i) for i, h in enumerate(found[r.name], start=1)}
        if "audio_windows" in found:
            per_route["audio_windows"] = {sid: (sc, i) for i, (sid, sc) in enumerate(found["audio_windows"], start=1)}
        offsets: dict[str, float] = {}
        if "print" in found:
            sources, offsets = found["print"]
            per_route["print"] = {sid: (share, i) for i, (sid, share) in enumerate(sources, start=1)}

        fused: dict[str, float] = {}
        calibration = self._calibration(plan, active) if ranker == "calibrated" else {}
        if active and ranker == "calibrated":
            for r in active:
                for sid, (score, rank) in per_route[r.name].items():
                    part = route_part(r.name, score, rank, weights, ranker, calibration[r.name])
                    fused[sid] = fused.get(sid, 0.0) + part
        elif active:
            hybrid = self.store.hybrid_search(
                [(r.field, r.vector, weights[r.name], _and(flt, r.filter)) for r in active],
                limit=limit, ranker=ranker, rrf_k=RRF_K,
            )
            fused = {h["id"]: float(h["distance"]) for h in hybrid}
        for name in ("audio_windows", "print"):
            for sid, (score, rank) in per_route.get(name, {}).items():
                fused[sid] = fused.get(sid, 0.0) + route_part(name, score, rank, weights, ranker, calibration.get(name))
        return fused, per_route, offsets, calibration

    def _calibration(self, plan: Plan, routes: list[Route]) -> dict[str, tuple[float, float]]:
        """(mean, std) of each route's similarity between the query and a sample of the library's songs.

        Audio windows are calibrated on track vectors (same space; a best window scores a little higher).
        A print share is already a vote count: a song at the minimum share counts as 4 standard deviations.
        """
        out = {r.name: _mean_std(self._background(r.field, r.filter) @ r.vector) for r in routes}
        if plan.window_vector is not None:
            out["audio_windows"] = _mean_std(self._background("audio", "") @ plan.window_vector)
        out["print"] = (0.0, PRINT_MIN_SHARE / 4)
        return out

    def _background(self, field: str, flt: str) -> np.ndarray:
        """A sample of stored song vectors of one field, drawn again every BACKGROUND_SECONDS."""
        now = time.monotonic()
        cached = self._backgrounds.get((field, flt))
        if cached is None or now - cached[0] > BACKGROUND_SECONDS:
            cached = (now, self.store.sample_vectors(field, flt, BACKGROUND_SONGS))
            self._backgrounds[(field, flt)] = cached
        return cached[1]

    def _allowed(self, flt: str) -> set[str] | None:
        """Ids of the songs a filter lets through (None: no filter), for the routes outside the songs collection."""
        if not flt:
            return None
        return {row["id"] for row in self.store.iter_songs(["id"], filter=flt)}

    def _print_sources(self, plan: Plan, allowed) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """Songs a clip may have been cut from: [(song id, share of clip prints it won)], and the offset
        (seconds into the song) where the clip starts, from the prints that voted for it."""
        votes: dict[str, list[float]] = {}
        for clip_start, found in zip(plan.print_starts, self.store.search_prints(plan.prints, 1)):
            if found and (allowed is None or found[0]["entity"]["song_id"] in allowed):
                e = found[0]["entity"]
                votes.setdefault(e["song_id"], []).append(e["start"] - clip_start)
        n = len(plan.prints)
        sources = sorted(((sid, len(v) / n) for sid, v in votes.items() if len(v) / n >= PRINT_MIN_SHARE),
                         key=lambda kv: -kv[1])
        offsets = {sid: _most_common_offset(votes[sid]) for sid, _ in sources}
        return sources, offsets

    def _best_windows(self, vector, limit, allowed) -> list[tuple[str, float]]:
        """Songs by their best-matching audio window: [(song id, similarity)] best first."""
        if allowed is not None and not allowed:
            return []
        best: dict[str, float] = {}
        for h in self.store.search_windows(vector, limit * 8):
            sid = h["entity"]["song_id"]
            if allowed is not None and sid not in allowed:
                continue
            best[sid] = max(best.get(sid, -1.0), float(h["distance"]))
        return sorted(best.items(), key=lambda kv: -kv[1])[:limit]

    def _hit(self, sid, rank, score, row, per_route, weights, ranker, calibration) -> Hit:
        matches = []
        for name, found in per_route.items():
            if sid in found:
                s, r = found[sid]
                part = route_part(name, s, r, weights, ranker, calibration.get(name))
                matches.append(RouteMatch(name, s, r, max(part, 0.0)))  # a below-average route adds no share
        total = sum(m.share for m in matches)
        for m in matches:  # a song no route puts above average (ranked only because others are worse): equal shares
            m.share = m.share / total if total > 0 else 1.0 / len(matches)
        matches.sort(key=lambda m: -m.share)
        extra = row.get("extra") or {}
        song = {k: row.get(k) for k in SONG_FIELDS if k != "extra"}
        song["window_policy"] = extra.get("window_policy")
        return Hit(sid, rank, score, song, matches, tags=extra.get("top_tags"), feel=feel_words(row))

    def _explain_parts(self, ids: list[str], plan: Plan, offsets: dict[str, float]) -> tuple[dict, dict]:
        """The matched audio segment and lyric lines of each song: ({id: segment}, {id: lyric})."""
        if not ids:
            return {}, {}
        windows = chunks = None
        if plan.window_vector is not None:
            windows = _SEARCHES.submit(self.store.search_windows, plan.window_vector, len(ids) * 64, ids)
        lyrics_route = next((r for r in plan.routes if r.name == "lyrics"), None)
        if lyrics_route is not None:  # songs without lyrics have no chunks to find
            chunks = _SEARCHES.submit(self.store.search_chunks, lyrics_route.vector, len(ids) * 32, ids)
        segments: dict[str, dict] = {}
        for w in windows.result() if windows is not None else []:  # best first: the first window of a song wins
            e = w["entity"]
            segments.setdefault(e["song_id"], {"start": round(e["start"], 2), "end": round(e["end"], 2),
                                               "score": round(float(w["distance"]), 4)})
        for sid in ids:  # a clip found by its prints: the segment is where the clip sits in the song
            if sid in offsets:
                start = offsets[sid]
                segments[sid] = {"start": round(start, 2), "end": round(start + plan.clip_seconds, 2), "score": 1.0,
                                 "source": "print"}
        lyrics: dict[str, dict] = {}
        for c in chunks.result() if chunks is not None else []:
            e = c["entity"]
            lyrics.setdefault(e["song_id"], {"text": e["text"], "score": round(float(c["distance"]), 4)})
        return segments, lyrics

    # -- genres --------------------------------------------------------------------------------
    def query_genre(self, query: Query, plan: Plan, flt) -> str | None:
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
            sound = next((r for r in plan.routes if r.name == "sound"), None)  # the text's sound part, encoded
            with self.model_lock:  # the first prediction encodes the genre prompts
                return self.profile.predict_genre(sound.vector if sound is not None else self._describe(query.text))
        fused, _, _, _ = self._fuse(plan, flt, DEFAULT_WEIGHTS, "rrf", 10)
        if not fused:
            return None
        top = max(fused, key=fused.get)
        return self.store.get_songs([top], ["genre"]).get(top, {}).get("genre") or None


def _diversify(order: list[str], scores: dict[str, float], songs: dict[str, dict], decay: float = 0.6) -> list[str]:
    """Greedy re-ranking that spreads results over genres: each repeat of a genre scales a score by `decay`."""
    remaining = [sid for sid in order if sid in songs]
    floor = min((scores[sid] for sid in remaining), default=0.0)
    counts: dict[str, int] = {}
    out = []
    while remaining:  # scores shifted to be positive, so that scaling always lowers them
        best = max(remaining, key=lambda sid: (scores[sid] - floor + 1e-6) * decay ** counts.get(songs[sid].get("genre", ""), 0))
        remaining.remove(best)
        g = songs[best].get("genre", "")
        counts[g] = counts.get(g, 0) + 1
        out.append(best)
    return out


def _most_common_offset(offsets: list[float], step: float = 0.25) -> float:
    """The offset most prints agree on (to `step` seconds); the mean of those near it refines it.

    A song that repeats itself (a loop, a chorus) gives votes at several offsets: the largest group wins.
    """
    bins = np.round(np.asarray(offsets) / step).astype(int)
    values, counts = np.unique(bins, return_counts=True)
    centre = values[np.argmax(counts)]
    near = np.asarray(offsets)[np.abs(bins - centre) <= 1]
    return max(0.0, float(near.mean()))


def _mean_std(scores: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a route's background scores ((0, 1) when there are too few)."""
    if len(scores) < 2:
        return 0.0, 1.0
    return float(scores.mean()), max(float(scores.std()), 1e-3)


def _and(a: str, b: str) -> str:
    return f"({a}) and ({b})" if a and b else a or b
