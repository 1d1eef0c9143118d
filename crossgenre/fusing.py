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
REFIT_FRACTION = 0.2  # refit when the library grew or shrank by this share since the last fit
PAGE = 256


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
    changed = abs(n - last.get("songs", 0)) / n
    report = None
    if force or ws.fusion is None or changed >= REFIT_FRACTION:
        arrays, masks, _ = _load_vectors(store)
        encoders = {"audio": ws.profile.audio.name, "lyrics": ws.profile.lyrics.name, "cover": ws.profile.cover.name}
        model, report = fit(arrays, masks, seed=0, encoders=encoders)
        model.save(ws.fusion_dir)
        ws.fusion = model
        store.write_meta("fusion", {"version": model.version, "songs": n, "report": report.to_dict()})
        if progress:
            print(report.summary())
    rewrite_joint_vectors(ws)
    return report


def _load_vectors(store):
    ids, cols = [], {m: [] for m in MODALITIES}
    has = {"lyrics": [], "cover": []}
    for row in store.iter_songs(["id", *MODALITIES, "has_lyrics", "has_cover"]):
        ids.append(row["id"])
        for m in MODALITIES:
            cols[m].append(np.asarray(row[m], np.float32))
        has["lyrics"].append(bool(row["has_lyrics"]))
        has["cover"].append(bool(row["has_cover"]))
    arrays = {m: np.stack(v) for m, v in cols.items()}
    masks = {"audio": np.ones(len(ids), bool), "lyrics": np.array(has["lyrics"]), "cover": np.array(has["cover"])}
    return arrays, masks, ids


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
