"""The scanner on real music: the 28 Opus tracks shipped in the immich-memories-music package."""

import numpy as np
import pytest

from scan import decode_audio, find_audio_files, read_track

immich_music = pytest.importorskip("immich_memories_music")


def test_every_packaged_track_reads_and_decodes():
    files = find_audio_files(immich_music.tracks_dir())
    assert len(files) == 28
    for path in files:
        track = read_track(path)
        assert 20 < track.duration < 60, path
        samples = decode_audio(path, 16000)
        assert samples.dtype == np.float32
        assert samples.size / 16000 == pytest.approx(track.duration, rel=0.01), path
        assert np.sqrt(np.mean(samples**2)) > 0.01, path
