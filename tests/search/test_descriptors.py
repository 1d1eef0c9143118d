"""Musical descriptors (tempo, key, energy, feel) from audio to filters, text reading and explanations:
real librosa analyses of synthesised signals, and searches over the real offline index of the test library."""


import numpy as np
import pytest

from scan.errors import CrossgenreError, InvalidQueryError
from crossgenre.indexer import song_id
from encoders.descriptors import camelot, camelot_neighbours, describe, feel_vector, normalize_key, words
from search import Query, SearchEngine
from search.filters import build_filter
from search.musical import read_musical

RATE = 16000


def clicks(bpm: float, seconds: float = 20.0) -> np.ndarray:
    """A click on every beat (a decaying noise burst), with a softer one halfway between beats."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * RATE), np.float32)
    burst = rng.normal(size=400).astype(np.float32) * np.exp(-np.arange(400) / 60.0).astype(np.float32)
    step = 60.0 / bpm
    for n, t in enumerate(np.arange(0.0, seconds - 0.1, step / 2)):
        i = int(t * RATE)
        y[i:i + 400] += burst * (0.8 if n % 2 == 0 else 0.3)
    return y


def chords(root_midi: int, minor: bool, seconds: float = 12.0, level: float = 0.2) -> np.ndarray:
    """i-iv-V-i (or I-IV-V-I) of harmonic tones: a cadence that leaves no doubt about the key."""
    third = 3 if minor else 4
    progression = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    t = np.arange(int(seconds / 4 * RATE)) / RATE
    out = []
    for degrees in progression:
        chord = np.zeros_like(t)
        for d in degrees:
            f = 440.0 * 2 ** ((root_midi + d - 69) / 12)
            chord += sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
        out.append(chord)
    y = np.concatenate(out)
    return (level * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("bpm", [92.0, 128.0])
def test_tempo_of_a_click_track(bpm):
    d = describe(clicks(bpm), RATE)
    assert abs(d.bpm - bpm) <= 0.04 * bpm, d.bpm
    assert d.beat_regularity > 0.9


@pytest.mark.parametrize("root, minor, key", [(57, True, ("A", "minor")), (62, False, ("D", "major")),
                                             (58, True, ("Bb", "minor"))])
def test_key_of_a_cadence(root, minor, key):
    d = describe(chords(root, minor), RATE)
    assert (d.key, d.mode) == key
    assert abs(sum(d.chroma) - 1) < 1e-3 and len(d.chroma) == 12


def over_a_bass_line(root_midi: int, roots: tuple[int, ...], seconds: float = 12.0) -> np.ndarray:
    """A tune that dwells on the tonic (with the other scale tones softer) over a bass line of chord
    roots (semitones above the tonic) two octaves down, one root per bar."""
    t = np.arange(int(seconds / len(roots) * RATE)) / RATE

    def tone(midi):
        f = 440.0 * 2 ** ((midi - 69) / 12)
        return sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))

    tune = sum(level * tone(root_midi + 12 + step) for step, level in
               ((0, 1.0), (7, 0.35), (5, 0.3), (4, 0.2), (9, 0.15), (2, 0.1), (11, 0.1)))
    y = np.concatenate([tune + 0.8 * tone(root_midi - 24 + r) for r in roots])
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("roots", [(0, 5, 7, 0), (0, 7, 5, 7), (0, 0, 0, 0)])
def test_key_over_a_bass_line_of_chord_roots(roots):
    """Whether the bass dwells on the tonic and subdominant, visits the dominant, or holds a tonic pedal,
    the key is the tune's (a bass matched like the tune, by degree frequencies, pulls to a fifth below)."""
    for root, key in ((52, "E"), (57, "A")):
        d = describe(over_a_bass_line(root, roots), RATE)
        assert (d.key, d.mode) == (key, "major"), (roots, root, d.key, d.mode)


def test_loudness_brightness_and_density_move_the_right_way():
    soft, loud = describe(chords(57, True, level=0.02), RATE), describe(chords(57, True, level=0.5), RATE)
    assert loud.loudness_db > soft.loudness_db + 20
    assert loud.energy > soft.energy
    dense, sparse = describe(clicks(128) * 0.5, RATE), describe(chords(57, True), RATE)
    assert dense.onset_rate > sparse.onset_rate
    assert dense.brightness_hz > sparse.brightness_hz


