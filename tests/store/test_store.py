"""VectorStore against Milvus Lite and a real Milvus server: writes, deletes, searches, filters, meta."""

import uuid

import numpy as np
import pytest

from encoders.fingerprint import CODE_BANDS, DIM, TIME_SCALE, print_keys
from scan.errors import CrossgenreError
from store import SongRecord, VectorStore

FIELDS = {"audio": 16, "lyrics": 8, "cover": 12, "joint": 16, "tags": 6}


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def record(i, rng, genre="Rock", year=2000, lyrics=True, windows=3, prints=25):
    row = {
        "id": f"song{i:03d}", "path": f"/music/{i}.flac", "content_hash": f"h{i}", "mtime": 1.0, "size": 10,
        "title": f"Song {i}", "artist": f"Artist {i % 3}", "album": f"Album {i % 4}", "album_artist": "",
        "genre": genre, "genre_source": "tag", "raw_genre": genre.lower(), "year": year, "track_number": i,
        "duration": 30.0, "musicbrainz_track_id": "", "musicbrainz_album_id": "", "musicbrainz_artist_id": "",
        "has_lyrics": lyrics, "has_cover": False, "lyrics_source": "", "cover_source": "", "profile": "offline",
        "fusion_version": "none", "extra": {"top_tags": [["rock", 0.9]]},
    }
    for name, dim in FIELDS.items():
        row[name] = unit(rng, 1, dim)[0]
    starts = np.arange(windows) * 3.0
    return SongRecord(row, starts, starts + 3.0, unit(rng, windows, FIELDS["audio"]),
                      ["first verse", "chorus"] if lyrics else [], unit(rng, 2, FIELDS["lyrics"]) if lyrics else None,
                      print_starts=np.arange(float(prints)), print_vectors=unit(rng, prints, DIM))


@pytest.fixture
def store(store_uri):
    s = VectorStore(store_uri, prefix="t" + uuid.uuid4().hex[:8])
    s.open(FIELDS)
    yield s
    s.drop()
    s.close()


def test_write_search_and_filters(store):
    rng = np.random.default_rng(0)
    recs = [record(i, rng, genre="Rock" if i % 2 else "Jazz", year=1990 + i) for i in range(20)]
    store.write_songs(recs)
    assert store.count() == 20
    assert store.count_parts() == (60, 40)
    target = recs[7].row
    hits = store.search("audio", target["audio"], 5)
    assert hits[0]["id"] == "song007" and hits[0]["distance"] == pytest.approx(1.0, abs=1e-4)
    rock = store.search("audio", target["audio"], 20, filter='genre == "Jazz"', output_fields=["genre"])
    assert rock and all(h["entity"]["genre"] == "Jazz" for h in rock)
    assert "song007" not in [h["id"] for h in rock]
    years = store.search("audio", target["audio"], 20, filter="year >= 2000 and year <= 2003")
    assert sorted(h["id"] for h in years) == ["song010", "song011", "song012", "song013"]


def test_rewrite_replaces_windows_and_chunks(store):
    rng = np.random.default_rng(1)
    store.write_songs([record(1, rng, windows=5)])
    store.write_songs([record(1, rng, windows=2, lyrics=False)])
    assert store.count() == 1
    assert store.count_parts() == (2, 0)
    w = store.search_windows(store.get_songs(["song001"], ["audio"])["song001"]["audio"], 10)
    assert {h["entity"]["song_id"] for h in w} == {"song001"}


def test_delete_removes_song_and_parts(store):
    rng = np.random.default_rng(2)
    store.write_songs([record(i, rng) for i in range(4)])
    store.delete_songs(["song001", "song002"])
    assert store.count() == 2
    assert store.count_parts() == (6, 4)
    assert set(store.get_songs(["song000", "song001", "song003"])) == {"song000", "song003"}


def _excerpt(rec, first, n):
    """A stretch of a song's own prints as a clip at one speed: the prints, and their starts one a second."""
    return [(rec.print_vectors[first : first + n], np.arange(float(n)))]


