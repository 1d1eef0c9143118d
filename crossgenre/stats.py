"""Index statistics: how many songs, with lyrics and covers, by genre, and how the index was built."""

from __future__ import annotations

from collections import Counter

from .workspace import Workspace

MILVUS_ROW_BYTES = 16  # what Milvus itself keeps for every row: a row id and a timestamp


def collect_stats(ws: Workspace) -> dict:
    store = ws.store
    genres: Counter = Counter()
    predicted = lyrics = covers = 0
    seconds = 0.0
    for row in store.iter_songs(["genre", "genre_source", "has_lyrics", "has_cover", "duration"]):
        genres[row["genre"] or "unknown"] += 1
        predicted += row["genre_source"] == "predicted"
        lyrics += bool(row["has_lyrics"])
        covers += bool(row["has_cover"])
        seconds += row["duration"] or 0.0
    windows, chunks = store.count_parts()
    parts = store.stored_parts()
    return {
        "songs": store.count(),
        "with_lyrics": lyrics,
        "with_cover": covers,
        "hours": round(seconds / 3600, 2),
        "audio_windows": windows,
        "lyric_chunks": chunks,
        # what each stored kind of vector costs per second of audio, row overhead included
        "bytes_per_audio_second": {kind: round((p["rows"] * (p["bytes_per_row"] + MILVUS_ROW_BYTES)) / seconds, 1)
                                   if seconds else 0.0 for kind, p in parts.items()},
        "genres": dict(genres.most_common()),
        "predicted_genres": predicted,
        "versions": store.read_meta("versions", {}),
        "fusion": store.read_meta("fusion", {}),
        "milvus": store.uri,
    }


def format_stats(s: dict) -> str:
    v = s["versions"]
    lines = [
        f"Songs:        {s['songs']} ({s['hours']} h of audio)",
        f"With lyrics:  {s['with_lyrics']}",
        f"With cover:   {s['with_cover']}",
        f"Audio windows {s['audio_windows']} searched, lyric chunks {s['lyric_chunks']}",
        "Stored bytes per second of audio: " + ", ".join(f"{k} {v}" for k, v in s["bytes_per_audio_second"].items()),
        f"Profile:      {v.get('profile')} (audio {v.get('audio')}, {v.get('window_policy')} windows; "
        f"lyrics {v.get('lyrics')}; covers {v.get('cover')})",
        f"Fusion:       {s['fusion'].get('version', 'not fitted yet')}",
        f"Milvus:       {s['milvus']}",
        "Genres:       " + ", ".join(f"{g} {n}" for g, n in s["genres"].items())
        + (f" ({s['predicted_genres']} predicted from audio)" if s["predicted_genres"] else ""),
    ]
    return "\n".join(lines)