def test_silence_and_a_blip_give_values_not_errors():
    for y in (np.zeros(RATE * 3, np.float32), np.full(200, 0.1, np.float32)):
        d = describe(y, RATE)
        assert np.isfinite(d.vector()).all()


def test_keys_in_any_spelling_and_the_camelot_wheel():
    assert normalize_key("A minor") == normalize_key("Am") == normalize_key("8A") == normalize_key("a min") == ("A", "minor")
    assert normalize_key("F# major") == normalize_key("Gb") == normalize_key("2B") == ("F#", "major")
    assert normalize_key("Bbm") == ("Bb", "minor") and normalize_key("A#m") == ("Bb", "minor")
    for bad in ("H minor", "13A", "A dorian", "", "minor"):
        assert normalize_key(bad) is None, bad
    assert camelot("A", "minor") == "8A" and camelot("C", "major") == "8B" and camelot("B", "major") == "1B"
    assert set(camelot_neighbours("A", "minor")) == {("A", "minor"), ("E", "minor"), ("D", "minor"), ("C", "major")}
    assert set(camelot_neighbours("B", "major")) == {("B", "major"), ("F#", "major"), ("E", "major"), ("Ab", "minor")}


def test_feel_vectors_compare_tempo_like_a_musician():
    at = {bpm: feel_vector({"tempo": bpm}) for bpm in (90, 93, 120, 180)}
    assert at[90] @ at[93] > 0.8 > at[90] @ at[120] and at[90] @ at[180] < 0.05
    song = feel_vector({"tempo": 120, "mode": 1, "energy": 0.7, "key": 21.0})
    assert feel_vector({"tempo": 120}) @ song > feel_vector({"tempo": 90}) @ song
    assert feel_vector({"key": 21.0}) @ song > feel_vector({"key": 0.0}) @ song


def test_text_names_tempo_key_and_mood():
    r = read_musical("around 120 bpm")
    assert r.qualities == {"tempo": pytest.approx(120)} and r.rest == ""
    r = read_musical("slow piano in a minor key")
    assert r.qualities["mode"] == 1.0 and r.qualities["tempo"] < 80 and r.rest == "slow piano"
    r = read_musical("upbeat pop in A minor")
    assert r.key == ("A", "minor") and r.qualities["energy"] > 0.6 and r.rest == "upbeat pop"
    assert read_musical("techno at about 128 bpm").rest == "techno"
    assert read_musical("fast 90-100 bpm rock").qualities["tempo"] == pytest.approx(94.87, abs=0.1)  # the number wins
    for word, quality, high in (("mellow", "energy", False), ("quiet", "energy", False), ("danceable", "regularity", True),
                                ("fast", "tempo", True), ("slow", "tempo", False), ("upbeat", "tempo", True)):
        value = read_musical(f"something {word}").qualities[quality]
        assert (value > {"energy": 0.5, "regularity": 0.8, "tempo": 110}[quality]) == high, word
    assert not read_musical("acoustic guitar with strings")
    assert "tempo ~120 bpm" in read_musical("around 120 bpm").summary()


def test_filters_build_and_refuse_nonsense():
    assert build_filter(Query(text="x", bpm_min=110)) == "(bpm > 0 and bpm >= 110.0)"
    flt = build_filter(Query(text="x", bpm_min=120, bpm_max=130, half_double=True))
    assert "bpm >= 60.0" in flt and "bpm <= 260.0" in flt
    assert build_filter(Query(text="x", key="8A")) == '(tonic == "A" and mode == "minor")'
    assert build_filter(Query(text="x", key="Am", compatible_keys=True)) == 'camelot in ["8A", "9A", "7A", "8B"]'
    for bad in (dict(bpm_min=-1), dict(bpm_max=1000), dict(bpm_min=130, bpm_max=120), dict(key="H dorian"),
                dict(energy_min=1.5), dict(energy_min=0.8, energy_max=0.2), dict(bpm_min=float("nan"))):
        with pytest.raises(InvalidQueryError):
            Query(text="x", **bad).validate()


