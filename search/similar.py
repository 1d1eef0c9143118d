"""Songs like songs in the library: similar songs, mixes from several seeds, and sonic paths.

Everything here starts from vectors already stored, so nothing is encoded at query time. A seed song's
stored vectors are its query: its track sound (`audio`), its joint vector, and its lyrics and cover
vectors when it has them (those two routes then compare only songs that have them too). Each route is
searched on its own and the routes are fused as the engine fuses text and image queries: each
similarity in standard deviations above the seed's mean similarity to a sample of the library, summed
with the route weights. So every hit can say how each route saw it.

A hit never is a seed, nor a near-duplicate of one (the same recording in another file): a candidate
whose sound is nearly the seed's has its stored audio prints compared with the seed's, and one that
shares most of them is the same recording. Then the options apply: filters (genre, years, duration,
folder), cross-genre (no song of a seed's genre), the seed's album left out, and at most N songs per
artist and per album, kept while walking down the ranking, so they hold for every list returned.

Each hit's segment says which audio window of the hit is closest to which window of its seed.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.fingerprint import CODE_MASK
from scan.errors import InvalidQueryError
from store import PUBLIC_SONG_FIELDS, SongRow, quote

from .filters import genre_year_clauses
from .query import MAX_K, Hit, RouteMatch
from .ranking import calibration_sample, floors
from .ranking import explain as explain_routes

# Routes of a song query: (name, stored field, weight). Sound leads; lyrics and cover refine.
ROUTES = (("sound", "audio", 1.0), ("joint", "joint", 1.0), ("lyrics", "lyrics", 0.5), ("cover", "cover", 0.5))
# Routes that only refine: they score the songs the other (lead) routes found, rather than search the library.
REFINING = ("lyrics", "cover")
SONG_FIELDS = [*PUBLIC_SONG_FIELDS, "extra"]
# A candidate this close to a seed's sound may be the same recording: its prints are compared then.
# Re-encodes of one recording score 0.99 and more; the prints then tell them from songs of one style.
DUPLICATE_GATE = 0.9
SAME_RECORDING_SHARE = 0.5  # the same recording holds at least this share of the seed's print codes
NEGATIVE_WEIGHT = 0.5  # how far negative seeds push a mix's query away from them
MODIFIER_WEIGHT = 1.0  # "like this, but ...": the seed's vector plus this times the text's (both unit length)
_WEIGHTS = {name: w for name, _, w in ROUTES} | {"modifier": MODIFIER_WEIGHT}
BACKGROUND_SONGS = 256
BACKGROUND_SECONDS = 60.0
MAX_POOL = 2000  # candidates per route at most, when options leave too few
MAX_STEPS = 50
MAX_SEEDS = 20
SONG_ID = re.compile(r"[0-9a-f]{16}")
_SEARCHES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="similar-search")


@dataclass
class SongOptions:
    """What a list of songs like a song may hold. None: no limit."""

    k: int = 10
    max_per_artist: int | None = None
    max_per_album: int | None = None
    exclude_seed_album: bool = False
    genre: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    duration_min: float | None = None  # seconds
    duration_max: float | None = None
    folder: str | None = None  # only songs whose file lies under this folder
    cross_genre: bool = False  # no song of a seed's genre

    def validate(self) -> None:
        if not _whole(self.k) or not 1 <= self.k <= MAX_K:
            raise InvalidQueryError(f"k must be a whole number from 1 to {MAX_K}")
        for name in ("max_per_artist", "max_per_album"):
            v = getattr(self, name)
            if v is not None and (not _whole(v) or v < 1):
                raise InvalidQueryError(f"{name} must be a whole number of at least 1")
        for name in ("year_min", "year_max"):
            v = getattr(self, name)
            if v is not None and (not _whole(v) or not 0 <= v <= 9999):
                raise InvalidQueryError(f"{name} must be a year from 0 to 9999")
        for name in ("duration_min", "duration_max"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e6):
                raise InvalidQueryError(f"{name} must be a number of seconds from 0 to 1000000")
        for name in ("genre", "folder"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip() or len(v) > 1024):
                raise InvalidQueryError(f"{name} must be non-empty text of at most 1024 characters")


class SongSearch:
    """Similar songs, mixes and paths over one open index (a store with the song vectors)."""

    def __init__(self, store):
        self.store = store
        self._backgrounds: dict[tuple[str, str], tuple[float, np.ndarray]] = {}

    # -- which song --------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """A song's id from its id, its file's path, or "artist - title" (exact, then ignoring case)."""
        ref = (ref or "").strip()
        if not ref:
            raise InvalidQueryError("name a song: its id, its file's path, or \"artist - title\"")
        if SONG_ID.fullmatch(ref) and self.store.get_songs([ref], ["id"]):
            return ref
        path = Path(ref).expanduser()
        if path.is_file():
            rows = list(self.store.iter_songs(["id"], filter=f"path == {quote(str(path.resolve()))}"))
            if rows:
                return rows[0]["id"]
            raise InvalidQueryError(f"{ref} is not in the index; run `crossgenre index` on its folder first")
        found = self._by_artist_title(ref)
        if len(found) == 1:
            return found[0]["id"]
        if found:
            shown = "; ".join(f"{r['id']} ({r['path']})" for r in found[:5])
            raise InvalidQueryError(f"{ref!r} names {len(found)} songs; give one's id or path: {shown}")
        raise InvalidQueryError(f"no song in the index is {ref!r}; give its id, its file's path, or \"artist - title\"")

    def _by_artist_title(self, ref: str) -> list[dict]:
        splits = [(ref[:m.start()].strip(), ref[m.end():].strip()) for m in re.finditer(r"\s+-\s+", ref)]
        fields = ["id", "path", "artist", "album_artist", "title"]
        for artist, title in splits:  # exact first: a filtered read
            flt = f"title == {quote(title)} and (artist == {quote(artist)} or album_artist == {quote(artist)})"
            rows = list(self.store.iter_songs(fields, filter=flt))
            if rows:
                return rows
        wanted = {(a.casefold(), t.casefold()) for a, t in splits}
        if not wanted:
            return []
        return [r for r in self.store.iter_songs(fields)
                if {((r.get("artist") or "").casefold(), (r.get("title") or "").casefold()),
                    ((r.get("album_artist") or "").casefold(), (r.get("title") or "").casefold())} & wanted]

    # -- similar, mix, path --------------------------------------------------------------------
    def similar(self, seed_id: str, options: SongOptions | None = None, explain: bool = True,
                modifier: tuple[str, np.ndarray] | None = None) -> list[Hit]:
        """The songs most like one song, best first. `modifier` ("like this, but ..."): (field, vector), a
        text's description vector in a stored field's space (see `text_modifier`)."""
        options = options or SongOptions()
        options.validate()
        return self._like(self._seeds([seed_id])[0], options, explain, modifier)

    def like_upload(self, seed: dict, options: SongOptions | None = None, explain: bool = True,
                    modifier: tuple[str, np.ndarray] | None = None) -> list[Hit]:
        """Songs like an uploaded clip or cover photo (its vectors: `search.planning.upload_seed`), best first,
        "but <text>" with a modifier. The songs that hold the clip's own recording are listed like any other."""
        options = options or SongOptions()
        options.validate()
        return self._like(seed, options, explain, modifier, duplicates=set())

    def _like(self, seed: dict, options: SongOptions, explain: bool, modifier, duplicates=None) -> list[Hit]:
        routes = _route_vectors([seed], [])
        if modifier is not None:  # the moved vector stands for the seed's sound: the routes it would outvote go
            moved = _modified(seed, *modifier)
            if moved:
                routes = {n: r for n, r in routes.items() if n not in ("sound", "joint")} | moved
            else:  # the seed has no vector in the text's space (a photo, offline): the text is a route of its own
                routes["modifier"] = (modifier[0], _unit(np.asarray(modifier[1], np.float32)), "")
        if not routes:
            raise InvalidQueryError("this seed has no vector that songs can be compared with")
        return self._ranked(routes, [seed], options, explain, duplicates=duplicates)

    def mix(self, seed_ids: list[str], negative_ids: list[str] = (), options: SongOptions | None = None) -> list[Hit]:
        """Songs like several seeds together and unlike the negative ones, ordered for listening: the first
        is the closest to the first seed, each next the closest to the one before it."""
        options = options or SongOptions()
        options.validate()
        if not seed_ids:
            raise InvalidQueryError("a mix needs at least one seed song")
        if len(seed_ids) + len(negative_ids) > MAX_SEEDS:
            raise InvalidQueryError(f"a mix takes at most {MAX_SEEDS} seed songs, negative ones included")
        if set(seed_ids) & set(negative_ids):
            raise InvalidQueryError("a song cannot be a seed and a negative seed at once")
        seeds = self._seeds(list(dict.fromkeys(seed_ids)))
        negatives = self._seeds(list(dict.fromkeys(negative_ids)))
        hits = self._ranked(_route_vectors(seeds, negatives), seeds, options, explain=True, avoid=negatives)
        return self._listening_order(hits, seeds)

    def path(self, from_id: str, to_id: str, steps: int = 5, options: SongOptions | None = None) -> list[Hit]:
        """A sonic path: the two songs with `steps` songs between them, each next one a step further from
        the first and closer to the last (points spread evenly between the two in the sound and joint
        spaces, each answered by its nearest unused song). No song twice."""
        options = options or SongOptions()
        if not _whole(steps) or not 1 <= steps <= MAX_STEPS:
            raise InvalidQueryError(f"steps must be a whole number from 1 to {MAX_STEPS}")
        options.validate()
        if from_id == to_id:
            raise InvalidQueryError("a path needs two different songs")
        a, b = self._seeds([from_id, to_id])
        ends = [a, b]
        used = {a["id"], b["id"]} | self._near_duplicates(ends)
        counts: dict[str, dict] = {"artist": {}, "album": {}}  # the caps hold over the whole path
        chosen: list[tuple[Hit, float]] = []
        for i in range(1, steps + 1):
            t = i / (steps + 1)
            point = {name: _unit((1 - t) * a[field] + t * b[field]) for name, field, _ in ROUTES[:2]
                     if _usable(a.get(field)) and _usable(b.get(field))}
            routes = {name: (field, vec, "") for (name, field, _), vec in
                      ((r, point[r[0]]) for r in ROUTES[:2] if r[0] in point)}
            found = self._ranked(routes, ends, _one(options), explain=False, exclude=used, counts=counts,
                                 duplicates=set())  # the ends' duplicates are in `used` already
            if not found:
                break
            hit = found[0]
            used |= {hit.id} | self._near_duplicates(self._seeds([hit.id]))
            chosen.append((hit, t))
        rows = self.store.get_songs([h.id for h, _ in chosen], ["id", "audio"])
        hits = [self._seed_hit(a, 0.0)] + [h for h, _ in chosen] + [self._seed_hit(b, 1.0)]
        previous, previous_id = a["audio"], a["id"]
        for hit, t in chosen:  # each step is compared (and its segment matched) with the song before it
            v = np.asarray(rows[hit.id]["audio"], np.float32)
            hit.seed = {"id": previous_id, "position": round(t, 3), "like_from": _cos(v, a["audio"]),
                        "like_to": _cos(v, b["audio"]), "like_previous": _cos(v, previous)}
            previous, previous_id = v, hit.id
        hits[-1].seed["like_previous"] = _cos(b["audio"], previous)
        for rank, hit in enumerate(hits, start=1):
            hit.rank = rank
        self._explain_segments(hits[1:-1], [a])
        return hits

    # -- the common core -----------------------------------------------------------------------
    def _seeds(self, ids: list[str]) -> list[dict]:
        fields = ["id", "key", "path", *SONG_FIELDS, *self.store.vector_fields]
        rows = self.store.get_songs(ids, fields)
        missing = [sid for sid in ids if sid not in rows]
        if missing:
            raise InvalidQueryError(f"no song with id {missing[0]} is in the index")
        out = []
        for sid in ids:
            row = rows[sid]
            for f in self.store.vector_fields:
                row[f] = np.asarray(row[f], np.float32)
            out.append(row)
        return out

    def _ranked(self, routes: dict, seeds: list[dict], options: SongOptions, explain: bool, avoid=(),
                exclude: set | None = None, counts: dict | None = None, duplicates: set | None = None) -> list[Hit]:
        """Search the routes, fuse, and walk down the ranking applying every option until k songs are in."""
        flt = self._filter(options, seeds)
        exclude = set(exclude or ()) | {s["id"] for s in seeds} | {s["id"] for s in avoid}
        limit = max(4 * options.k, 40)
        refining = REFINING if all(_usable(s.get("audio")) for s in seeds) else ()  # a photo's cover leads
        while True:
            found = self._search(routes, flt, limit, refining)
            calibration = {name: self._calibration(field, vec, f) for name, (field, vec, f) in routes.items()}
            fused, per_route, rows = _fuse(found, routes, calibration)
            order = sorted(fused, key=lambda sid: -fused[sid])
            if duplicates is None:  # once: the same recordings do not change with the pool's size
                one = found.get("sound") if len(seeds) == 1 and not avoid else None
                duplicates = self._near_duplicates([*seeds, *avoid], one)
                exclude |= duplicates
            picked = _pick(order, rows, options, seeds, exclude, counts)
            complete = all(len(v) < limit for n, v in found.items() if n not in refining)  # all they could
            if len(picked) >= options.k or complete or limit >= MAX_POOL:
                break
            limit = min(limit * 4, MAX_POOL)
        floor = floors(per_route, _WEIGHTS, "calibrated", calibration)
        hits = [_hit(sid, rank, fused[sid], rows[sid],
                     explain_routes(sid, per_route, _WEIGHTS, "calibrated", calibration, floor))
                for rank, sid in enumerate(picked, start=1)]
        if explain:
            self._explain_segments(hits, seeds, rows)
        return hits

    def _search(self, routes: dict, flt: str, limit: int, refining=REFINING) -> dict[str, list[dict]]:
        """The lead routes search the whole library for `limit` songs each; the refining routes (lyrics,
        cover) then score only the songs the lead routes found."""
        lead = {n: r for n, r in routes.items() if n not in refining} or routes
        jobs = {name: _SEARCHES.submit(self.store.search, field, vec, limit, _and(flt, f))
                for name, (field, vec, f) in lead.items()}
        found = {name: job.result() for name, job in jobs.items()}
        candidates = sorted({h["id"] for hits in found.values() for h in hits})
        rows = self.store.get_songs(candidates, ["id", "key", *SONG_FIELDS, "path"])  # one read for every route
        found = {name: [{**h, "entity": rows.get(h["id"], {})} for h in hits] for name, hits in found.items()}
        jobs = {name: _SEARCHES.submit(self.store.score, field, vec, candidates, _and(flt, f))
                for name, (field, vec, f) in routes.items() if name not in lead}
        return found | {name: job.result() for name, job in jobs.items()}

    def _filter(self, options: SongOptions, seeds: list[dict]) -> str:
        """The options that Milvus can apply (the rest, and exact folder matches, are checked in _pick)."""
        clauses = genre_year_clauses(options.genre, options.year_min, options.year_max)
        if options.cross_genre:
            for genre in sorted({s.get("genre") for s in seeds if s.get("genre")}):
                clauses.append(f"genre != {quote(genre)}")
        if not self.store.split:  # a split layout's side collections hold only the filterable scalars
            if options.duration_min is not None:
                clauses.append(f"duration >= {float(options.duration_min)}")
            if options.duration_max is not None:
                clauses.append(f"duration <= {float(options.duration_max)}")
            if options.folder:  # `like` reads "_" as a wildcard too: a superset, made exact in _pick
                clauses.append(f"path like {quote(_folder(options.folder).replace('%', '_') + '%')}")
        return " and ".join(clauses)

    def _calibration(self, field: str, vector: np.ndarray, flt: str) -> tuple[float, float]:
        now = time.monotonic()
        cached = self._backgrounds.get((field, flt))
        if cached is None or now - cached[0] > BACKGROUND_SECONDS:
            cached = (now, calibration_sample(self.store, field, flt, BACKGROUND_SONGS))
            self._backgrounds[(field, flt)] = cached
        scores = cached[1] @ vector
        if len(scores) < 2:
            return 0.0, 1.0
        return float(scores.mean()), max(float(scores.std()), 1e-3)

    def _near_duplicates(self, songs: list[dict], sound_hits: list[dict] | None = None) -> set[str]:
        """Other songs that hold the same recording as one of these: among those whose sound is nearly
        theirs (`sound_hits`: a search already made with the one song's sound), by their stored prints."""
        near = set()
        for song in songs:
            hits = sound_hits if sound_hits is not None else self.store.search("audio", song["audio"], 8)
            near |= {h["id"] for h in hits if float(h["distance"]) >= DUPLICATE_GATE and h["id"] != song["id"]}
        return self._duplicates(songs, sorted(near))

    def _duplicates(self, seeds: list[dict], candidates: list[str]) -> set[str]:
        """The candidates that hold the same recording as one of the seeds, by their stored prints."""
        if not seeds or not candidates:
            return set()
        prints = self.store.song_print_keys([s["id"] for s in seeds] + list(candidates))
        out = set()
        for seed in seeds:
            mine = prints.get(seed["id"])
            for sid in candidates:
                theirs = prints.get(sid)
                if sid != seed["id"] and mine is not None and theirs is not None and same_recording(mine, theirs):
                    out.add(sid)
        return out

    def _explain_segments(self, hits: list[Hit], seeds: list[dict], rows: dict | None = None) -> None:
        """Each hit's audio window closest to a window of the song it is compared with: `hit.seed["id"]` when
        set (a mix's nearest seed, a path's previous step), else the first seed. `rows`: song rows already
        read (with key and extra), which spares reading them again."""
        if not hits:
            return
        parts: dict[str, list[dict]] = {}
        known = {**(rows or {}), **{s["id"]: s for s in seeds if s["id"]}}
        for w in self.store.song_windows([h.id for h in hits] + [s["id"] for s in seeds if s["id"]], known):
            parts.setdefault(w["song_id"], []).append(w)
        parts |= {s["id"]: s["windows"] for s in seeds if s.get("windows")}  # an uploaded clip's own windows
        by_seed: dict[str, list[Hit]] = {}
        for hit in hits:
            seed_id = (hit.seed or {}).get("id", seeds[0]["id"])
            if hit.id in parts and seed_id in parts:
                by_seed.setdefault(seed_id, []).append(hit)
        for seed_id, group in by_seed.items():  # one product per seed: each BLAS call costs a thread wake-up
            theirs = parts[seed_id]
            mine = [w for h in group for w in parts[h.id]]
            sims = _matrix(mine) @ _matrix(theirs).T
            row = 0
            for hit in group:
                n = len(parts[hit.id])
                i, j = np.unravel_index(int(np.argmax(sims[row : row + n])), (n, len(theirs)))
                w, t = mine[row + i], theirs[j]
                hit.segment = {"start": round(w["start"], 2), "end": round(w["end"], 2),
                               "score": round(float(sims[row + i, j]), 4),
                               "seed": {"id": seed_id or None, "start": round(t["start"], 2), "end": round(t["end"], 2)}}
                row += n

    def _listening_order(self, hits: list[Hit], seeds: list[dict]) -> list[Hit]:
        if not hits:
            return hits
        rows = self.store.get_songs([h.id for h in hits], ["id", "audio"])
        vec = {h.id: np.asarray(rows[h.id]["audio"], np.float32) for h in hits if h.id in rows}
        for h in hits:  # which seed each song is most like
            best = max(seeds, key=lambda s: _cos(vec[h.id], s["audio"]))
            h.seed = {"id": best["id"], "title": best.get("title"), "like_seed": _cos(vec[h.id], best["audio"])}
        remaining = [h for h in hits if h.id in vec]
        first = max(remaining, key=lambda h: _cos(vec[h.id], seeds[0]["audio"]))
        order = [first]
        remaining.remove(first)
        while remaining:
            last = vec[order[-1].id]
            nxt = max(remaining, key=lambda h: _cos(vec[h.id], last))
            nxt.seed["like_previous"] = _cos(vec[nxt.id], last)
            order.append(nxt)
            remaining.remove(nxt)
        for rank, h in enumerate(order, start=1):
            h.rank = rank
        self._explain_segments(order, seeds)
        return order

    def _seed_hit(self, row: dict, position: float) -> Hit:
        song = SongRow.public(row)
        song["window_policy"] = (row.get("extra") or {}).get("window_policy")
        return Hit(row["id"], 0, 1.0, song, [], seed={"position": position, "endpoint": True})


