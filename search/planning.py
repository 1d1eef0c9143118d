"""Planning a query: a Query encoded into its routes (a query vector compared with one kind of stored
vector), and how the text was read. The caller holds the model lock while a plan is made."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoders.fingerprint import clip_speeds, to_print_rate
from scan import decode_audio
from scan.errors import DecodeError, InvalidQueryError

from .feel import clip_feel, text_feel
from .query import Query
from .wording import split_subject

MAX_CLIP_SECONDS = 120.0
MIN_CLIP_SECONDS = 0.5


@dataclass
class Route:
    """One comparison: `vector` against `field` of the songs, restricted by `filter`."""

    name: str
    field: str
    vector: np.ndarray
    filter: str = ""


@dataclass
class Plan:
    """What a query compares: song-level routes, a vector for audio windows, a clip's prints, and how a
    text was read (its sound part, "" when no sound route reads it, and its subject)."""

    routes: list[Route]
    window_vector: np.ndarray | None = None
    prints: list | None = None  # the clip's prints at each speed it is tried at (encoders.fingerprint.clip_speeds)
    clip_seconds: float = 0.0
    sound: str | None = None
    subject: str | None = None
    music: str | None = None  # the tempo, key and mood the text named, as read (search.musical)

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


def plan_query(query: Query, profile, fusion, library_has_lyrics) -> Plan:
    """Encode the query into its routes. `library_has_lyrics()` says whether any song has words."""
    if query.kind == "text":
        return _text_plan(query.text, profile, fusion, library_has_lyrics)
    if query.kind == "audio":
        clip = _decode_clip(query.audio, profile.audio.sample_rate)
        embedding = profile.audio.embed_song(clip)
        vec = embedding.track
        prints = clip_speeds(profile.printer, to_print_rate(clip, profile.audio.sample_rate))
        routes = [Route("audio_track", "audio", vec), Route("joint", "joint", vec)]
        if query.cross_genre:  # the same feel in other genres: tempo, mode, energy, timbre, mood tags
            routes += [Route(n, f, v) for n, (f, v) in clip_feel(profile, clip, embedding.tags).items()]
        return Plan(routes, vec, prints, len(clip) / profile.audio.sample_rate)
    vec = profile.cover.encode([_load_image(query.image)], "image")[0]
    routes = [Route("cover", "cover", vec, "has_cover == true")]
    if _mapped(fusion, "cover"):
        routes.append(Route("joint", "joint", fusion.project("cover", vec[None])[0]))
    return Plan(routes)


def upload_seed(query: Query, profile, fusion) -> dict:
    """An uploaded clip or cover photo (query.audio or query.image) as a seed for songs like it: the vectors a
    song row would hold for it (a clip: its sound, as its joint vector too, and its vector in the description
    space; a photo: its cover and, where the fusion maps covers, its joint vector), and a clip's windows."""
    seed = {"id": "", "has_lyrics": False, "has_cover": query.kind == "image"}
    if query.kind == "audio":
        embedding = profile.audio.embed_song(_decode_clip(query.audio, profile.audio.sample_rate))
        seed |= {"audio": embedding.track, "joint": embedding.track,
                 "windows": [{"start": float(s), "end": float(e), "vector": v}
                             for s, e, v in zip(embedding.starts, embedding.ends, embedding.windows)]}
        if profile.describe_field == "tags":
            seed["tags"] = profile.describe.song_vector(embedding.tags)
    elif query.kind == "image":
        seed["cover"] = profile.cover.encode([_load_image(query.image)], "image")[0]
        if _mapped(fusion, "cover"):
            seed["joint"] = fusion.project("cover", seed["cover"][None])[0]
    else:
        raise InvalidQueryError("the seed must be an audio clip or an image")
    return seed


def _text_plan(text: str, profile, fusion, library_has_lyrics) -> Plan:
    """Sound routes compare the text's sound part, the lyrics routes its subject (search.wording); a text
    that names only a subject has no sound routes, unless no song has words to be about anything."""
    p = profile
    sound, subject = split_subject(text)
    if not sound and not library_has_lyrics():
        sound = text  # the sound routes read it all instead
    feel, sound, music = text_feel(sound)  # tempo, key and mood words; the rest is for the sound routes
    if feel is not None and not sound and not subject:  # "around 120 bpm in A minor": nothing for words
        return Plan([Route("feel", "descriptors", feel)], None, sound="", subject=subject, music=music)
    lyr = p.lyrics.encode([subject or text], "text")[0]
    routes = [Route("lyrics", "lyrics", lyr, "has_lyrics == true")]
    if feel is not None:
        routes.append(Route("feel", "descriptors", feel))
    window_vector = None
    if sound:
        describe = describe_text(p, sound)
        routes.append(Route("sound", p.describe_field, describe))
        if p.describe_field == "audio":  # CLAP's text encoder places a sound in the joint (audio) space
            routes.append(Route("joint", "joint", describe))
            window_vector = describe
    if p.cover_text:
        routes.append(Route("cover_text", "cover", p.cover.encode([text], "text")[0], "has_cover == true"))
    if p.describe_field != "audio" and _mapped(fusion, "lyrics"):
        # the words' encoding, placed in the joint space: it can only judge songs with words
        routes.append(Route("joint", "joint", fusion.project("lyrics", lyr[None])[0], "has_lyrics == true"))
    return Plan(routes, window_vector, sound=sound, subject=subject, music=music)


def describe_text(profile, text: str) -> np.ndarray:
    """A text encoded as a sound description (the sound route's query vector)."""
    return profile.describe.encode([text], "text")[0]


def _mapped(fusion, modality: str) -> bool:
    """Whether the fitted fusion can place this modality in the joint space (it needs enough songs with it)."""
    return fusion is not None and modality in fusion.mapped


def _decode_clip(data: bytes, rate: int) -> np.ndarray:
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


def _load_image(data: bytes):
    from encoders.images import load_image

    try:
        return load_image(data)
    except Exception as exc:  # every way an upload can fail to be an image is the client's problem
        raise InvalidQueryError(f"the image could not be read: {exc}") from None
