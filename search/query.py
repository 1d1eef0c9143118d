"""Query and Hit: what a search asks and what it answers, shared by the CLI and the server."""

from __future__ import annotations

from dataclasses import dataclass, field

from scan.errors import InvalidQueryError

MAX_K = 200
MAX_TEXT = 1000  # characters
MAX_NAME = 256  # characters of a genre, artist or album
RANKERS = ("calibrated", "rrf", "weighted")
ROUTE_NAMES = ("sound", "lyrics", "cover_text", "joint", "audio_windows", "audio_track", "cover", "print", "feel", "mood")
MAX_BPM = 400


@dataclass(frozen=True)
class Param:
    """One field of a search request: its kind, limits, default and meaning.

    `PARAMS` is the one declaration of the request: `Query.validate` checks a Query against it, the
    server parses requests by it (server/params.py) and writes the OpenAPI document from it.
    kind: "text", "int", "bool", "choice" (one of `choices`) or "weights" (route in `choices` -> number
    from `low` to `high`).
    """

    name: str
    kind: str
    about: str
    default: object = None
    low: float | None = None
    high: float | None = None
    max_len: int | None = None
    choices: tuple = ()


PARAMS = (
    Param("text", "text", "a description, a mood, or lyrics", max_len=MAX_TEXT),
    Param("k", "int", "how many songs", default=10, low=1, high=MAX_K),
    Param("genre", "text", "only songs of this genre", max_len=MAX_NAME),
    Param("artist", "text", "only songs by this artist (or album artist)", max_len=MAX_NAME),
    Param("album", "text", "only songs of this album", max_len=MAX_NAME),
    Param("year_min", "int", "only songs from this year on", low=0, high=9999),
    Param("year_max", "int", "only songs up to this year", low=0, high=9999),
    Param("bpm_min", "number", "only songs at this tempo (bpm) or faster", low=0, high=MAX_BPM),
    Param("bpm_max", "number", "only songs at this tempo (bpm) or slower", low=0, high=MAX_BPM),
    Param("half_double", "bool", "the bpm range also matches songs at half or double such a tempo", default=False),
    Param("key", "text", "only songs in this key: 'A minor', 'F#m', 'Eb major' or Camelot '8A'", max_len=16),
    Param("compatible_keys", "bool", "with key: also the keys next to it on the Camelot wheel (one step either "
          "way, and its relative major or minor)", default=False),
    Param("energy_min", "number", "only songs with at least this energy (0-1)", low=0, high=1),
    Param("energy_max", "number", "only songs with at most this energy (0-1)", low=0, high=1),
    Param("cross_genre", "bool", "songs with the same feel from other genres than the query's", default=False),
    Param("query_genre", "text", "cross-genre mode: the genre to move away from (inferred when absent)",
          max_len=MAX_NAME),
    Param("ranker", "choice", "how routes are fused: calibrated (each route's similarity in standard deviations "
          "above the query's similarity to the library, summed), reciprocal rank fusion, or a weighted sum of "
          "similarities; absent: rrf for clips, calibrated for text and images, weighted when `weights` are given",
          choices=RANKERS),
    Param("weights", "weights", "route -> weight from 0 to 100 (a set with any weight over 1 is scaled so its "
          "largest is 1); weights without a ranker switch to the weighted sum",
          low=0, high=100, choices=ROUTE_NAMES),
)
PARAM = {p.name: p for p in PARAMS}


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_param(p: Param, v) -> None:
    """Raise InvalidQueryError when value `v` (not None) breaks parameter `p`'s declaration."""
    if p.kind == "text" and (not isinstance(v, str) or len(v) > p.max_len):
        raise InvalidQueryError(f"{p.name} must be text of at most {p.max_len} characters")
    if p.kind == "int" and (not _whole(v) or not p.low <= v <= p.high):
        raise InvalidQueryError(f"{p.name} must be a whole number from {p.low} to {p.high}")
    if p.kind == "bool" and not isinstance(v, bool):
        raise InvalidQueryError(f"{p.name} must be true or false")
    if p.kind == "number" and (not _number(v) or not p.low <= v <= p.high):
        raise InvalidQueryError(f"{p.name} must be a number from {p.low:g} to {p.high:g}")
    if p.kind == "choice" and v not in p.choices:
        raise InvalidQueryError(f"{p.name} must be one of: {', '.join(p.choices)}")
    if p.kind == "weights":
        if not isinstance(v, dict):
            raise InvalidQueryError(f"{p.name} must map route names to numbers")
        for route, w in v.items():
            if route not in p.choices:
                raise InvalidQueryError(f"unknown route {route!r} in {p.name}; routes: {', '.join(p.choices)}")
            if not _number(w) or not p.low <= w <= p.high:
                raise InvalidQueryError(f"weight of {route} must be a number from {p.low} to {p.high}")