def test_a_stretch_of_prints_finds_its_song_and_place_and_goes_with_its_song(store):
    rng = np.random.default_rng(7)
    recs = [record(i, rng) for i in range(3)]
    store.write_songs(recs)
    found = store.find_clip(_excerpt(recs[1], 12, 8))  # seconds 12-19: across the second and third rows
    assert found[0].song_id == "song001" and found[0].offset == pytest.approx(12 * TIME_SCALE)  # real seconds
    assert found[0].votes >= 8 * CODE_BANDS  # every exact code of the stretch, and any probe near it
    assert max((m.votes for m in found[1:]), default=0.0) < 2  # chance: no other song, or a stray vote
    store.delete_songs(["song001"])
    gone, kept = store.find_clip(_excerpt(recs[1], 0, 25)), store.find_clip(_excerpt(recs[0], 0, 25))
    assert kept[0].song_id == "song000"  # the lists were rebuilt, not emptied
    assert gone + kept and all(m.song_id != "song001" for m in gone + kept)
    store.write_songs([recs[1]])  # and back, found again by a process that had built the lists before
    assert store.find_clip(_excerpt(recs[1], 20, 5))[0].song_id == "song001"


def test_chunks_keep_text_and_are_read_by_song(store):
    rng = np.random.default_rng(4)
    recs = [record(i, rng, lyrics=i != 1) for i in range(4)]
    store.write_songs(recs)
    found = store.song_chunks(["song000", "song001", "song002"])
    assert sorted((c["song_id"], c["text"]) for c in found) == [
        ("song000", "chorus"), ("song000", "first verse"), ("song002", "chorus"), ("song002", "first verse")]
    chorus = next(c for c in found if c["song_id"] == "song000" and c["text"] == "chorus")
    np.testing.assert_allclose(chorus["vector"], recs[0].chunk_vectors[1], atol=1e-6)


def test_meta_and_iteration(store):
    rng = np.random.default_rng(5)
    store.write_songs([record(i, rng) for i in range(25)])
    store.write_meta("versions", {"profile": "offline", "audio": "x"})
    assert store.read_meta("versions") == {"profile": "offline", "audio": "x"}
    assert store.read_meta("absent", "d") == "d"
    ids = [row["id"] for row in store.iter_songs(["id"])]
    assert sorted(ids) == [f"song{i:03d}" for i in range(25)]


def test_values_with_quotes_are_safe(store):
    rng = np.random.default_rng(6)
    rec = record(0, rng, genre='Rock "n" Roll\\')
    store.write_songs([rec])
    import json

    hits = store.search("audio", rec.row["audio"], 5, filter=f"genre == {json.dumps(rec.row['genre'])}")
    assert [h["id"] for h in hits] == ["song000"]


def test_mismatched_dimensions_are_a_clear_error(store):
    other = VectorStore(store.uri, prefix=store.prefix) if store.is_server else store
    with pytest.raises(CrossgenreError, match="re-index"):
        other.open({**FIELDS, "audio": 32})


