"""The page in real headless Chromium (Debian's, driven by playwright) against the app served by waitress."""

from __future__ import annotations

import time

import pytest

from .conftest import clip_wav, cover_photo

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a fake microphone (a beep)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_url):
    context = browser.new_context(viewport={"width": 1000, "height": 1100})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(live_url + "/")
    page.wait_for_selector("#index-info:has-text('songs indexed')")
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def until(element, predicate: str, timeout: float = 15.0):
    """Poll `predicate` (a JS function of the element) until it is truthy; its value.

    Page.wait_for_function would evaluate a string inside the page, which the page's CSP (rightly) forbids.
    """
    end = time.time() + timeout
    while True:
        value = element.evaluate(predicate)
        if value or time.time() > end:
            return value
        time.sleep(0.1)


def results(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#results li.card",
        "els => els.map(e => ({id: e.dataset.id, title: e.querySelector('.title').textContent,"
        " meta: e.querySelector('.meta').textContent, chips: e.querySelectorAll('.chip').length}))",
    )


def test_text_query_shows_ranked_results(page, artifacts):
    page.fill("#text", "gentle acoustic folk, plucked guitar arpeggios")
    page.press("#text", "Enter")
    page.wait_for_selector("#results li.card")
    shown = results(page)
    assert len(shown) == 10
    assert shown and all(r["title"] and r["chips"] >= 1 for r in shown)
    assert "songs for" in page.text_content("#summary")
    page.screenshot(path=str(artifacts / "server-text-search.png"), full_page=True)


def test_the_summary_says_how_a_text_with_a_subject_was_read(page):
    page.fill("#text", "loud rock, about a torn speaker")
    page.press("#text", "Enter")
    page.wait_for_selector("#results li.card")
    assert "sound: \u201cloud rock\u201d, about: \u201ca torn speaker\u201d" in page.text_content("#summary")


def test_clip_upload_finds_the_song_and_players_start_at_the_matched_segment(page, library, song_ids, tmp_path, artifacts):
    song = library.song("Willow Road")
    clip = tmp_path / "clip.wav"
    clip.write_bytes(clip_wav(song.path, 6.0, 5.0))
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("#results li.card")
    shown = results(page)
    assert shown[0]["id"] == song_ids["Willow Road"], shown[:3]
    players = page.locator("#results li.card audio")
    checked = 0
    for i in range(players.count()):
        player = players.nth(i)
        start = float(player.get_attribute("data-start"))
        if start <= 0:
            continue
        assert until(player, "a => a.readyState >= 1"), "the player loaded the song's metadata"
        current = player.evaluate("a => a.currentTime")
        assert abs(current - start) <= 0.5, (i, current, start)
        checked += 1
    assert checked >= 1, "some result matched past the start of its song"
    page.screenshot(path=str(artifacts / "server-clip-search.png"), full_page=True)


def test_image_upload_finds_the_album(page, library, tmp_path, artifacts):
    song = library.song("Pulse Engine")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(cover_photo(song.cover))
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#results li.card")
    assert song.album in results(page)[0]["meta"]
    cover = page.locator("#results li.card img.cover").first
    assert until(cover, "img => img.complete && img.naturalWidth > 0 && !img.classList.contains('placeholder')")
    page.screenshot(path=str(artifacts / "server-image-search.png"), full_page=True)


def test_a_text_file_as_a_clip_shows_the_servers_reason(page, tmp_path, artifacts):
    notes = tmp_path / "notes.mp3"
    notes.write_text("this is a shopping list, not a song\n" * 10)
    page.set_input_files("#file", str(notes))
    page.wait_for_selector("#message:not([hidden])")
    text = page.text_content("#message")
    assert "Search failed" in text and "not audio" in text
    assert page.locator("#results li").count() == 0
    page.screenshot(path=str(artifacts / "server-error.png"), full_page=True)


def test_no_match_says_so(page):
    page.click("#filters summary")
    page.fill("#artist", "Nobody At All")
    page.fill("#text", "calm pads")
    page.press("#text", "Enter")
    page.wait_for_selector("#message:not([hidden])")
    assert "No songs matched" in page.text_content("#message")


def test_microphone_recording_is_sent_as_a_clip(page, browser, artifacts):
    page.context.grant_permissions(["microphone"])
    record = page.locator("#record")
    assert record.is_visible(), "MediaRecorder is offered in Chromium"
    record.click()
    page.wait_for_selector("#record.recording")
    time.sleep(2.5)
    record.click()
    page.wait_for_selector("#results li.card, #message:not([hidden])")
    assert page.locator("#message").is_hidden(), page.text_content("#message")
    assert "recording.webm" in page.text_content("#summary")
    assert page.locator("#results li.card").count() > 0
    page.screenshot(path=str(artifacts / "server-microphone-search.png"), full_page=True)
