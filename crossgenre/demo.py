"""`crossgenre demo`: index the 28 real tracks of the immich-memories-music package, show searches, serve.

The tracks come as folders by mood (calm, energetic, happy, nostalgic, tender) and names by style
(acoustic, electronic). The demo copies them into <data_dir>/demo-library, one album per mood with a
generated cover, so text, clip and cover queries all have something real to find.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
from pathlib import Path

import numpy as np

from scan.errors import CrossgenreError

MOOD_COLOURS = {
    "calm": ((40, 90, 140), (170, 210, 230)),
    "energetic": ((200, 40, 30), (250, 200, 40)),
    "happy": ((250, 170, 40), (120, 200, 90)),
    "nostalgic": ((120, 80, 60), (220, 190, 150)),
    "tender": ((200, 120, 160), (240, 220, 235)),
}


def demo_tracks_dir() -> Path:
    spec = importlib.util.find_spec("immich_memories_music")
    if spec is None or not spec.submodule_search_locations:
        raise CrossgenreError("the demo needs the PyPI package immich-memories-music: pip install immich-memories-music")
    return Path(list(spec.submodule_search_locations)[0]) / "tracks"


def make_cover(mood: str, size: int = 600):
    """A generated album cover for one mood: a two-colour gradient with a few shapes (deterministic)."""
    from PIL import Image, ImageDraw

    a, b = MOOD_COLOURS.get(mood, ((60, 60, 60), (200, 200, 200)))
    t = np.linspace(0, 1, size)[:, None, None]
    grad = (np.array(a) * (1 - t) + np.array(b) * t).astype(np.uint8)
    img = Image.fromarray(np.repeat(grad, size, axis=1), "RGB")
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(sum(map(ord, mood)))
    for _ in range(6):
        x, y, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 12, size // 4))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x - r, y - r, x + r, y + r], fill=colour)
    return img


def build_demo_library(dest: Path) -> list[Path]:
    """Copy the demo tracks into dest/<mood>/, tag them (title, artist, album = mood) and add cover.png per album."""
    from mutagen.oggopus import OggOpus

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sorted(demo_tracks_dir().glob("*/*.opus")):
        mood = src.parent.name
        target = dest / mood / src.name
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            shutil.copy2(src, target)
            tags = OggOpus(target)
            tags["title"] = src.stem.replace("_", " ").title()
            tags["artist"] = "immich-memories-music"
            tags["album"] = f"{mood.title()} Moments"
            tags.save()
        cover = target.parent / "cover.png"
        if not cover.exists():
            make_cover(mood).save(cover)
        out.append(target)
    return out


def phone_photo(image, seed: int = 0) -> bytes:
    """A JPEG 'photo' of a cover: cropped, slightly rotated, dimmer, recompressed."""
    from PIL import ImageEnhance

    w, h = image.size
    img = image.crop((int(w * 0.06), int(h * 0.05), int(w * 0.95), int(h * 0.93))).rotate(4 + seed, expand=False)
    img = ImageEnhance.Brightness(img).enhance(0.85)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=45)
    return buf.getvalue()


def clip_bytes(path: Path, start: float, seconds: float) -> bytes:
    """A WAV clip cut from a song (what a user would record or trim), as file bytes."""
    import soundfile as sf

    from scan import decode_audio

    rate = 44100
    audio = decode_audio(path, rate)[int(start * rate): int((start + seconds) * rate)]
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV")
    return buf.getvalue()


def run_demo(config, args) -> int:
    from dataclasses import replace

    from encoders.device import configure_threads
    from search import Query, SearchEngine

    from .cli import format_hits
    from .indexer import index_library
    from .workspace import open_for_indexing

    library = Path(config.data_dir) / "demo-library"
    tracks = build_demo_library(library)
    print(f"Demo library: {len(tracks)} real tracks in {library}")
    configure_threads()
    ws = open_for_indexing(config, args.profile)
    try:
        report = index_library(ws, [library], progress=not args.quiet)
        print(report.summary())
        engine = SearchEngine(ws)
        examples = [
            ('Text: "calm acoustic guitar"', Query(text="calm acoustic guitar", k=5)),
            ('Text: "upbeat electronic dance"', Query(text="upbeat electronic dance", k=5)),
            (f"Clip: 10 s of {tracks[3].name}", Query(audio=clip_bytes(tracks[3], 8.0, 10.0), k=5)),
            ("Cover: a phone photo of the 'Energetic Moments' cover", Query(image=phone_photo(make_cover("energetic")), k=5)),
        ]
        for title, query in examples:
            print(f"\n{title}")
            print(format_hits(engine.search(query)))
    finally:
        ws.close()
    if args.no_serve:
        return 0
    from .serve import serve

    return serve(replace(config, library=(str(library),)), args.profile)
