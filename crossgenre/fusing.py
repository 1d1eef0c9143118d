"""Joint vectors: the fitted fusion applied to a song's modality vectors, and refits after indexing."""

from __future__ import annotations

import numpy as np

from store import quote


def joint_vector(fusion, vectors: dict, has_lyrics: bool, has_cover: bool) -> np.ndarray:
    """One song's joint vector; with no fitted fusion yet, the audio vector (the joint space is audio space)."""
    if fusion is None:
        return vectors["audio"]
    arrays = {m: np.asarray(vectors[m], np.float32)[None] for m in ("audio", "lyrics", "cover")}
    masks = {"audio": np.array([True]), "lyrics": np.array([has_lyrics]), "cover": np.array([has_cover])}
    return fusion.joint(arrays, masks)[0]


MODALITIES = ("audio", "lyrics", "cover")
REFIT_FRACTION = 0.2  # refit when the library grew or shrank by this share since the last fit ...
SETTLED_SONGS = 10_000  # ... but once a fit has seen a library this large, only when it doubled or halved
FIT_SAMPLE = 20_000  # a fit reads every song but keeps at most this many (a uniform sample)
PAGE = 256


def needs_refit(songs: int, fitted_on: int) -> bool:
    """Whether a library of `songs` songs needs a new fit, the last one made when it had `fitted_on`.

    Every refit rewrites every joint vector, so a library that grows run by run is refitted often while
    small (each fit learns much) and rarely once large: 6 times on the way from 10,000 songs to a
    million, 1,000 songs a run, where a fixed 20 % would refit 19 times."""
    if fitted_on <= 0:
        return songs > 0
    if fitted_on >= SETTLED_SONGS:
        return songs >= 2 * fitted_on or 2 * songs <= fitted_on
    return abs(songs - fitted_on) / max(songs, 1) >= REFIT_FRACTION


def refit_if_needed(ws, progress: bool = True, force: bool = False):
    """Fit the fusion again when the library changed enough (or when asked), then rewrite joint vectors.

    The fitted model is saved beside the database before any row changes; rows whose joint vector was
    made by another fusion version are rewritten, so a run killed half-way is finished by the next one.
    Returns the FitReport, or None when no fit was needed.
    """
    from fusion import fit

    store = ws.store
    n = store.count()
    if n == 0:
        return None
    last = store.read_meta("fusion", {})
    report = None
    if force or ws.fusion is None or needs_refit(n, last.get("songs", 0)):
        arrays, masks, _ = sample_vectors(store, FIT_SAMPLE)
        encoders = {"audio": ws.profile.audio.name, "lyrics": ws.profile.lyrics.name, "cover": ws.profile.cover.name}
        model, report = fit(arrays, masks, seed=0, encoders=encoders)
        model.save(ws.fusion_dir)
        ws.fusion = model
        store.write_meta("fusion", {"version": model.version, "songs": n, "fitted_on": len(arrays["audio"]),
                                    "report": report.to_dict()})
        if progress:
            print(report.summary())
    rewrite_joint_vectors(ws)
    return report


def sample_vectors(store, limit: int, seed: int = 0):
    """The modality vectors of every song, or of a uniform sample of `limit` songs when there are more
    (one reservoir pass over the songs in pages: memory stays that of `limit` songs).
    Returns (arrays {modality: (n, dim)}, masks {modality: (n,) bool}, song ids)."""
    rng = np.random.default_rng(seed)
    kept: list[dict] = []
    for seen, row in enumerate(store.iter_songs(["id", *MODALITIES, "has_lyrics", "has_cover"])):
        slot = seen if seen < limit else int(rng.integers(0, seen + 1))
        if slot >= limit:
            continue
        row = {"id": row["id"], "has_lyrics": bool(row["has_lyrics"]), "has_cover": bool(row["has_cover"]),
               **{m: np.asarray(row[m], np.float32) for m in MODALITIES}}
        if slot == len(kept):
            kept.append(row)
        else:
            kept[slot] = row
    arrays = {m: np.stack([r[m] for r in kept]) for m in MODALITIES}
    masks = {"audio": np.ones(len(kept), bool), "lyrics": np.array([r["has_lyrics"] for r in kept]),
             "cover": np.array([r["has_cover"] for r in kept])}
    return arrays, masks, [r["id"] for r in kept]


def rewrite_joint_vectors(ws) -> int:
    """Give every song whose joint vector came from another fusion version one from the current fusion."""
    if ws.fusion is None:
        return 0
    version = ws.fusion.version
    stale = f"fusion_version != {quote(version)}"
    done = 0
    while True:
        rows = ws.store.query_rows(stale, PAGE)
        if not rows:
            return done
        arrays = {m: np.stack([np.asarray(r[m], np.float32) for r in rows]) for m in MODALITIES}
        masks = {"audio": np.ones(len(rows), bool), "lyrics": np.array([bool(r["has_lyrics"]) for r in rows]),
                 "cover": np.array([bool(r["has_cover"]) for r in rows])}
        joint = ws.fusion.joint(arrays, masks)
        for r, j in zip(rows, joint):
            r["joint"], r["fusion_version"] = j, version
        ws.store.upsert_rows(rows)
        done += len(rows)