def test_locked_lite_file_is_a_clear_error(tmp_path):
    import subprocess
    import sys
    import time

    from scan.errors import StoreLockedError

    db = tmp_path / "locked.db"
    holder = subprocess.Popen([sys.executable, "-W", "ignore", "-c",
                               f"from pymilvus import MilvusClient; import time; c = MilvusClient({str(db)!r}); print('ready', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="another crossgenre process"):
            VectorStore(str(db))
    finally:
        holder.kill()
        holder.wait()


def test_parts_are_keyed_by_song_and_number_and_a_rewrite_leaves_no_stale_part(store):
    rng = np.random.default_rng(8)
    first = record(1, rng, windows=5)
    store.write_songs([first, record(2, rng)])
    shorter = record(1, rng, windows=2, lyrics=False)
    shorter.print_starts, shorter.print_vectors = np.arange(2.0), unit(rng, 2, DIM)
    store.write_songs([shorter])
    keys = store.song_print_keys(["song001", "song002"])
    assert np.array_equal(keys["song001"], print_keys(shorter.print_vectors))
    assert len(keys["song002"]) == 25
    assert len(store.song_windows(["song001"])) == 2 and len(store.song_windows(["song002"])) == 3
    # a row a block of 10 prints: song001's one, song002's three: key, count, the base64 of 10 prints of
    # 15 bytes with its offset, a 2-d placeholder vector
    assert store.stored_parts()["prints"] == {"rows": 4, "bytes_per_row": 8 + 8 + 200 + 8 + 8}


def test_song_parts_are_every_part_of_the_asked_songs_and_no_other(store, monkeypatch):
    import store.reads as reads

    rng = np.random.default_rng(11)
    recs = [record(i, rng, windows=1 + i % 4) for i in range(8)]
    store.write_songs(recs)
    monkeypatch.setattr(reads, "MAX_SEARCH_LIMIT", 3)  # songs spread over several reads, one song over two
    monkeypatch.setattr(store, "window_copies", None)  # Milvus's own reads (tests/store/test_window_copies.py: the copy)
    asked = [r.row["id"] for r in recs[1:7]]
    got = {}
    for w in store.song_windows(asked + ["no-such-song"]):
        got.setdefault(w["song_id"], []).append(w)
    assert sorted(got) == sorted(asked)
    for r in recs[1:7]:
        mine = sorted(got[r.row["id"]], key=lambda w: w["start"])
        assert [w["start"] for w in mine] == list(r.window_starts)
        assert np.allclose([w["vector"] for w in mine], r.window_vectors, atol=1e-6)
    assert store.song_windows([]) == []


def test_prints_are_filtered_through_their_song_rows(store):
    rng = np.random.default_rng(9)
    recs = [record(i, rng, genre="Rock" if i % 2 else "Jazz") for i in range(4)]
    store.write_songs(recs)
    assert store.ids_passing(["song000", "song001", "song003"], 'genre == "Rock"') == {"song001", "song003"}
    assert store.songs_by_key([store.get_songs(["song002"], ["key"])["song002"]["key"]], 'genre == "Rock"') == {}


def test_an_index_of_another_layout_is_refused_with_a_clear_message(store):
    store.write_meta("layout", 1)
    other = VectorStore(store.uri, prefix=store.prefix) if store.is_server else store
    with pytest.raises(CrossgenreError, match="layout 1.*--rebuild"):
        other.open_existing()


def test_closing_one_store_leaves_another_on_the_same_index_open(tmp_path):
    """A CLI command run inside a server's process opens and closes its own store on the server's index."""
    uri = str(tmp_path / "shared.db")
    first = VectorStore(uri, prefix="t")
    first.open(FIELDS)
    first.write_songs([record(0, np.random.default_rng(0))])
    second = VectorStore(uri, prefix="t")
    second.open_existing()
    second.close()
    assert first.count() == 1
    first.close()


def _part_keys(store, collection):
    rows = store.client.query(collection, filter="id >= 0", output_fields=["id"], limit=16384)
    return [r["id"] for r in rows]


def test_parts_a_killed_write_left_are_replaced_not_doubled(store):
    """Parts are inserted (an upsert would cost a delete); a write killed between its parts and its song rows
    leaves a record of those parts, which the next write uses to delete them first."""
    rng = np.random.default_rng(6)

    def killed(*args):
        raise KeyboardInterrupt("killed between the parts and the song rows")

    old = record(1, rng, windows=4)
    store.write_songs([old])
    with pytest.raises(KeyboardInterrupt):  # a new song and a re-index of song001, both killed
        store.write_songs([record(2, rng, windows=5), record(1, rng, windows=6)], after_parts=killed)
    assert store.count() == 1  # song002 has no row; song001's row is the old one
    store.write_songs([record(3, rng, windows=2)])  # another batch: song002's orphan parts go, song001's stay
    keys = _part_keys(store, store.windows)
    assert len(keys) == len(set(keys)) == 6 + 2
    store.write_songs([record(2, rng, windows=3), record(1, rng, windows=2)])  # the resumed run
    keys = _part_keys(store, store.windows)
    assert len(keys) == len(set(keys)) == 2 + 3 + 2
    assert store.count() == 3 and store.count_parts()[0] == 7
