"""The `crossgenre` command on the generated library, as a user runs it: index, stats, search, resume after kills."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "crossgenre.cli"]


def run(args, data_dir, check=True, timeout=600):
    proc = subprocess.run([*CLI, *args, "--data-dir", str(data_dir), "--profile", "offline"],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode not in (0, 6):
        raise AssertionError(f"crossgenre {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def stats(data_dir) -> dict:
    return json.loads(run(["stats", "--json"], data_dir).stdout)


@pytest.fixture(scope="module")
def indexed(library, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    proc = run(["index", str(library.root), "-q"], data)
    return library, data, proc


def test_index_reports_songs_and_broken_files(indexed):
    library, data, proc = indexed
    assert proc.returncode == 6, "skipped files make the exit code 6"
    for broken in library.broken:
        assert str(broken.path) in proc.stdout, f"{broken.path.name} not listed as skipped"
    for ignored in library.ignored:
        assert str(ignored) not in proc.stdout
    s = stats(data)
    assert s["songs"] == len(library.songs)
    assert s["with_lyrics"] == sum(1 for song in library.songs if song.lyrics)
    assert s["with_cover"] == sum(1 for song in library.songs if song.cover)
    assert s["versions"]["profile"] == "offline"
    assert "Hip-Hop" in s["genres"] and "hip-hop" not in s["genres"]


def test_second_run_skips_unchanged_and_handles_changes(indexed, tmp_path):
    library, data, _ = indexed
    again = run(["index", str(library.root), "-q"], data)
    assert re.search(rf"{len(library.songs)} unchanged", again.stdout)
    assert "0 added" in again.stdout


def test_search_prints_a_ranked_table(indexed):
    library, data, _ = indexed
    proc = run(["search", "heavy distorted guitars", "-k", "5"], data)
    lines = [line for line in proc.stdout.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(lines) == 5
    out = json.loads(run(["search", "heavy distorted guitars", "-k", "3", "--json"], data).stdout)
    assert [h["rank"] for h in out] == [1, 2, 3]
    assert all(h["explanation"]["routes"] for h in out)
    subject = run(["search", "heavy distorted guitars, about kings and fire", "-k", "1"], data)
    assert 'Read as sound "heavy distorted guitars", about "kings and fire"' in subject.stdout
    only = run(["search", "songs about kings and fire", "-k", "1"], data)
    assert 'Read as about "kings and fire" (no sound named)' in only.stdout


def test_search_by_tempo_and_key(indexed):
    _, data, _ = indexed
    proc = run(["search", "around 120 bpm", "--bpm-min", "110", "-k", "5"], data)
    assert "music: tempo ~120 bpm (from: around 120 bpm)" in proc.stdout
    assert re.search(r"\d+ bpm · [A-G][#b]? (major|minor) \(\d+[AB]\)", proc.stdout), proc.stdout
    out = json.loads(run(["search", "around 120 bpm", "--bpm-min", "110", "--json"], data).stdout)
    assert out and all(h["bpm"] >= 110 for h in out)
    key = out[0]["camelot"]
    same = json.loads(run(["search", "music", "--key", key, "--json"], data).stdout)
    assert same and all(h["camelot"] == key for h in same)
    bad = run(["search", "music", "--key", "H dorian"], data, check=False)
    assert bad.returncode == 2 and "key must name a key" in bad.stderr


def test_clear_errors_and_exit_codes(tmp_path, indexed):
    _, data, _ = indexed
    missing = run(["index", str(tmp_path / "nowhere")], tmp_path / "d", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    no_index = run(["search", "anything"], tmp_path / "empty", check=False)
    assert no_index.returncode == 1 and "crossgenre index" in no_index.stderr
    bad = run(["search", "x", "-k", "0"], data, check=False)
    assert bad.returncode == 2 and "k must be" in bad.stderr
    full = run(["search", "x", "--model-dir", str(tmp_path)], data, check=False)
    assert "Traceback" not in full.stderr


def _kill_at(args, data_dir, done_at: int) -> bool:
    """Start indexing and SIGKILL it once the progress bar shows `done_at` songs done. True if killed."""
    proc = subprocess.Popen([*CLI, *args, "--data-dir", str(data_dir), "--profile", "offline"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=0)
    killed = threading.Event()

    def watch():
        buf = ""
        while True:
            ch = proc.stderr.read(1)
            if not ch:
                return
            buf = (buf + ch)[-200:]
            m = re.search(r"Indexing:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", buf)
            if m and int(m.group(1)) >= done_at and not killed.is_set():
                os.kill(proc.pid, signal.SIGKILL)
                killed.set()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    proc.wait(timeout=600)
    t.join(timeout=5)
    return killed.is_set()


def test_killed_indexing_resumes_with_every_song_exactly_once(library, tmp_path):
    data = tmp_path / "data"
    lib = tmp_path / "lib"
    shutil.copytree(library.root, lib)
    kills = 0
    for done_at in (1, 5, 9):
        kills += _kill_at(["index", str(lib)], data, done_at)
    assert kills == 3, "indexing should have been killed three times, at different points"
    run(["index", str(lib), "-q"], data)
    s = stats(data)
    assert s["songs"] == len(library.songs)
    # changes after that: a file removed, one touched but equal, one retagged
    songs = [lib / song.path.relative_to(library.root) for song in library.songs if song.format == "mp3"]
    songs[0].unlink()
    os.utime(songs[1], (time.time() + 5, time.time() + 5))
    import mutagen

    f = mutagen.File(songs[2], easy=True)
    f["title"] = "Retitled"
    f.save()
    proc = run(["index", str(lib)], data)
    assert "1 removed" in proc.stdout and "1 updated" in proc.stdout, proc.stdout
    assert stats(data)["songs"] == len(library.songs) - 1
    # exactly once (checked last: this process then holds the Lite file): every song row unique, and its windows and chunks not doubled
    from store import VectorStore

    store = VectorStore(str(data / "crossgenre.db"))
    store.open_existing()
    ids = [r["id"] for r in store.iter_songs(["id"])]
    assert len(ids) == len(set(ids)) == len(library.songs) - 1
    windows = list(store.client.query_iterator(store.windows, batch_size=1000, output_fields=["song_id", "start"]).next())
    pairs = [(w["song_id"], w["start"]) for w in windows]
    assert len(pairs) == len(set(pairs))
    assert {w["song_id"] for w in windows} == set(ids)
    store.close()


def test_similar_mix_and_path_from_the_command_line_with_playlists(indexed, tmp_path):
    import mutagen

    library, data, _ = indexed
    seed = library.song("Willow Road")
    out = json.loads(run(["similar", str(seed.path), "-k", "3", "--json", "--max-per-artist", "1"], data).stdout)
    assert len(out) == 3 and all(h["explanation"]["routes"] and h["explanation"]["segment"] for h in out)
    same = json.loads(run(["similar", "Mara Åkesson - Willow Road", "-k", "3", "--json", "--max-per-artist", "1"], data).stdout)
    assert [h["id"] for h in same] == [h["id"] for h in out]
    playlist = tmp_path / "like.m3u8"
    run(["mix", "Mara Åkesson - Willow Road", "Lumen Drift - Harbor Fog", "--not", "Ironwake - Cinder Throne",
         "-k", "4", "--m3u", str(playlist), "--m3u-base", str(library.root)], data)
    lines = playlist.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 9
    for info, location in zip(lines[1::2], lines[2::2]):
        assert re.fullmatch(r"#EXTINF:\d+,.+ - .+", info), info
        assert not location.startswith("/") and mutagen.File(library.root / location) is not None
    path = run(["path", "Lumen Drift - Harbor Fog", "Ironwake - Cinder Throne", "--steps", "3"], data)
    rows = [line for line in path.stdout.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 5 and "start" in rows[0] and "end" in rows[-1] and "of the way" in rows[2]
    search = tmp_path / "search.m3u8"
    run(["search", "heavy distorted guitars", "-k", "2", "--m3u", str(search)], data)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in search.read_text().splitlines()[2::2])
    bad = run(["similar", "Nobody - Nothing"], data, check=False)
    assert bad.returncode == 2 and "no song in the index" in bad.stderr


def test_exact_path_and_progress_with_speed(indexed, tmp_path):
    """`--exact` indexes with the reference audio path into an index the fast path's searches accept, and
    the progress line shows the rate in songs and in hours of audio per hour."""
    library, _, _ = indexed
    folder = tmp_path / "two"
    folder.mkdir()
    for song in library.songs[:2]:
        shutil.copy(song.path, folder / song.path.name)
    data = tmp_path / "data"
    proc = run(["index", str(folder), "--exact"], data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 added" in proc.stdout
    assert re.search(r"\d+ h of audio/h", proc.stderr), proc.stderr[-2000:]
    assert re.search(r"song/s|s/song", proc.stderr)
    assert stats(data)["songs"] == 2
