"""`crossgenre index` on a hostile library the test builds: every song a decoder can read is indexed, every
other file is listed once with a reason, the run exits 6, and a second run changes nothing.

The library holds a real Ogg Vorbis file that PyAV refuses and libsndfile reads, tags with huge and negative
numbers, a 10 kB title, invalid UTF-8 and NUL bytes, 500 genre values, a one-hour file, an empty file, a
truncated file, a file that vanishes while the run goes on, a pipe, a link loop, and non-audio files with
audio extensions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.fixtures.media import TagSet, write_audio, write_tags

CLI = [sys.executable, "-m", "crossgenre.cli"]
FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "vorbis-pyav-rejects.ogg"
PLACEHOLDER = "Q" * 24  # tag bytes replaced in the file afterwards (FLAC metadata has no checksum)
RAW_TITLE = b"bad \xff\xfe utf8 \x00 nul \x01\x1f end"
RAW_TITLE += b"." * (len(PLACEHOLDER) - len(RAW_TITLE))
LONG_SECONDS = 3700  # over an hour


def tone(seconds: float, rate: int, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.05
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + noise).astype(np.float32)


def write_long_flac(path: Path, seconds: int, rate: int = 8000) -> None:
    """An hour-long real FLAC, cheap to write and small: mostly silence, a short tone each minute."""
    beep = tone(2.0, rate, 440.0, 0)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        for minute in range(seconds // 60 + 1):
            block = np.zeros(min(60, seconds - minute * 60) * rate, np.float32)
            block[: min(beep.size, block.size)] = beep[: block.size]
            f.write(block)


def build(root: Path) -> dict:
    """The hostile library; returns what the test expects of it."""
    root.mkdir()
    songs, skipped = [], {}
    shutil.copy(FIXTURE, root / "a1 pyav rejects.ogg")
    songs.append(root / "a1 pyav rejects.ogg")

    def song(name: str, fmt: str, tags: TagSet, seed: int) -> Path:
        path = root / name
        write_audio(path, np.repeat(tone(8.0, 22050, 200 + 50 * seed, seed)[None], 2, axis=0), 22050, fmt)
        write_tags(path, fmt, tags)
        songs.append(path)
        return path

    huge = "99999999999999999999999"
    song("a2 huge numbers.flac", "flac", TagSet(title="Huge", date=huge, track=huge), 1)
    song("a3 negative numbers.mp3", "mp3", TagSet(title="Negative", date="-2001", track="-7"), 2)
    song("a4 long title.ogg", "ogg", TagSet(title="é" * 5000 + "x" * 100, artist="a" * 3000), 3)
    bad = song("a5 bad bytes.flac", "flac", TagSet(title=PLACEHOLDER, artist="Bytes"), 4)
    data = bad.read_bytes()
    assert data.count(PLACEHOLDER.encode()) == 1
    bad.write_bytes(data.replace(PLACEHOLDER.encode(), RAW_TITLE))
    many = song("a6 many genres.ogg", "ogg", TagSet(title="Genres"), 5)
    import mutagen

    f = mutagen.File(many)
    f["genre"] = [f"genre number {i}" for i in range(500)]
    f.save()
    write_long_flac(root / "a7 one hour.flac", LONG_SECONDS)
    songs.append(root / "a7 one hour.flac")
    (root / "a8").mkdir()  # a song with a 2 MB "lyrics" file and a 21 MB "cover" beside it
    big = song("a8/big sidecars.flac", "flac", TagSet(title="Big sidecars"), 7)
    big.with_suffix(".lrc").write_text("la " * (700 * 1024))
    with open(root / "a8" / "cover.jpg", "wb") as f:
        f.write(b"\xff\xd8\xff\xe0")
        f.truncate(21 << 20)

    (root / "b1 empty.mp3").write_bytes(b"")
    skipped["b1 empty.mp3"] = "empty file"
    cut = root / "b2 truncated.flac"
    write_audio(cut, tone(12.0, 44100, 300, 9)[None], 44100, "flac")
    cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * 0.3)])
    skipped["b2 truncated.flac"] = "truncated or damaged"
    os.mkfifo(root / "b3 pipe.mp3")
    skipped["b3 pipe.mp3"] = "not a regular file"
    os.symlink("b4 loop.ogg", root / "b4 loop.ogg")
    skipped["b4 loop.ogg"] = "cannot be read"
    (root / "b5 shopping list.mp3").write_text("milk\nbread\n" * 50)
    skipped["b5 shopping list.mp3"] = "libsndfile"
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 10, 10)).save(root / "b6 picture.ogg", "PNG")
    skipped["b6 picture.ogg"] = "libsndfile"
    song("z vanishes.flac", "flac", TagSet(title="Vanishes"), 6)
    songs.remove(root / "z vanishes.flac")
    skipped["z vanishes.flac"] = "No such file"
    return {"songs": songs, "skipped": skipped}


def index(root: Path, data: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "index", str(root), "--data-dir", str(data), "--profile", "offline", "-q",
                             "--json", "--batch-size", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    if not FIXTURE.exists():
        pytest.skip(f"{FIXTURE} is missing (../shared/fixtures beside the clone)")
    base = tmp_path_factory.mktemp("hostile")
    root, data = base / "library", base / "data"
    expected = build(root)
    # The first run stops itself after its first batch of parts; the last file is deleted, then it goes on.
    proc = index(root, data, env={**os.environ, "CROSSGENRE_STOP_AT": "parts:1"})
    end = time.time() + 300
    while not stopped(proc.pid):
        assert proc.poll() is None and time.time() < end, proc.stderr.read() if proc.poll() is not None else "slow"
        time.sleep(0.05)
    (root / "z vanishes.flac").unlink()
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=600)
    first = (proc.returncode, out, err)
    proc = index(root, data)
    out, err = proc.communicate(timeout=600)
    return root, data, expected, first, (proc.returncode, out, err)


def test_every_readable_song_is_indexed_and_every_other_file_listed_once(hostile):
    root, data, expected, (code, out, err), _ = hostile
    assert code == 6, err[-3000:]
    assert "Traceback" not in err
    report = json.loads(out)
    listed = [Path(s["path"]).name for s in report["skipped"]]
    assert sorted(listed) == sorted(expected["skipped"]), report["skipped"]
    for s in report["skipped"]:
        reason = expected["skipped"][Path(s["path"]).name]
        assert reason in s["reason"], s
        assert s["path"] not in s["reason"]  # the reason does not repeat the path
    assert report["added"] == len(expected["songs"])
    notes = sorted(n["note"] for n in report["notes"] if Path(n["path"]).name == "big sidecars.flac")
    assert len(notes) == 2 and "over the 20 MB cap" in notes[0] and "over the 1 MB cap" in notes[1], notes


def test_a_second_run_changes_nothing(hostile):
    *_, expected, _, (code, out, err) = hostile
    assert code == 6, err[-3000:]
    report = json.loads(out)
    assert (report["added"], report["updated"], report["removed"]) == (0, 0, 0)
    assert report["unchanged"] == len(expected["songs"])


def test_stored_rows_fit_and_say_which_decoder_read_them(hostile):
    from store import VectorStore
    from store.schema import BLOCK_PRINTS, PART_BITS, SONG_SCALARS, part_key, song_key

    root, data, expected, *_ = hostile
    store = VectorStore(str(data / "crossgenre.db"))
    try:
        store.open_existing()
        rows = {Path(r["path"]).name: r for r in store.iter_songs(["*"])}
        assert sorted(rows) == sorted(p.name for p in expected["songs"])
        assert (rows["big sidecars.flac"]["has_lyrics"], rows["big sidecars.flac"]["has_cover"]) == (False, False)
        assert rows and all(Path(r["path"]).is_absolute() for r in rows.values())
        assert rows["a1 pyav rejects.ogg"]["extra"]["decoder"] == "libsndfile"
        assert rows["a1 pyav rejects.ogg"]["title"] == "Caribbean"
        assert rows["a2 huge numbers.flac"]["extra"]["decoder"] == "pyav"
        for name in ("a2 huge numbers.flac", "a3 negative numbers.mp3"):
            assert (rows[name]["year"], rows[name]["track_number"]) == (0, 0), name
        long_title = rows["a4 long title.ogg"]["title"]
        assert long_title.startswith("ééé") and len(long_title.encode()) <= SONG_SCALARS["title"][1]
        assert rows["a5 bad bytes.flac"]["title"].startswith("bad ")
        assert not any(ord(c) < 32 for c in rows["a5 bad bytes.flac"]["title"])
        assert "genre number 499" not in rows["a6 many genres.ogg"]["raw_genre"]  # cut at the field's limit
        assert rows["a6 many genres.ogg"]["raw_genre"].startswith("genre number 0")
        hour = rows["a7 one hour.flac"]
        assert hour["duration"] == pytest.approx(LONG_SECONDS, abs=1)
        first = part_key(song_key(hour["id"]), 0)
        prints = store.client.query(store.prints, filter=f"id >= {first} and id < {first + (1 << PART_BITS)}",
                                    output_fields=["id"], limit=16000)
        blocks = max(p["id"] - first for p in prints) + 1  # rows of BLOCK_PRINTS prints, one print a second
        assert blocks * BLOCK_PRINTS > LONG_SECONDS - 200, "prints cover the whole hour"
        windows = store.client.query(store.windows, filter=f'song_id == "{hour["id"]}"', output_fields=["end"],
                                     limit=1000)
        assert windows and max(w["end"] for w in windows) <= 30 * 60 + 5, "the encoders saw the first 30 minutes"
    finally:
        store.close()