@dataclass
class Query:
    """One search. Exactly one of text, audio (encoded file bytes) or image (encoded file bytes); the
    other fields as declared in PARAMS (their defaults come from there)."""

    text: str | None = None
    audio: bytes | None = None
    image: bytes | None = None
    k: int = PARAM["k"].default
    genre: str | None = None
    artist: str | None = None
    album: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    bpm_min: float | None = None
    bpm_max: float | None = None
    half_double: bool = PARAM["half_double"].default  # a bpm range also matches songs at half or double its tempo
    key: str | None = None  # "A minor", "Am", "8A" (Camelot)
    compatible_keys: bool = PARAM["compatible_keys"].default  # the key and its Camelot neighbours
    energy_min: float | None = None  # 0..1
    energy_max: float | None = None
    cross_genre: bool = PARAM["cross_genre"].default
    query_genre: str | None = None  # the genre to move away from in cross-genre mode (else inferred)
    weights: dict[str, float] | None = None  # route -> weight; given weights switch RRF to a weighted sum
    ranker: str | None = None  # "calibrated", "rrf" or "weighted"; None: the query kind's default (search.engine)

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "audio" if self.audio is not None else "image"

    def validate(self) -> None:
        given = [x is not None for x in (self.text, self.audio, self.image)]
        if sum(given) != 1:
            raise InvalidQueryError("give exactly one of: text, an audio clip, an image")
        if self.text is not None and isinstance(self.text, str):
            if not self.text.strip():
                raise InvalidQueryError("the text query is empty")
            if len(self.text) > MAX_TEXT:
                raise InvalidQueryError(f"the text query is {len(self.text)} characters; at most {MAX_TEXT}")
        if self.audio is not None and not self.audio:
            raise InvalidQueryError("the audio clip is empty")
        if self.image is not None and not self.image:
            raise InvalidQueryError("the image is empty")
        for p in PARAMS:
            value = getattr(self, p.name)
            if value is not None:
                check_param(p, value)
        for low, high in (("bpm_min", "bpm_max"), ("energy_min", "energy_max")):
            if getattr(self, low) is not None and getattr(self, high) is not None and getattr(self, low) > getattr(self, high):
                raise InvalidQueryError(f"{low} is above {high}")
        if self.key is not None:
            from encoders.descriptors import normalize_key

            if normalize_key(self.key) is None:
                raise InvalidQueryError("key must name a key, such as 'A minor', 'F#m', 'Eb major' or '8A' (Camelot)")


@dataclass
class RouteMatch:
    """How one route saw one song: its similarity, its rank in that route, its part of the song's score
    (the parts add up to the score), and that part as a share of the score (the shares add up to 1)."""

    route: str
    score: float
    rank: int
    share: float = 0.0
    part: float = 0.0


@dataclass
class Hit:
    """One ranked song with its metadata and the reasons it matched."""

    id: str
    rank: int
    score: float
    song: dict
    routes: list[RouteMatch] = field(default_factory=list)
    segment: dict | None = None  # {"start": s, "end": s, "score": x}: the part of the song that matched
    lyric: dict | None = None  # {"text": chunk, "score": x}: the lyric lines that matched
    tags: list | None = None  # [[tag, probability], ...] (offline profile)
    feel: str = ""  # tempo, key and feel in a musician's words: "118 bpm · A minor (8A) · bright · dense"
    seed: dict | None = None  # songs like songs (search.similar): which seed a hit is like, its place in a path

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "rank": self.rank,
            "score": round(self.score, 6),
            **self.song,
            "explanation": {
                "routes": [
                    {"route": r.route, "score": round(r.score, 4), "rank": r.rank, "part": round(r.part, 6),
                     "share": round(r.share, 4)}
                    for r in self.routes
                ],
                "segment": self.segment,
                "lyric": self.lyric,
                "tags": self.tags,
                "feel": self.feel,
                **({"seed": self.seed} if self.seed is not None else {}),
            },
        }


@dataclass
class Reading:
    """How the engine read a query, so that the API, the CLI and the page show it without working it out again."""

    kind: str  # "text", "audio" or "image"
    sound: str | None = None  # text: the part compared with the songs' sound ("" when no sound route read it)
    subject: str | None = None  # text: what the words should be about, when the text named one ("about ...")
    genre: str | None = None  # cross-genre: the genre moved away from (given, named in the text, or guessed)
    routes: list[str] = field(default_factory=list)  # the routes searched, in the order they were fused
    music: str | None = None  # text: the tempo, key and mood it named, as read ("tempo ~120 bpm (from: ...)")

    def to_dict(self) -> dict:
        out = {"routes": self.routes}
        if self.music:
            out["music"] = self.music
        if self.subject:
            out["sound"], out["subject"] = self.sound or "", self.subject
        if self.genre:
            out["genre"] = self.genre
        return out


@dataclass
class Answer:
    """The engine's answer: the ranked hits and how it read the query."""

    hits: list[Hit]
    reading: Reading

