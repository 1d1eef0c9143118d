"""Near-duplicate detection on re-encodes made here, and the threshold that separates them from other songs."""

import shutil

import av
import numpy as np
import pytest

from crossgenre.config import Config
from crossgenre.indexer import Indexer, song_id
from crossgenre.workspace import open_for_indexing
from scan import decode_audio
from search.duplicates import MIN_SHARE, find_duplicates
from tests.fixtures.media import write_audio


def reencode(src, dest, fmt):
    wave = decode_audio(src, 48000)
    write_audio(dest, np.stack([wave, wave]), 48000, fmt)


@pytest.fixture(scope="module")
def dup_index(library, tmp_path_factory):
    root = tmp_path_factory.mktemp("dups")
    originals = [s for s in library.songs if s.format in ("flac", "wav", "opus")][:4]
    copies = {}
    for n, (song, fmt) in enumerate(zip(originals[:3], ("mp3", "ogg", "opus"))):
        shutil.copy(song.path, root / f"original{n}{song.path.suffix}")
        reencode(song.path, root / f"copy{n}.{fmt}", fmt)
        copies[n] = (root / f"original{n}{song.path.suffix}", root / f"copy{n}.{fmt}")
    shutil.copy(originals[3].path, root / f"alone{originals[3].path.suffix}")
    data = tmp_path_factory.mktemp("dupdata")
    ws = open_for_indexing(Config(data_dir=data, profile="offline"), "offline")
    report = Indexer(ws, progress=False).run([root])
    assert report.added == 7, report.summary()
    yield ws, copies
    ws.close()


def test_reencodes_are_found_and_nothing_else(dup_index):
    ws, copies = dup_index
    pairs = find_duplicates(ws.store)
    expected = {tuple(sorted((song_id(a), song_id(b)))) for a, b in copies.values()}
    assert {(p.a, p.b) for p in pairs} == expected
    assert pairs and all(p.share >= MIN_SHARE for p in pairs)


def test_threshold_has_a_margin(dup_index):
    ws, copies = dup_index
    everything = find_duplicates(ws.store, min_share=0.0)
    expected = {tuple(sorted((song_id(a), song_id(b)))) for a, b in copies.values()}
    same = [p.share for p in everything if (p.a, p.b) in expected]
    other = [p.share for p in everything if (p.a, p.b) not in expected]
    assert min(same) >= 0.6, same
    assert max(other, default=0.0) <= 0.3, other
