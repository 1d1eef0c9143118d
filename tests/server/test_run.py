"""`crossgenre serve` as a user runs it: index a library first when there is no index, serve, stop on SIGTERM."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import time

CLI = [sys.executable, "-m", "crossgenre.cli", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def test_serve_indexes_first_then_serves_and_stops_on_sigterm(library, tmp_path):
    lib = tmp_path / "music"
    lib.mkdir()
    for title in ("Harbor Fog", "Pulse Engine"):
        shutil.copy(library.song(title).path, lib)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*CLI, "--data-dir", str(tmp_path / "data"), "--profile", "offline",
                                 "--library", str(lib), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                status, body = get(port, "/api/health")
                break
            except OSError:
                assert time.time() < deadline, "the server did not come up"
                time.sleep(0.5)
        assert status == 200 and json.loads(body)["songs"] == 2
        assert get(port, "/")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "There is no index" in text
    assert f"serving 2 songs at http://127.0.0.1:{port}/" in text
    assert "index closed" in text


def test_serve_without_index_or_library_says_what_to_run(tmp_path):
    proc = subprocess.run([*CLI, "--data-dir", str(tmp_path / "empty"), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "crossgenre index" in proc.stderr.splitlines()[-1]
