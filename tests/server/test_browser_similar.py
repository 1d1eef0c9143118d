"""The page's songs-like-songs tools in real headless Chromium: more like this, a mix of ticked songs, a path
between two, Save as M3U, and a queue that plays the results one after another."""

from __future__ import annotations

import io
import urllib.request

from .conftest import clip_wav
from .test_browser import browser, page, results, until  # noqa: F401  (fixtures)


def search(page, text="gentle acoustic folk, plucked guitar arpeggios"):
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_selector("#results li.card")
    return results(page)


def wait_summary(page, words: str):
    page.wait_for_selector(f"#summary:has-text('songs for {words}')", timeout=20000)  # not 'Searching ...'
    page.wait_for_selector("#results li.card")


def chip_texts(page) -> list[list[str]]:
    return page.eval_on_selector_all("#results li.card", "els => els.map(e => Array.from("
                                     "e.querySelectorAll('.chip')).map(c => c.textContent))")


def test_more_like_this_lists_other_songs_with_explanations(page, artifacts):
    first = search(page)[0]
    page.locator("#results li.card").first.locator("button.more").click()
    wait_summary(page, "like \u201c" + first["title"] + "\u201d")
    shown = results(page)
    assert len(shown) == 10 and first["id"] not in [r["id"] for r in shown]
    chips = chip_texts(page)
    assert chips and all(any(c.startswith(("sound", "overall feel")) for c in cs) for cs in chips), chips
    assert chips and all(any("of the seed" in c for c in cs) for cs in chips), chips
    page.screenshot(path=str(artifacts / "server-more-like-this.png"), full_page=True)


def test_a_mix_of_ticked_songs(page):
    shown = search(page)
    cards = page.locator("#results li.card")
    for i in (0, 3):
        cards.nth(i).locator("input.pick").check()
    page.click("#mix")
    wait_summary(page, "a mix of 2 songs")
    mixed = [r["id"] for r in results(page)]
    assert mixed and not {shown[0]["id"], shown[3]["id"]} & set(mixed)


def test_a_path_between_two_ticked_songs(page):
    shown = search(page)
    cards = page.locator("#results li.card")
    cards.nth(0).locator("input.pick").check()
    cards.nth(6).locator("input.pick").check()
    page.click("#path")
    wait_summary(page, "a path between two songs")
    path = results(page)
    assert path[0]["id"] == shown[0]["id"] and path[-1]["id"] == shown[6]["id"] and len(path) == 7
    chips = chip_texts(page)
    assert "start" in chips[0] and "end" in chips[-1] and any("of the way" in c for c in chips[3])
    page.click("#path")  # with one song ticked now (the list changed): a clear message, no request
    assert "exactly two" in page.text_content("#message")


def test_save_as_m3u_downloads_a_playlist_a_player_opens(page, tmp_path):
    import mutagen

    shown = search(page)
    with page.expect_download() as info:
        page.click("#save-m3u")
    saved = tmp_path / "list.m3u8"
    info.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * len(shown)
    urls = lines[2::2]
    assert [u.rsplit("/", 2)[-2] for u in urls] == [r["id"] for r in shown]
    for info_line, url in list(zip(lines[1::2], urls))[:3]:
        assert info_line.startswith("#EXTINF:") and " - " in info_line
        audio = urllib.request.urlopen(url, timeout=10).read()
        assert mutagen.File(io.BytesIO(audio)) is not None, url


def test_play_all_plays_the_results_one_after_another(page):
    search(page)
    page.click("#play-all")
    players = page.locator("#results li.card audio.player")
    first, second = players.nth(0), players.nth(1)
    assert until(first, "a => !a.paused && a.currentTime > 0"), "the first song plays"
    first.evaluate("a => { a.currentTime = Math.max(0, a.duration - 0.3); }")
    assert until(second, "a => !a.paused && a.currentTime > 0", timeout=20), "the next song follows"
    assert until(first, "a => !a.closest('li').classList.contains('playing')")
    assert second.evaluate("a => a.closest('li').classList.contains('playing')")


def test_like_a_dropped_clip_but_a_text(page, library, tmp_path):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(clip_wav(library.song("Harbor Fog").path, 4.0, 6.0))
    page.fill("#but", "heavy distorted electric guitars")
    page.set_input_files("#file", str(clip))
    wait_summary(page, "like the clip, but \u201cheavy distorted electric guitars\u201d")
    chips = chip_texts(page)
    assert chips and all(any(c.startswith("but \u2026") for c in cs) for cs in chips), chips
