"""SongRow: the one declaration of a song's stored fields (what the indexer fills, the store writes and
clients see)."""

from __future__ import annotations

import dataclasses

import numpy as np

from store.schema import PUBLIC_SONG_FIELDS, SONG_SCALARS, SongRow, song_schema


def test_a_song_row_writes_every_scalar_fitted_and_shows_only_public_fields():
    row = SongRow(id="ab12", path="/music/a.flac", title="Tit\x00le" + "é" * 600, year=-3, bpm=float("nan"),
                  track_number=2**70, has_lyrics=1, extra={"decoder": "pyav"},
                  vectors={"audio": np.ones(4, np.float32)}).as_row()
    assert set(row) == {"id", "audio", *(name for name in SONG_SCALARS if name != "key")}  # the store sets key
    assert row["title"].startswith("Title") and len(row["title"].encode()) <= SONG_SCALARS["title"][1]
    assert (row["year"], row["track_number"], row["bpm"], row["has_lyrics"]) == (0, 0, 0.0, True)
    assert row["path"] == "/music/a.flac" and row["extra"] == {"decoder": "pyav"} and row["genre"] == ""
    shown = SongRow.public({**row, "id": "ab12"})
    assert list(shown) == list(PUBLIC_SONG_FIELDS) and "path" not in shown and "content_hash" not in shown
    assert shown["title"] == row["title"]


def test_the_songs_collection_has_a_field_per_song_row_scalar():
    declared = [f.name for f in dataclasses.fields(SongRow) if "milvus" in f.metadata]
    schema = song_schema({"audio": 4, "joint": 4})
    assert [f.name for f in schema.fields] == ["id", *declared, "audio", "joint"]
