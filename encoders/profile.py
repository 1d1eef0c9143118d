"""Model profiles: which encoder fills each role, built through one code path.

A profile is a JSON file in encoders/profiles/ naming, for each role, an encoder family and its
settings. Roles:
  audio     songs' and query clips' audio (AudioEncoder)
  describe  description text ("slow brushed drums") -> a vector compared with the `describe_field`
            of each song (full: CLAP text tower vs audio vectors; offline: the tag bridge vs tags)
  lyrics    lyrics and text queries about words (sentence-transformers)
  cover     album art; with the "text" modality it also answers text -> cover queries
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scan.errors import CrossgenreError, ModelMissingError

from .base import AudioEncoder, Encoder
from .descriptors import FEEL_DIM
from .descriptors import NAME as DESCRIPTORS_NAME
from .fingerprint import AudioPrinter

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES = ("full", "offline")

# family name -> "module:function" that builds the encoder from (settings dict, model_dir)
FAMILIES = {
    "clap_audio": "encoders.clap:build_audio",
    "clap_text": "encoders.clap:build_text",
    "openclip": "encoders.openclip:build",
    "sbert": "encoders.sbert:build",
    "musicnn": "encoders.musicnn:build",
    "tag_bridge": "encoders.tag_bridge:build",
    "cover_descriptor": "encoders.cover_descriptor:build",
}


@dataclass
class Profile:
    """The encoders of one profile, and the vector fields (name -> dim) a song index needs for it."""

    name: str
    audio: AudioEncoder
    describe: Encoder
    describe_field: str
    lyrics: Encoder
    cover: Encoder
    settings: dict = field(default_factory=dict)
    printer: AudioPrinter = field(default_factory=AudioPrinter)  # model-free: which song a clip came from
    _genres: tuple | None = field(default=None, repr=False)  # genre names and their describe vectors, made once

    @property
    def vector_fields(self) -> dict[str, int]:
        fields = {"audio": self.audio.dim, "lyrics": self.lyrics.dim, "cover": self.cover.dim, "joint": self.audio.dim,
                  "descriptors": FEEL_DIM}
        if self.describe_field not in fields:
            fields[self.describe_field] = self.describe.dim
        return fields

    @property
    def versions(self) -> dict[str, str]:
        """Role -> model id; stored with the index so a mismatch is caught before a query."""
        return {
            "profile": self.name,
            "audio": self.audio.name,
            "window_policy": self.audio.window_policy,
            "describe": self.describe.name,
            "lyrics": self.lyrics.name,
            "cover": self.cover.name,
            "print": self.printer.name,
            "descriptors": DESCRIPTORS_NAME,
        }

    def predict_genre(self, describe_vector: np.ndarray) -> str:
        """The genre whose description lies nearest a sound (a vector in `describe_field` space), zero-shot."""
        from scan.genres import genre_prompts

        if self._genres is None:
            prompts = genre_prompts()
            self._genres = (list(prompts), self.describe.encode(list(prompts.values()), "text"))
        names, vectors = self._genres
        return names[int(np.argmax(vectors @ describe_vector))]

    @property
    def cover_text(self) -> bool:
        """Whether the cover encoder can place text in cover space (text -> cover queries)."""
        return "text" in self.cover.modalities


def read_profile_settings(name: str, model_dir: Path | None = None) -> dict:
    """A profile's settings: `<model_dir>/<name>.json` when the model folder carries its own (for other
    checkpoints or architectures than the defaults), else the one shipped in encoders/profiles/."""
    own = Path(model_dir) / f"{name}.json" if model_dir is not None else None
    path = own if own is not None and own.is_file() else PROFILE_DIR / f"{name}.json"
    if not path.exists():
        raise CrossgenreError(f"unknown model profile {name!r}; choose one of: {', '.join(PROFILES)}, auto")
    return json.loads(path.read_text())


def build_encoder(role_settings: dict, model_dir: Path):
    family = role_settings["family"]
    if family not in FAMILIES:
        raise CrossgenreError(f"unknown encoder family {family!r}; known: {', '.join(FAMILIES)}")
    module_name, func = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module_name), func)(role_settings, Path(model_dir))


def full_profile_missing(model_dir: Path) -> list[str]:
    """Files the full profile needs that are not in model_dir (empty when it can load)."""
    from .models import missing_files

    return missing_files(read_profile_settings("full", model_dir), Path(model_dir))


def resolve_profile_name(name: str, model_dir: Path) -> tuple[str, str | None]:
    """'auto' -> 'full' when its weights are present, else 'offline' with a one-line note why."""
    if name != "auto":
        return name, None
    missing = full_profile_missing(model_dir)
    if not missing:
        return "full", None
    return "offline", (
        f"Using the offline profile: the full profile's weights are not in {model_dir} "
        f"(missing {missing[0]}). Run `crossgenre models download` on a machine with a network to get them."
    )


def load_profile(name: str, model_dir: Path, max_windows: int | None = None, exact: bool = False) -> Profile:
    """Build the encoders of profile `name` ('full' or 'offline') from model_dir.

    exact: the audio encoder's reference path (torch in fp32, whole-song front end) instead of its fast
    one (ONNX Runtime on a CPU, fp16 on a GPU), whose vectors agree with it within rounding.

    Raises ModelMissingError, naming the file and the download command, when weights are absent.
    """
    settings = read_profile_settings(name, model_dir)
    if name == "full":
        missing = full_profile_missing(model_dir)
        if missing:
            raise ModelMissingError(
                f"the full profile needs {missing[0]} in {model_dir}; run `crossgenre models download "
                f"--model-dir {model_dir}` on a machine with a network, or use --profile offline"
            )
    audio_settings = dict(settings["audio"])
    if max_windows is not None:
        audio_settings["max_windows"] = max_windows
    if exact:
        audio_settings["exact"] = True
    audio = build_encoder(audio_settings, model_dir)
    return Profile(
        name=name,
        audio=audio,
        describe=build_encoder(settings["describe"], model_dir) if settings["describe"]["family"] != "same_as_audio" else audio,
        describe_field=settings["describe_field"],
        lyrics=build_encoder(settings["lyrics"], model_dir),
        cover=build_encoder(settings["cover"], model_dir),
        settings=settings,
    )
