"""A workspace: the configuration, the model profile, the Milvus store and the fitted fusion, opened together.

This is where the index's recorded profile is checked: querying an index with another profile is an
error, and indexing with another profile re-embeds everything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from encoders.profile import Profile, load_profile, resolve_profile_name
from store import VectorStore
from store.schema import LAYOUT

from .config import Config
from scan.errors import CrossgenreError, ProfileMismatchError

log = logging.getLogger("crossgenre")


@dataclass
class Workspace:
    config: Config
    profile: Profile
    store: VectorStore
    fusion: object | None  # fusion.FusionModel, or None before the first fit; a refit replaces it here
    # One model call at a time: searches and a re-index share these models, and on a few cores
    # overlapping calls only fight over them.
    model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def close(self) -> None:
        self.store.close()


def _max_windows(config: Config) -> int | None:
    # Config: None = the profile's default, 0 = full coverage; encoders: None = full coverage.
    return config.max_windows


def open_for_indexing(config: Config, profile_name: str | None = None, rebuild: bool = False, exact: bool = False) -> Workspace:
    """Open (or create) the index for writing with the asked profile; a profile switch empties it first.
    exact: embed audio with the encoder's slow reference path (the vectors agree with the fast one's)."""
    name, note = resolve_profile_name(profile_name or config.profile, config.models)
    if note:
        log.warning(note)
    profile = load_profile(name, config.models, max_windows=_max_windows(config), exact=exact)
    store = VectorStore(config.uri, prefix=config.collection_prefix, token=config.milvus_token)
    if store.exists():
        recorded = store.read_meta("versions")
        old_layout = store.layout() != LAYOUT
        older = store.missing_scalars()
        if (rebuild or old_layout or older or (recorded and recorded != profile.versions)
                or store.stored_vector_fields() != profile.vector_fields):
            if old_layout:
                log.warning("The index at %s has an older store layout (%d, now %d); rebuilding it: every song is "
                            "embedded again.", config.uri, store.layout(), LAYOUT)
            elif older:
                log.warning("The index predates the fields %s; re-embedding every song.", ", ".join(older[:4]))
            elif recorded and recorded != profile.versions:
                log.warning("The index was built with %s; re-embedding every song with %s.", _describe(recorded), _describe(profile.versions))
            store.drop()
            _drop_fusion(config)
    store.open(profile.vector_fields, profile.printer.dim)
    store.write_meta("versions", profile.versions)
    return Workspace(config, profile, store, _load_fusion(config, profile))


def open_for_search(config: Config, profile_name: str | None = None) -> Workspace:
    """Open an existing index with the profile it was built with; another profile is a clear error."""
    store = VectorStore(config.uri, prefix=config.collection_prefix, token=config.milvus_token)
    older = store.missing_scalars()
    if older:
        store.close()
        raise CrossgenreError(
            f"the index at {config.uri} was made by an older crossgenre, without {', '.join(older[:4])}: "
            "re-index it with `crossgenre index --rebuild PATH` (your music files are not touched)"
        )
    store.open_existing()
    recorded = store.read_meta("versions") or {}
    built_with = recorded.get("profile", "offline")
    asked = profile_name or config.profile
    if asked not in ("auto", built_with):
        store.close()
        raise ProfileMismatchError(
            f"the index at {config.uri} was built with the {built_with} profile, not {asked}; "
            f"search with --profile {built_with}, or re-index with --profile {asked}"
        )
    profile = load_profile(built_with, config.models, max_windows=_max_windows(config))
    if recorded and {k: v for k, v in recorded.items() if k != "window_policy"} != {
        k: v for k, v in profile.versions.items() if k != "window_policy"
    }:
        store.close()
        raise ProfileMismatchError(
            f"the index was built with {_describe(recorded)}, but this installation has {_describe(profile.versions)}; "
            "re-index with `crossgenre index --rebuild PATH`"
        )
    return Workspace(config, profile, store, _load_fusion(config, profile))


def _describe(versions: dict) -> str:
    return f"the {versions.get('profile')} profile ({versions.get('audio')}, {versions.get('lyrics')}, {versions.get('cover')})"


def _load_fusion(config: Config, profile: Profile):
    from fusion import FusionModel
    from fusion.model import settle

    settle(config.fusion_dir)
    if not (config.fusion_dir / "fusion.json").exists():
        return None
    encoders = {"audio": profile.audio.name, "lyrics": profile.lyrics.name, "cover": profile.cover.name}
    dims = {"audio": profile.audio.dim, "lyrics": profile.lyrics.dim, "cover": profile.cover.dim}
    return FusionModel.load(config.fusion_dir, encoders=encoders, dims=dims)


def _drop_fusion(config: Config) -> None:
    import shutil

    shutil.rmtree(config.fusion_dir, ignore_errors=True)
