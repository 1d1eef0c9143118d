"""A workspace: the configuration, the model profile, the Milvus store and the fitted fusion, opened together.

This is where the index's recorded profile is checked: querying an index with another profile is an
error, and indexing with another profile re-embeds everything into a new generation of the index
(store/generations.py), which replaces the current one when the run ends.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
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

    @property
    def fusion_dir(self):
        """Where the fitted fusion of this generation of the index lives: beside the database."""
        return fusion_dir(self.config, self.store.prefix)

    def close(self) -> None:
        self.store.close()


def fusion_dir(config: Config, generation: str) -> Path:
    return Path(config.data_dir) / f"{generation}-fusion"


def _max_windows(config: Config) -> int | None:
    # Config: None = the profile's default, 0 = full coverage; encoders: None = full coverage.
    return config.max_windows


def open_for_indexing(config: Config, profile_name: str | None = None, rebuild: bool = False, exact: bool = False) -> Workspace:
    """Open (or create) the index for writing with the asked profile. When every song must be embedded again
    (another profile or model versions, an older layout, `rebuild`), the workspace writes a new generation
    of the index (or resumes one a killed run left) and the current one answers searches until
    `finish_switch`. exact: embed audio with the encoder's slow reference path (the vectors agree with the
    fast one's)."""
    name, note = resolve_profile_name(profile_name or config.profile, config.models)
    if note:
        log.warning(note)
    profile = load_profile(name, config.models, max_windows=_max_windows(config), exact=exact)
    store = VectorStore(config.uri, prefix=config.collection_prefix, token=config.milvus_token)
    store.drop_retired()  # what a run killed right after its swap left
    why = _why_embed_again(store, profile, rebuild) if store.exists() else None
    if why:
        log.warning("%s; every song is embedded again into new collections, and the current index answers "
                    "searches until this run ends.", why)
        store = store.switch_to(profile.versions)
    else:
        store.drop_pending()  # a switch to other models, abandoned
    _drop_stale_fusions(config, store)
    resumed = store.switching and store.exists()
    store.open(profile.vector_fields)
    if resumed:
        log.warning("Resuming the switch a stopped run began; songs already embedded: %d.", store.count())
    store.write_meta("versions", profile.versions)
    return Workspace(config, profile, store, _load_fusion(fusion_dir(config, store.prefix), profile))


def _why_embed_again(store: VectorStore, profile: Profile, rebuild: bool) -> str | None:
    """Why the existing index cannot take this profile's vectors as it is, or None when it can."""
    recorded = store.read_meta("versions")
    older = store.missing_scalars()
    if rebuild:
        return "Rebuilding the index"
    if store.layout() != LAYOUT:
        return f"The index at {store.uri} has an older store layout ({store.layout()}, now {LAYOUT})"
    if older:
        return f"The index predates the fields {', '.join(older[:4])}"
    if recorded and recorded != profile.versions:
        return f"The index was built with {_describe(recorded)}; this run uses {_describe(profile.versions)}"
    if store.stored_vector_fields() != profile.vector_fields:
        return "The index holds vectors of other sizes than this profile's"
    return None


def finish_switch(ws: Workspace, skipped: list[str], after_swap=None) -> bool:
    """After a run that filled a new generation of the index: make it the active one and drop the old one,
    unless songs the old one holds were skipped (they would vanish from searches; a rerun tries again).
    Returns whether it swapped."""
    if not ws.store.switching:
        return False
    old = ws.store.active_generation()
    lost = [row["path"] for row in old.iter_songs(["path"])] if skipped and old.exists() else []
    lost = set(lost) & set(skipped)
    if lost:
        log.warning("%d songs of the current index could not be embedded again (listed above); it stays the "
                    "active index until a rerun embeds them or they are gone.", len(lost))
        return False
    ws.store.finish_switch(after_swap)
    _drop_stale_fusions(ws.config, ws.store)
    log.info("The new index replaces the old one.")
    return True


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
    return Workspace(config, profile, store, _load_fusion(fusion_dir(config, store.prefix), profile))


def _describe(versions: dict) -> str:
    return f"the {versions.get('profile')} profile ({versions.get('audio')}, {versions.get('lyrics')}, {versions.get('cover')})"


def _load_fusion(folder: Path, profile: Profile):
    from fusion import FusionModel
    from fusion.model import settle

    settle(folder)
    if not (folder / "fusion.json").exists():
        return None
    encoders = {"audio": profile.audio.name, "lyrics": profile.lyrics.name, "cover": profile.cover.name}
    dims = {"audio": profile.audio.dim, "lyrics": profile.lyrics.dim, "cover": profile.cover.dim}
    return FusionModel.load(folder, encoders=encoders, dims=dims)


def _drop_stale_fusions(config: Config, store: VectorStore) -> None:
    """Remove the fitted fusions of generations of this index that are gone (dropped or abandoned)."""
    import shutil

    state = store.generation_state()
    live = {state.get("active", store.base), (state.get("pending") or {}).get("prefix"), state.get("retired")}
    for folder in Path(config.data_dir).glob(f"{store.base}_g*-fusion"):
        if folder.name.removesuffix("-fusion") not in live:
            shutil.rmtree(folder, ignore_errors=True)
    if store.base not in live:
        shutil.rmtree(fusion_dir(config, store.base), ignore_errors=True)
