"""One genre vocabulary: genre tags as people write them ("hip-hop", "Hip Hop", "Rap") -> one name."""

from __future__ import annotations

import re

# Canonical genre -> spellings and sub-genres that fold into it (compared lower-case, punctuation-free).
GENRES: dict[str, tuple[str, ...]] = {
    "Rock": ("rock", "rock and roll", "rock n roll", "hard rock", "alternative", "alternative rock", "indie",
             "indie rock", "grunge", "classic rock", "progressive rock", "psychedelic rock", "garage rock", "britpop"),
    "Metal": ("metal", "heavy metal", "death metal", "black metal", "thrash metal", "doom metal", "metalcore",
              "nu metal", "power metal"),
    "Punk": ("punk", "punk rock", "hardcore", "hardcore punk", "post punk", "emo", "pop punk"),
    "Pop": ("pop", "synthpop", "synth pop", "electropop", "dance pop", "k pop", "kpop", "j pop", "teen pop", "indie pop"),
    "Hip-Hop": ("hip hop", "hiphop", "rap", "trap", "gangsta rap", "boom bap", "grime", "drill"),
    "R&B": ("r b", "rnb", "r and b", "rhythm and blues", "soul", "neo soul", "motown", "contemporary r b"),
    "Funk": ("funk", "disco", "p funk", "boogie"),
    "Electronic": ("electronic", "electronica", "electro", "edm", "techno", "house", "deep house", "trance",
                   "dubstep", "drum and bass", "dnb", "drum n bass", "idm", "breakbeat", "dance", "club",
                   "synthwave", "downtempo", "trip hop", "garage", "uk garage", "electronic dance music"),
    "Ambient": ("ambient", "new age", "drone", "chillout", "chill out", "lounge", "meditation", "dark ambient"),
    "Jazz": ("jazz", "bebop", "swing", "smooth jazz", "fusion", "jazz fusion", "big band", "bossa nova", "cool jazz"),
    "Blues": ("blues", "delta blues", "chicago blues", "blues rock"),
    "Classical": ("classical", "baroque", "opera", "orchestral", "symphony", "chamber music", "romantic",
                  "contemporary classical", "piano"),
    "Folk": ("folk", "folk rock", "singer songwriter", "acoustic", "americana", "bluegrass", "celtic", "indie folk"),
    "Country": ("country", "alt country", "country rock", "honky tonk", "outlaw country"),
    "Reggae": ("reggae", "dub", "ska", "dancehall", "rocksteady"),
    "Latin": ("latin", "salsa", "reggaeton", "cumbia", "bachata", "merengue", "tango", "samba", "latin pop"),
    "World": ("world", "world music", "afrobeat", "afrobeats", "highlife", "flamenco", "fado", "bhangra", "klezmer"),
    "Soundtrack": ("soundtrack", "score", "film score", "ost", "video game music", "musical"),
    "Experimental": ("experimental", "noise", "avant garde", "industrial", "musique concrete"),
    "Gospel": ("gospel", "christian", "worship", "spiritual"),
}

_LOOKUP = {alias: canonical for canonical, aliases in GENRES.items() for alias in (*aliases, canonical.lower())}


def _key(text: str) -> str:
    text = text.lower().replace("&", " and ").replace("'n'", " and ")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def normalize_genre(raw: str | None) -> str | None:
    """The canonical genre of a tag ("hip-hop" -> "Hip-Hop"); an unknown tag is kept, title-cased.

    Multi-valued tags ("Rock; Pop", "Rock/Pop") take the first value that is known.
    """
    if not raw or not raw.strip():
        return None
    parts = [p for p in re.split(r"[;/,|]", raw) if p.strip()]
    for part in (raw, *parts):
        key = _key(part)
        if key in _LOOKUP:
            return _LOOKUP[key]
        if key.replace(" ", "") in _LOOKUP:
            return _LOOKUP[key.replace(" ", "")]
    return parts[0].strip().title() if parts else None


def genre_prompts() -> dict[str, str]:
    """Canonical genre -> a short description used to predict a genre from audio (zero-shot)."""
    return {g: f"{g.lower()} music, " + ", ".join(a for a in aliases[:4]) for g, aliases in GENRES.items()}
