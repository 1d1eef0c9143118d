"""The README's main command, as a new user runs it: `crossgenre demo` from its own folder (a relative
--data-dir), then the page in real Chromium: a search's audio players really load their songs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .test_browser import CHROMIUM, FLAGS, until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("immich_memories_music")
    home = tmp_path_factory.mktemp("demo-home")
    port = _free_port()
    log = (home / "demo.log").open("w")
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "crossgenre.cli", "demo", "--profile", "offline", "-q",
                             "--port", str(port)], cwd=home, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    end = time.time() + 900
    try:
        while True:
            assert proc.poll() is None, (home / "demo.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(url + "/api/health", timeout=2)
                break
            except OSError:
                assert time.time() < end, "the demo did not start serving"
                time.sleep(1)
        yield url, home
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def test_the_demo_page_players_load_their_songs(demo_url, artifacts):
    from playwright.sync_api import sync_playwright

    url, home = demo_url
    failed, served = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        # A player that has what it needs, or is told to load again, drops its request (net::ERR_ABORTED):
        # that is the browser's choice, not a failure. Any other failure or an HTTP error is.
        page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}")
                if r.failure != "net::ERR_ABORTED" else None)
        page.on("response", lambda r: (failed if r.status >= 400 else served).append(f"{r.url} {r.status}"))
        page.goto(url + "/")
        page.wait_for_selector("#index-info:has-text('songs indexed')")
        page.fill("#text", "calm acoustic guitar")
        page.press("#text", "Enter")
        page.wait_for_selector("#results li.card audio")
        players = page.locator("#results li.card audio")
        assert players.count() >= 3
        for i in range(3):
            player = players.nth(i)
            player.evaluate("a => { a.preload = 'auto'; a.load(); }")
            assert until(player, "a => a.readyState >= 2", timeout=30), player.evaluate(
                "a => [a.readyState, a.networkState, a.error && a.error.code, a.currentSrc]")
            assert player.evaluate("a => a.duration") > 0
            assert player.evaluate("a => a.error") is None
        page.screenshot(path=str(artifacts / "demo-players.png"), full_page=True)
        browser.close()
    assert not failed, f"failed requests: {failed}"
    assert any("/audio 20" in r for r in served), served  # 200 or 206 (a range)
    assert "FileNotFoundError" not in (home / "demo.log").read_text()
