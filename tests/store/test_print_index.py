"""Posting lists of print codes (store/print_index.py): a clip of a real song, slowed and through a phone band,
is found with where it sits, among songs drawn like real ones; the two-stage lookup of a long query agrees
with counting every vote."""

import numpy as np
import pytest

import store.print_index as print_index
from crossgenre.demo import demo_tracks_dir
from encoders.fingerprint import DIM, TIME_SCALE, AudioPrinter, clip_probes, clip_speeds, print_keys, to_print_rate
from scan import decode_audio
from search.degrade import apply
from search.ranking import print_sources

CLIP_START = 12.0


@pytest.fixture(scope="module")
def library():
    """(index, waves, printer): 3 demo tracks first, then 300 songs of 240 prints drawn from a Gaussian with the
    real prints' mean and covariance, then 30 s of digital silence."""
    printer = AudioPrinter()
    waves = [decode_audio(t, 16000) for t in sorted(demo_tracks_dir().glob("*/*.opus"))[:3]]
    real = [printer.song_prints(to_print_rate(w, 16000))[0] for w in waves]
    pool = np.concatenate(real)
    rng = np.random.default_rng(0)
    fake = rng.multivariate_normal(pool.mean(0), np.cov(pool.T), size=300 * 240).astype(np.float32)
    fake /= np.linalg.norm(fake, axis=1, keepdims=True)
    silent = np.zeros((30, DIM), np.float32)  # a song of digital silence: every code 0
    counts = [len(p) for p in real] + [240] * 300 + [len(silent)]
    keys = np.concatenate([print_keys(p) for p in real] + [print_keys(fake), print_keys(silent)])
    return print_index.PrintIndex(np.arange(len(counts)) * 7, np.asarray(counts), keys), waves, printer


def _clip(library, song, how=None):
    _, waves, printer = library
    wave = waves[song][int(CLIP_START * 16000): int((CLIP_START + 10) * 16000)]
    if how:
        wave = apply(wave, 16000, how, seed=1)
    return clip_speeds(printer, to_print_rate(wave, 16000))


@pytest.mark.parametrize("how", [None, {"speed": 0.95, "phone": True}])
def test_a_clip_finds_its_song_and_where_it_sits(library, how):
    index = library[0]
    for song in range(3):
        matches = index.lookup(clip_probes(_clip(library, song, how)), 3)
        assert matches[0].song == song, [(m.song, m.votes) for m in matches]
        assert abs(matches[0].offset * TIME_SCALE - CLIP_START) <= 0.5
        assert matches[0].votes >= 3 * max([m.votes for m in matches[1:]] + [1.0])
        assert index.song_keys[matches[0].song] == song * 7


@pytest.mark.parametrize("how", [None, {"speed": 0.95, "phone": True, "noise_snr": 10, "bitrate": 24}])
def test_a_clip_of_a_song_not_in_the_library_is_no_source(library, how):
    """Real songs the index does not hold (the demo tracks after its 3): the engine's gate keeps no match."""
    index, _, printer = library
    for track in sorted(demo_tracks_dir().glob("*/*.opus"))[3:13]:
        wave = decode_audio(track, 16000)[int(CLIP_START * 16000): int((CLIP_START + 10) * 16000)]
        if how:
            wave = apply(wave, 16000, how, seed=1)
        matches = index.lookup(clip_probes(clip_speeds(printer, to_print_rate(wave, 16000)), index.probe_bits()), 20)
        assert print_sources(matches) == [], (track.name, [(m.song, m.votes) for m in matches[:3]])


def test_the_first_stage_keeps_the_place_that_counting_every_vote_finds(library, monkeypatch):
    index = library[0]
    speeds = _clip(library, 1, {"phone": True, "noise_snr": 10})
    monkeypatch.setattr(print_index, "_SMALL", 0)  # the first stage even for a short lookup
    two_stages = index.lookup(clip_probes(speeds), 1)[0]
    monkeypatch.setattr(print_index, "_SMALL", 10**12)  # every vote counted by place, no first stage
    every_vote = index.lookup(clip_probes(speeds), 1)[0]
    assert (two_stages.song, two_stages.offset, two_stages.votes) == (every_vote.song, every_vote.offset, every_vote.votes)


def test_digital_silence_matches_nothing_not_even_silence(library):
    index = library[0]
    silent = np.zeros((40, DIM), np.float32)
    assert index.lookup([(print_keys(silent), np.ones((40, 6)), np.arange(40) * 0.125)], 3) == []


def test_the_lists_give_back_every_prints_keys(library):
    index, waves, printer = library
    first = printer.song_prints(to_print_rate(waves[0], 16000))[0]
    keys = index.print_keys()
    assert keys.shape == (index.prints, print_index.CODE_BANDS)
    np.testing.assert_array_equal(keys[: len(first)], print_keys(first))  # the first song's, in order
    assert (keys[-30:] & print_index.CODE_MASK == 0).all()  # the silent song's: every code 0