def text_modifier(engine, text: str) -> tuple[str, np.ndarray]:
    """A text's description vector, where the engine's profile compares descriptions with songs: (field, vector)."""
    from .planning import describe_text
    from .query import MAX_TEXT

    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise InvalidQueryError(f"the modifier must be a description of 1 to {MAX_TEXT} characters")
    with engine.model_lock:
        return engine.profile.describe_field, describe_text(engine.profile, text)


def _modified(seed: dict, field: str, text_vector: np.ndarray) -> dict:
    """"Like this, but <text>": the seed's vector moved toward the text's in the space where texts describe
    sounds (`tags` offline, CLAP's audio space in the full profile, which is also its joint space). The moved
    vector replaces that space's route, or is a route of its own ("modifier") where the seed had none."""
    fields = [field, "joint"] if field == "audio" else [field]
    out = {}
    for f in fields:
        base = seed.get(f)
        if not _usable(base):
            continue
        name = next((n for n, rf, _ in ROUTES if rf == f), "modifier")
        out[name] = (f, _unit(_unit(base) + MODIFIER_WEIGHT * _unit(np.asarray(text_vector, np.float32))), "")
    return out


def recording_share(seed_keys: np.ndarray, other_keys: np.ndarray) -> float:
    """The share of a song's stored print codes (keys (prints, bands), one print a second) that another song
    holds too. Code 0 (digital silence) counts for neither."""
    mine = seed_keys[(seed_keys & CODE_MASK) != 0]
    return float(np.isin(mine, other_keys).mean()) if len(mine) else 0.0


