"""Configuration: defaults, then a TOML file, then CROSSGENRE_* environment variables, then command-line flags.

One frozen dataclass is passed to whatever needs it; nothing reads configuration from a global.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from scan.errors import CrossgenreError


def default_model_dir() -> Path:
    from encoders.models import default_model_dir as models_default

    return models_default()


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")  # Milvus Lite file, fusion model, caches
    milvus_uri: str = ""  # empty: Milvus Lite file <data_dir>/crossgenre.db; or http://host:19530
    milvus_token: str = ""
    collection_prefix: str = "crossgenre"
    model_dir: Path = Path()  # empty: default_model_dir()
    profile: str = "auto"  # full | offline | auto
    max_windows: int | None = None  # None: the profile's default window sampling; 0: full coverage
    library: tuple[str, ...] = ()  # folders `serve` indexes on POST /api/index
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = ""  # bearer token for write endpoints; empty: write endpoints are off
    threads: int = 8  # server worker threads
    batch_size: int = 16  # songs written per batch while indexing
    subsonic_url: str = ""  # the Subsonic-API server `subsonic push` sends playlists to
    subsonic_user: str = ""  # its user (the password only from CROSSGENRE_SUBSONIC_PASSWORD)

    @property
    def uri(self) -> str:
        return self.milvus_uri or str(Path(self.data_dir) / "crossgenre.db")

    @property
    def models(self) -> Path:
        return Path(self.model_dir) if str(self.model_dir) not in ("", ".") else default_model_dir()


ENV_PREFIX = "CROSSGENRE_"


def _coerce(name: str, value, current):
    if name == "library":
        return tuple(value) if isinstance(value, (list, tuple)) else tuple(str(value).split(os.pathsep))
    if name in ("data_dir", "model_dir"):
        return Path(value)
    if name == "max_windows":
        return None if value in (None, "") else int(value)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    return str(value)


def load_config(config_file: str | None = None, **overrides) -> Config:
    """Build the configuration; `overrides` are command-line flags (None means not given)."""
    values: dict = {}
    path = Path(config_file) if config_file else Path(os.environ.get(ENV_PREFIX + "CONFIG", "crossgenre.toml"))
    if config_file and not path.exists():
        raise CrossgenreError(f"config file {path} does not exist")
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise CrossgenreError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name: f for f in fields(Config)}
    unknown = set(values) - set(known)
    if unknown:
        raise CrossgenreError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    for name in known:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    base = Config()
    try:
        return replace(base, **{k: _coerce(k, v, getattr(base, k)) for k, v in values.items()})
    except ValueError as exc:
        raise CrossgenreError(f"bad setting: {exc}") from None
