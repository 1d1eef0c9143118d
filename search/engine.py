"""The search engine: a Query in, an Answer out (ranked Hits with explanations, and how the query was
read). One class for the CLI and the server.

A query is planned into routes (search.planning); every route is searched on its own, at once, and the
per-route results are fused and explained here by search.ranking, on one score scale for every route,
the same on every backend.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from scan.genres import genre_prompts, normalize_genre
from encoders.descriptors import words
from store import PUBLIC_SONG_FIELDS, SongRow, VectorStore, quote

from .filters import build_filter
from .planning import Plan, describe_text, plan_query
from .query import Answer, Hit, Query, Reading
from .ranking import PRINT_MIN_VOTES, PerRoute, calibration_sample, diversify, explain, floors, fuse, identified_first, mean_std, print_sources

SONG_FIELDS = [*PUBLIC_SONG_FIELDS, "extra"]
DEFAULT_WEIGHTS = {"sound": 1.0, "lyrics": 0.6, "cover_text": 0.5, "joint": 0.8, "audio_windows": 1.0,
                   "audio_track": 0.8, "cover": 1.0, "print": 3.0, "feel": 1.0, "mood": 1.0}
# Per query kind: the default ranker and weight overrides. A text query may be about how a song sounds,
# what its words say, or both; its wording (search.wording) and its routes' scores tell which:
# calibrated fusion, equal weights.
# A cover photo's own album must come first, so the cover route outweighs the looser joint route. A
# clip's routes agree on its source song, where rank fusion (RRF) is robust. (docs/evaluation.md)
KIND_DEFAULTS = {
    "text": ("calibrated", {"sound": 1.0, "lyrics": 1.0, "cover_text": 1.0, "joint": 1.0, "audio_windows": 1.0}),
    "audio": ("rrf", {}),
    "image": ("calibrated", {"cover": 1.0, "joint": 0.3}),
}
BACKGROUND_SONGS = 256  # songs sampled per route to calibrate its scores
# A filter that passes at most this many songs searches their windows by id, inside Milvus, in one
# `song_id in [...]` expression (measured on Lite: ~10 ms at 1,000 ids, ~180 ms at 20,000).
NARROW_FILTER_SONGS = 5_000
BACKGROUND_SECONDS = 60.0  # how long a sample serves before it is drawn again (the library may change)
PRINT_SOURCES = 20  # songs a clip's print lookup returns
# One pool for every engine's store calls: they wait on Milvus, so a few threads serve many queries.
_SEARCHES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store-search")


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

    def plan(self, query: Query) -> Plan:
        """Encode the query into its routes."""
        with self.model_lock:
            return plan_query(query, self.profile, self.fusion,
                              lambda: len(self._background("lyrics", "has_lyrics == true")) > 0)

    def search(self, query: Query) -> list[Hit]:
        """The ranked hits of a query (`answer` also says how it was read)."""
        return self.answer(query).hits

    def answer(self, query: Query) -> Answer:
        query.validate()
        plan = self.plan(query)
        base = build_filter(query)
        query_genre = self.query_genre(query, plan, base) if query.cross_genre else None
        flt = base
        if query_genre:
            clause = f"genre != {quote(query_genre)}"
            flt = f"({base}) and {clause}" if base else clause
        kind_ranker, kind_weights = KIND_DEFAULTS[query.kind]
        weights = {**DEFAULT_WEIGHTS, **kind_weights, **relative_weights(query.weights or {})}
        ranker = query.ranker or ("weighted" if query.weights else kind_ranker)
        candidates = max(query.k * (5 if query.cross_genre else 3), 30)
        per_route, offsets = self._fetch(plan, flt, weights, candidates)
        calibration = self._calibration(plan, per_route) if ranker == "calibrated" else {}
        # a clip its prints identify is that song: it comes first, however the sound routes rank it
        plain = fuse(per_route, weights, ranker, calibration)
        fused = identified_first(plain, per_route.get("print", {}))
        order = sorted(fused, key=lambda sid: (-fused[sid], sid))
        if query.cross_genre:  # spreading results over genres needs the candidates' genres first
            order = diversify(order, fused, self.store.get_songs(order[:candidates], ["id", "genre"]))
        top = order[: query.k]
        songs = self.store.get_songs(top, ["id", "key", *SONG_FIELDS])  # the explanations read their parts by key
        segments, lyrics = self._explain_parts(top, plan, offsets, songs)
        hits, floor = [], floors(per_route, weights, ranker, calibration)
        for sid in top:
            if sid in songs:  # a song deleted since the search has no row
                hit = _hit(sid, len(hits) + 1, fused[sid], songs[sid],
                           explain(sid, per_route, weights, ranker, calibration, floor, fused[sid] - plain[sid]))
                hit.segment, hit.lyric = segments.get(sid), lyrics.get(sid)
                hits.append(hit)
        reading = Reading(query.kind, plan.sound, plan.subject, query_genre, list(per_route), plan.music)
        return Answer(hits, reading)

    # -- fetching each route's results ---------------------------------------------------------
    def _fetch(self, plan: Plan, flt: str, weights: dict, limit: int) -> tuple[PerRoute, dict[str, float]]:
        """Each route's {song: (similarity, rank)}, and where in each song a clip starts (from its prints)."""
        active = [r for r in plan.routes if weights.get(r.name, 0) > 0]
        # Every route's search at once: the Milvus process (or server) works on them in parallel.
        searches = {r.name: partial(self.store.search, r.field, r.vector, limit, _and(flt, r.filter)) for r in active}
        windows = plan.window_vector is not None and weights.get("audio_windows", 0) > 0
        prints = plan.prints is not None and len(plan.prints) and weights.get("print", 0) > 0
        if windows:
            searches["audio_windows"] = partial(self._best_windows, plan.window_vector, limit, flt)
        if prints:
            searches["print"] = partial(self._print_sources, plan, flt)
        found = dict(zip(searches, _SEARCHES.map(lambda f: f(), searches.values())))

        per_route: PerRoute = {}
        for r in active:
            per_route[r.name] = {h["id"]: (float(h["distance"]), i) for i, h in enumerate(found[r.name], start=1)}
        if "audio_windows" in found:
            per_route["audio_windows"] = {sid: (sc, i) for i, (sid, sc) in enumerate(found["audio_windows"], start=1)}
        offsets: dict[str, float] = {}
        if "print" in found:
            sources, offsets = found["print"]
            per_route["print"] = {sid: (share, i) for i, (sid, share) in enumerate(sources, start=1)}
        return per_route, offsets

    def _calibration(self, plan: Plan, per_route: PerRoute) -> dict[str, tuple[float, float]]:
        """(mean, std) of each route's similarity between the query and a random sample of the library.

        Audio windows are calibrated on track vectors (same space; a best window scores a little higher).
        A print match is already a vote count: a song at the minimum votes counts as 4 standard deviations.
        """
        out = {r.name: mean_std(self._background(r.field, r.filter) @ r.vector) for r in plan.routes if r.name in per_route}
        if plan.window_vector is not None:
            out["audio_windows"] = mean_std(self._background("audio", "") @ plan.window_vector)
        out["print"] = (0.0, PRINT_MIN_VOTES / 4)
        return out

    def _background(self, field: str, flt: str) -> np.ndarray:
        """A random sample of stored song vectors of one field, drawn again every BACKGROUND_SECONDS."""
        now = time.monotonic()
        cached = self._backgrounds.get((field, flt))
        if cached is None or now - cached[0] > BACKGROUND_SECONDS:
            cached = (now, calibration_sample(self.store, field, flt, BACKGROUND_SONGS))
            self._backgrounds[(field, flt)] = cached
        return cached[1]

    def _print_sources(self, plan: Plan, flt: str) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """Songs a clip may have been cut from: [(song id, votes its codes won at one place)] best first, and
        the offset (seconds into the song) where the clip starts. A filter is applied to the few songs
        found, in Milvus."""
        found = print_sources(self.store.find_clip(plan.prints, PRINT_SOURCES))
        if flt and found:
            passing = self.store.ids_passing([m.song_id for m in found], flt)
            found = [m for m in found if m.song_id in passing]
        # a source the gate keeps by its lead counts as one with the minimum votes: both are identifications
        return [(m.song_id, max(m.votes, PRINT_MIN_VOTES)) for m in found], {m.song_id: m.offset for m in found}

    def _best_windows(self, vector, limit, flt) -> list[tuple[str, float]]:
        """Songs by their best-matching audio window: [(song id, similarity)] best first.

        Windows live outside the songs collection, so a filter reaches them through song ids. A broad
        filter checks only the songs the unfiltered windows found; a narrow one (or a broad one that left
        too few) searches only the windows of the songs it passes, inside Milvus, so no match is lost.
        """
        if not flt:
            return _best_per_song(self.store.search_windows(vector, limit * 8), limit)
        passing = self.store.count(flt)
        if passing > NARROW_FILTER_SONGS:
            found = self.store.search_windows(vector, limit * 8)
            kept = self.store.ids_passing({h["entity"]["song_id"] for h in found}, flt)
            best = _best_per_song([h for h in found if h["entity"]["song_id"] in kept], limit)
            if len(best) >= limit:
                return best
        if not passing:
            return []
        ids = [row["id"] for row in self.store.iter_songs(["id"], filter=flt)]
        return _best_per_song(self.store.search_windows(vector, limit * 8, ids), limit)

    def _explain_parts(self, ids: list[str], plan: Plan, offsets: dict[str, float], rows: dict) -> tuple[dict, dict]:
        """The matched audio segment and lyric lines of each song: ({id: segment}, {id: lyric}). `rows`: the
        songs' rows (with key and extra)."""
        if not ids:
            return {}, {}
        windows = chunks = None
        if plan.window_vector is not None:
            windows = _SEARCHES.submit(self._closest_windows, plan.window_vector, ids, rows)
        lyrics_route = plan.route("lyrics")
        if lyrics_route is not None:  # songs without lyrics have no chunks to find
            chunks = _SEARCHES.submit(self._closest_chunks, lyrics_route.vector, ids, rows)
        segments: dict[str, dict] = windows.result() if windows is not None else {}
        for sid in ids:  # a clip found by its prints: the segment is where the clip sits in the song
            if sid in offsets:
                start = offsets[sid]
                segments[sid] = {"start": round(start, 2), "end": round(start + plan.clip_seconds, 2), "score": 1.0,
                                 "source": "print"}
        return segments, chunks.result() if chunks is not None else {}

    def _closest_chunks(self, vector: np.ndarray, ids: list[str], rows: dict) -> dict[str, dict]:
        """Each of these songs' lyric chunk closest to `vector`: {id: {text, score}}, read by key."""
        return {sid: {"text": c["text"], "score": round(score, 4)}
                for sid, (c, score) in _closest_part(self.store.song_chunks(ids, rows), vector).items()}

    def _closest_windows(self, vector: np.ndarray, ids: list[str], rows: dict | None = None) -> dict[str, dict]:
        """Each of these songs' audio window closest to `vector`: {id: segment}. The songs' windows are read by
        key (on Milvus Lite from their copy beside the index), not searched for among every stored window."""
        return {sid: {"start": round(w["start"], 2), "end": round(w["end"], 2), "score": round(score, 4)}
                for sid, (w, score) in _closest_part(self.store.song_windows(ids, rows), vector).items()}

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
            sound = plan.route("sound")  # the text's sound part, encoded
            with self.model_lock:  # the first prediction encodes the genre prompts
                vector = sound.vector if sound is not None else describe_text(self.profile, query.text)
                return self.profile.predict_genre(vector)
        per_route, _ = self._fetch(plan, flt, DEFAULT_WEIGHTS, 10)
        fused = fuse(per_route, DEFAULT_WEIGHTS, "rrf", {})
        if not fused:
            return None
        top = max(fused, key=fused.get)
        return self.store.get_songs([top], ["genre"]).get(top, {}).get("genre") or None