def same_recording(seed_keys: np.ndarray, other_keys: np.ndarray) -> bool:
    """Whether most of a song's stored print codes are found among another song's."""
    return recording_share(seed_keys, other_keys) >= SAME_RECORDING_SHARE


def _route_vectors(seeds: list[dict], negatives: list[dict]) -> dict[str, tuple[str, np.ndarray, str]]:
    """Each route's query vector: the mean of the seeds that have it, pushed away from the negatives'."""
    out = {}
    for name, field, _ in ROUTES:
        have = [s[field] for s in seeds if field in s and _usable(s[field])]
        if not have:
            continue
        vec = np.mean(have, axis=0)
        against = [s[field] for s in negatives if field in s and _usable(s[field])]
        if against:
            vec = vec - NEGATIVE_WEIGHT * np.mean(against, axis=0)
        flt = {"lyrics": "has_lyrics == true", "cover": "has_cover == true"}.get(name, "")
        if name in ("lyrics", "cover") and not all(s.get(f"has_{name}") for s in seeds):
            continue  # a route only when every seed has it: a missing lyric must not pull toward silence
        out[name] = (field, _unit(vec), flt)
    return out


def _fuse(found: dict, routes: dict, calibration: dict):
    fused: dict[str, float] = {}
    per_route: dict[str, dict[str, tuple[float, int]]] = {}
    rows: dict[str, dict] = {}
    for name, hits in found.items():
        per_route[name] = {}
        mean, std = calibration[name]
        for rank, h in enumerate(hits, start=1):
            score = float(h["distance"])
            per_route[name][h["id"]] = (score, rank)
            fused[h["id"]] = fused.get(h["id"], 0.0) + _WEIGHTS[name] * (score - mean) / std
            rows.setdefault(h["id"], h.get("entity") or {})
    return fused, per_route, rows


