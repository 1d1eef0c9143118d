"""Print codes: a slowed clip of a real song shares that song's codes and not another song's."""

import numpy as np
import pytest

from crossgenre.demo import demo_tracks_dir
from encoders.fingerprint import (KEY_SPACE, SAMPLE_RATE, AudioPrinter, print_keys, probe_keys,
                                  speed_variants, to_print_rate)
from scan import decode_audio
from search.degrade import speed


def _shared(song_keys: np.ndarray, clip_prints: np.ndarray) -> float:
    """Weighted count of the clip's probe keys found among the song's keys (what a sparse inner product sums)."""
    keys, weights = probe_keys(clip_prints)
    return float(weights[np.isin(keys, song_keys)].sum())


@pytest.fixture(scope="module")
def printed():
    printer = AudioPrinter()
    tracks = sorted(demo_tracks_dir().glob("*/*.opus"))[:2]
    songs = [to_print_rate(decode_audio(t, 16000), 16000) for t in tracks]
    keys = [print_keys(printer.song_prints(s)[0]) for s in songs]
    clip = songs[0][12 * SAMPLE_RATE: 22 * SAMPLE_RATE]
    clip = speed(clip, 0.95)
    return keys, [printer.clip_prints(w)[0] for w in speed_variants(clip)]


def test_keys_are_one_per_band_in_the_key_space(printed):
    keys, _ = printed
    assert keys[0].shape[1] == 6 and 0 <= keys[0].min() and keys[0].max() < KEY_SPACE
    assert len(np.unique(keys[0])) > 0.9 * keys[0].size  # distinct moments give distinct codes


def test_a_slowed_clip_shares_its_songs_codes_once_its_speed_is_undone(printed):
    keys, by_speed = printed
    own = [_shared(keys[0], p) for p in by_speed]
    other = max(_shared(keys[1], p) for p in by_speed)
    assert np.argmax(own) == 1  # the variant resampled by 19/20 undoes a x0.95 speed
    assert own[1] > 4 * own[0]
    assert own[1] > 5 * max(other, 1.0)
