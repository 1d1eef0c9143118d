"""Query and Hit: what a search asks and what it answers, shared by the CLI and the server."""

from __future__ import annotations

from dataclasses import dataclass, field

from scan.errors import InvalidQueryError

MAX_K = 200
MAX_TEXT = 1000  # characters
MAX_BPM = 400
RANKERS = ("calibrated", "rrf", "weighted")
ROUTE_NAMES = ("sound", "lyrics", "cover_text", "joint", "audio_windows", "audio_track", "cover", "print", "feel", "mood")


@dataclass
class Query:
    """One search. Exactly one of text, audio (encoded file bytes) or image (encoded file bytes)."""

    text: str | None = None
    audio: bytes | None = None
    image: bytes | None = None
    k: int = 10
    genre: str | None = None
    artist: str | None = None
    album: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    bpm_min: float | None = None
    bpm_max: float | None = None
    half_double: bool = False  # a bpm range also matches songs at half or double its tempo
    key: str | None = None  # "A minor", "Am", "8A" (Camelot)
    compatible_keys: bool = False  # the key and its neighbours on the Camelot wheel, not the key alone
    energy_min: float | None = None  # 0..1
    energy_max: float | None = None
    cross_genre: bool = False
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
        if self.text is not None:
            if not self.text.strip():
                raise InvalidQueryError("the text query is empty")
            if len(self.text) > MAX_TEXT:
                raise InvalidQueryError(f"the text query is {len(self.text)} characters; at most {MAX_TEXT}")
        if self.audio is not None and not self.audio:
            raise InvalidQueryError("the audio clip is empty")
        if self.image is not None and not self.image:
            raise InvalidQueryError("the image is empty")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or not 1 <= self.k <= MAX_K:
            raise InvalidQueryError(f"k must be a whole number from 1 to {MAX_K}")
        for name in ("year_min", "year_max"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 9999):
                raise InvalidQueryError(f"{name} must be a year from 0 to 9999")
        for name in ("genre", "artist", "album", "query_genre"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or len(v) > 256):
                raise InvalidQueryError(f"{name} must be text of at most 256 characters")
        for name, top in (("bpm_min", MAX_BPM), ("bpm_max", MAX_BPM), ("energy_min", 1.0), ("energy_max", 1.0)):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= top):
                raise InvalidQueryError(f"{name} must be a number from 0 to {top:g}")
        for low, high in (("bpm_min", "bpm_max"), ("energy_min", "energy_max")):
            if getattr(self, low) is not None and getattr(self, high) is not None and getattr(self, low) > getattr(self, high):
                raise InvalidQueryError(f"{low} is above {high}")
        if self.key is not None:
            from encoders.descriptors import normalize_key

            if not isinstance(self.key, str) or len(self.key) > 16 or normalize_key(self.key) is None:
                raise InvalidQueryError("key must name a key, such as 'A minor', 'F#m', 'Eb major' or '8A' (Camelot)")
        if self.ranker not in (None, *RANKERS):
            raise InvalidQueryError(f"ranker must be one of: {', '.join(RANKERS)}")
        if self.weights is not None:
            if not isinstance(self.weights, dict):
                raise InvalidQueryError("weights must map route names to numbers")
            for route, w in self.weights.items():
                if route not in ROUTE_NAMES:
                    raise InvalidQueryError(f"unknown route {route!r} in weights; routes: {', '.join(ROUTE_NAMES)}")
                if not isinstance(w, (int, float)) or isinstance(w, bool) or not 0 <= w <= 100:
                    raise InvalidQueryError(f"weight of {route} must be a number from 0 to 100")


@dataclass
class RouteMatch:
    """How one route saw one song: its similarity, its rank in that route, its share of the final score."""

    route: str
    score: float
    rank: int
    share: float = 0.0


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
                    {"route": r.route, "score": round(r.score, 4), "rank": r.rank, "share": round(r.share, 4)}
                    for r in self.routes
                ],
                "segment": self.segment,
                "lyric": self.lyric,
                "tags": self.tags,
                "feel": self.feel,
                **({"seed": self.seed} if self.seed is not None else {}),
            },
        }