def _pick(order, rows, options: SongOptions, seeds, exclude, counts=None) -> list[str]:
    """Walk down the ranking, keeping songs that pass every option, until k are kept."""
    counts = counts if counts is not None else {"artist": {}, "album": {}}
    seed_albums = {_album(s) for s in seeds} - {None} if options.exclude_seed_album else set()
    folder = _folder(options.folder) if options.folder else None
    picked = []
    for sid in order:
        row = rows.get(sid) or {}
        if sid in exclude or not _passes(row, options, folder) or _album(row) in seed_albums:
            continue
        artist, album = _artist(row), _album(row)
        if options.max_per_artist and artist and counts["artist"].get(artist, 0) >= options.max_per_artist:
            continue
        if options.max_per_album and album and counts["album"].get(album, 0) >= options.max_per_album:
            continue
        _count(row, counts)
        picked.append(sid)
        if len(picked) == options.k:
            break
    return picked


def _passes(row: dict, options: SongOptions, folder: str | None) -> bool:
    duration = row.get("duration") or 0.0
    if options.duration_min is not None and duration < options.duration_min:
        return False
    if options.duration_max is not None and duration > options.duration_max:
        return False
    return folder is None or str(row.get("path") or "").startswith(folder)


def _count(row: dict, counts: dict) -> None:
    for key, value in (("artist", _artist(row)), ("album", _album(row))):
        if value:
            counts[key][value] = counts[key].get(value, 0) + 1


