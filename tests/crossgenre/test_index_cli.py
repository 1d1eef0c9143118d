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
    assert "Read as music: tempo ~120 bpm (from: around 120 bpm)" in proc.stdout
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