# -- on the real offline index of the test library -------------------------------------------------
@pytest.fixture(scope="module")
def engine(indexed):
    _, ws, _ = indexed
    return SearchEngine(ws)


@pytest.fixture(scope="module")
def rows(indexed):
    _, ws, _ = indexed
    return {r["id"]: r for r in ws.store.iter_songs(["id", "bpm", "tonic", "mode", "camelot", "energy", "genre"])}


def test_indexed_songs_carry_their_own_descriptors(rows, library):
    from scan import decode_audio

    for song in library.songs[:3]:
        d = describe(decode_audio(song.path, RATE), RATE)
        row = rows[song_id(song.path)]
        assert (row["bpm"], row["tonic"], row["mode"], row["energy"]) == (d.bpm, d.key, d.mode, d.energy)
    assert rows and all(r["mode"] in ("major", "minor") and r["camelot"] and r["bpm"] > 0 for r in rows.values())


def test_bpm_key_and_energy_filters_in_search(engine, rows):
    hits = engine.search(Query(text="around 120 bpm", bpm_min=110, k=20))
    assert hits and all(rows[h.id]["bpm"] >= 110 for h in hits)
    assert {h.id for h in hits} == {sid for sid, r in rows.items() if r["bpm"] >= 110}
    assert hits and all(h.song["bpm"] >= 110 for h in hits)
    some = next(iter(rows.values()))
    code = some["camelot"]
    exact = engine.search(Query(text="music", key=code, k=20))
    assert exact and all(rows[h.id]["camelot"] == code for h in exact)
    near = engine.search(Query(text="music", key=code, compatible_keys=True, k=20))
    assert {h.id for h in near} >= {h.id for h in exact}
    slow = min(r["bpm"] for r in rows.values() if r["bpm"] > 0)
    doubled = engine.search(Query(text="music", bpm_min=2 * slow - 1, bpm_max=2 * slow + 1, half_double=True, k=20))
    assert any(abs(rows[h.id]["bpm"] - slow) < 1e-6 for h in doubled)
    lively = engine.search(Query(text="music", energy_min=0.5, k=20))
    assert lively and all(rows[h.id]["energy"] >= 0.5 for h in lively)


def test_a_named_tempo_ranks_songs_near_it_first(engine, rows):
    near = {sid for sid, r in rows.items() if abs(r["bpm"] - 128) <= 0.08 * 128}
    assert near
    hits = engine.search(Query(text="around 128 bpm", k=len(near)))
    assert {h.id for h in hits} == near
    assert hits[0].routes[0].route == "feel"


def test_explanations_show_tempo_and_key(engine, rows):
    hit = engine.search(Query(text="driving techno", k=1))[0]
    r = rows[hit.id]
    assert hit.feel.startswith(f"{r['bpm']:.0f} bpm · {r['tonic']} {r['mode']} ({r['camelot']})")
    assert hit.to_dict()["explanation"]["feel"] == hit.feel
    assert words({"bpm": 118.2, "tonic": "A", "mode": "minor", "brightness_hz": 3000, "energy": 0.5,
                  "onset_rate": 4}) == "118 bpm · A minor (8A) · bright · moderate · dense"


def test_an_index_without_descriptor_fields_asks_for_a_reindex(tmp_path, monkeypatch):
    from crossgenre.config import Config
    from crossgenre.workspace import open_for_search
    from store import VectorStore, schema

    config = Config(data_dir=tmp_path, profile="offline")
    old = {k: v for k, v in schema.SONG_SCALARS.items() if k not in ("bpm", "tonic", "mode", "camelot", "energy")}
    monkeypatch.setattr(schema, "SONG_SCALARS", old)  # write the collections as an older version did
    store = VectorStore(config.uri, prefix=config.collection_prefix)
    store.open({"audio": 4, "lyrics": 4, "cover": 4, "joint": 4})
    store.close()
    monkeypatch.undo()
    with pytest.raises(CrossgenreError, match=r"older crossgenre.*re-index it with `crossgenre index --rebuild"):
        open_for_search(config, "offline")