def relative_weights(given: dict[str, float]) -> dict[str, float]:
    """A request's weights (0 to 100) on the scale of the defaults: a set with any weight over 1 is scaled so
    its largest is 1, so {"lyrics": 100, "sound": 50} ranks like {"lyrics": 1, "sound": 0.5}."""
    top = max(given.values(), default=0.0)
    return {name: w / top for name, w in given.items()} if top > 1 else dict(given)


def _hit(sid: str, rank: int, score: float, row: dict, matches) -> Hit:
    extra = row.get("extra") or {}
    song = SongRow.public(row)
    song["window_policy"] = extra.get("window_policy")
    return Hit(sid, rank, score, song, matches, tags=extra.get("top_tags"), feel=words(row))


def _closest_part(parts: list[dict], vector: np.ndarray) -> dict[str, tuple[dict, float]]:
    """Each song's part (window or lyric chunk, with song_id and vector) closest to `vector`, and its similarity."""
    by_song: dict[str, list[dict]] = {}
    for p in parts:
        by_song.setdefault(p["song_id"], []).append(p)
    out = {}
    for sid, group in by_song.items():
        scores = np.asarray([p["vector"] for p in group], np.float32) @ np.asarray(vector, np.float32)
        best = int(np.argmax(scores))
        out[sid] = (group[best], float(scores[best]))
    return out


def _best_per_song(windows: list[dict], limit: int) -> list[tuple[str, float]]:
    """[(song id, its best window's similarity)] best first, at most `limit`."""
    best: dict[str, float] = {}
    for h in windows:
        sid = h["entity"]["song_id"]
        best[sid] = max(best.get(sid, -1.0), float(h["distance"]))
    return sorted(best.items(), key=lambda kv: -kv[1])[:limit]


def _and(a: str, b: str) -> str:
    return f"({a}) and ({b})" if a and b else a or b
