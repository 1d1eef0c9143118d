"""The calibration sample: random over the library, the same for one library, new when the library changes."""

import hashlib

import numpy as np
import pytest

from search.ranking import calibration_sample
from store import SongRecord, VectorStore

FIELDS = {"audio": 8, "lyrics": 4, "cover": 4, "joint": 8, "tags": 4}


def record(i: int, rng) -> SongRecord:
    sid = hashlib.blake2b(f"/music/{i}.flac".encode(), digest_size=8).hexdigest()  # ids are path hashes
    row = {"id": sid, "path": f"/music/{i}.flac", "content_hash": "h", "mtime": 1.0, "size": 1, "title": str(i),
           "artist": "", "album": "", "album_artist": "", "genre": "Rock" if i % 2 else "Jazz", "genre_source": "tag",
           "raw_genre": "", "year": 2000, "track_number": i, "duration": 1.0, "musicbrainz_track_id": "",
           "musicbrainz_album_id": "", "musicbrainz_artist_id": "", "has_lyrics": False, "has_cover": False,
           "lyrics_source": "", "cover_source": "", "profile": "offline", "fusion_version": "none", "extra": {}}
    for name, dim in FIELDS.items():
        v = rng.normal(size=dim).astype(np.float32)
        row[name] = v / np.linalg.norm(v)
    return SongRecord(row, np.zeros(1), np.ones(1), row["audio"][None], [], None)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = VectorStore(str(tmp_path_factory.mktemp("sample") / "index.db"), prefix="sample")
    s.open(FIELDS)
    records = [record(i, np.random.default_rng(i)) for i in range(300)]
    s.write_songs(records)
    yield s, records
    s.close()


def ids_of(sample: np.ndarray, records) -> list[int]:
    by_vector = {r.row["audio"].tobytes(): i for i, r in enumerate(records)}
    return sorted(by_vector[v.astype(np.float32).tobytes()] for v in sample)


def test_the_sample_is_random_and_follows_the_library(store):
    s, records = store
    first = ids_of(calibration_sample(s, "audio", 'genre == "Rock"', 8), records)
    assert len(first) == 8 and all(i % 2 for i in first)  # stored vectors of songs the filter lets through
    rock = [i for i in range(len(records)) if i % 2]
    assert first != rock[:8]  # not the first rows written
    assert first != sorted(sorted(rock, key=lambda i: records[i].row["id"])[:8])  # nor the first ids
    assert ids_of(calibration_sample(s, "audio", 'genre == "Rock"', 8), records) == first  # one library, one sample
    extra = record(301, np.random.default_rng(301))  # one more song, written last
    s.write_songs([extra])
    try:
        assert ids_of(calibration_sample(s, "audio", 'genre == "Rock"', 8), [*records, extra]) != first
    finally:
        s.delete_songs([extra.row["id"]])


def test_route_names_come_from_one_list():
    from search.engine import DEFAULT_WEIGHTS, KIND_DEFAULTS
    from search.query import PARAM, ROUTE_NAMES

    assert set(DEFAULT_WEIGHTS) == set(ROUTE_NAMES)
    assert KIND_DEFAULTS and all(set(weights) <= set(ROUTE_NAMES) for _, weights in KIND_DEFAULTS.values())
    assert PARAM["weights"].choices == ROUTE_NAMES


def test_shares_lie_between_0_and_1_and_add_up_to_1_while_parts_add_up_to_the_score():
    """A song found well by one route and below average by another, whose score is near 0: the parts keep
    the ranking's arithmetic (they add up to the score, one negative), the shares are each in [0, 1]."""
    from search.ranking import explain, floors, fuse

    per_route = {"cover": {"a": (0.60, 1), "b": (0.30, 2), "c": (0.10, 3)},
                 "joint": {"a": (0.05, 3), "b": (0.40, 1), "c": (0.20, 2)},
                 "lyrics": {"c": (0.50, 1)}}
    calibration = {"cover": (0.40, 0.10), "joint": (0.20, 0.10), "lyrics": (0.0, 0.10)}
    weights = {"cover": 1.0, "joint": 1.0, "lyrics": 1.0}
    fused = fuse(per_route, weights, "calibrated", calibration)
    assert fused["a"] == pytest.approx(0.5)  # cover +2, joint -1.5: the shares part / score were 400 % and -300 %
    floor = floors(per_route, weights, "calibrated", calibration)
    assert floor == pytest.approx({"cover": -3.0, "joint": -1.5, "lyrics": 0.0})
    for sid in "abc":
        matches = explain(sid, per_route, weights, "calibrated", calibration, floor)
        assert sum(m.part for m in matches) == pytest.approx(fused[sid])
        assert matches and all(0.0 <= m.share <= 1.0 for m in matches), [(m.route, m.share) for m in matches]
        assert sum(m.share for m in matches) == pytest.approx(1.0)
    a = {m.route: m.share for m in explain("a", per_route, weights, "calibrated", calibration, floor)}
    assert a == pytest.approx({"cover": 1.0, "joint": 0.0})  # joint found "a" at its floor: it lifted it not at all
    # rrf parts are all positive: the shares stay part / score
    rrf = explain("c", per_route, weights, "rrf", {}, floors(per_route, weights, "rrf", {}))
    score = fuse(per_route, weights, "rrf", {})["c"]
    assert rrf and all(m.share == pytest.approx(m.part / score) for m in rrf)


def test_songs_a_clip_s_prints_identify_rank_first_in_the_print_route_s_order():
    from search.ranking import identified_first

    fused = {"a": 9.0, "b": 7.0, "c": 2.0, "d": 3.0}
    lifted = identified_first(fused, {"c": (4.0, 1), "d": (3.0, 2)})  # c has more votes, d a higher score
    assert sorted(lifted, key=lambda s: -lifted[s]) == ["c", "d", "a", "b"]
    assert (lifted["a"], lifted["b"]) == (9.0, 7.0)
    assert identified_first(fused, {}) == fused