def _artist(row: dict) -> str | None:
    return (row.get("artist") or row.get("album_artist") or "").strip().casefold() or None


def _album(row: dict):
    album = (row.get("album") or "").strip().casefold()
    return (_artist({"artist": row.get("album_artist") or row.get("artist")}), album) if album else None


def _folder(folder: str) -> str:
    return str(Path(folder).expanduser().resolve()).rstrip("/") + "/"


def _hit(sid, rank, score, row, matches: list[RouteMatch]) -> Hit:
    """A hit with its routes' parts (they add up to the score) and shares (search/ranking.py: explain)."""
    matches.sort(key=lambda m: -m.part)
    song = SongRow.public(row)
    song["window_policy"] = (row.get("extra") or {}).get("window_policy")
    return Hit(sid, rank, score, song, matches, tags=(row.get("extra") or {}).get("top_tags"))


def _matrix(parts: list[dict]) -> np.ndarray:
    return np.asarray([p["vector"] for p in parts], np.float32)


def _one(options: SongOptions) -> SongOptions:
    from dataclasses import replace

    return replace(options, k=1)


def _usable(vec) -> bool:
    return vec is not None and float(np.linalg.norm(vec)) > 0.0


def _unit(vec: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(vec))
    return (vec / n).astype(np.float32) if n > 0 else np.asarray(vec, np.float32)


def _cos(a, b) -> float:
    return round(float(np.dot(_unit(np.asarray(a, np.float32)), _unit(np.asarray(b, np.float32)))), 4)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _and(a: str, b: str) -> str:
    return f"({a}) and ({b})" if a and b else a or b
