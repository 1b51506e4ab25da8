"""The music panel in real headless Chromium: a small GPT-2 is trained through
the jobs on real NATS (music21 Bach chorales, MiniLM, miditok), then the page
asks for a piece over the WebSocket, shows its piano roll, offers the MIDI for
download and plays it with Tone.js. The job API serves the same files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from switchboard.bus import BusSettings
from switchboard.edge.app import NODE_MODULES
from tests.e2e.test_analyst_page import BROWSER_ARGS, CHROMIUM, SHOTS, _axe
from tests.edge_server import edge_server
from tests.music_stack import job, music_stack

pytestmark = [pytest.mark.slow, pytest.mark.nats]


@pytest.fixture
async def page_url(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    async with music_stack(nats_settings, tmp_path / "music", monkeypatch):
        for kind, params in [
            ("music.ingest", {"collection": "bach", "limit": 12}),
            ("music.embed", {"clusters": 2}),
            ("music.tokenize", {}),
            ("music.train", {"max_steps": 150, "checkpoint_every": 150, "n_embd": 64, "context": 128}),
        ]:
            done, _ = await job(nats_settings, kind, **params)
            assert done.state == "succeeded", done
        async with edge_server(nats_settings) as port:
            yield f"http://127.0.0.1:{port}/"


async def test_generate_see_download_and_play_a_piece(page_url: str) -> None:
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    if not (NODE_MODULES / "tone").is_dir():
        pytest.skip("edge/node_modules is missing (make test runs npm ci)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=[*BROWSER_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(page_url)
        await page.fill("#music-prompt", "a chorale by Bach in G minor")
        await page.fill("#music-seconds", "8")
        await page.click("#compose button")
        await page.wait_for_selector("#music-out img", timeout=90_000)
        assert "notes" in await page.text_content("#music-state")
        roll = await page.eval_on_selector("#music-out img", "i => [i.naturalWidth, i.naturalHeight]")
        assert roll[0] > 300 and roll[1] > 100
        async with page.expect_download() as info:
            await page.click("#music-out a.download")
        midi = await asyncio.to_thread((await (await info.value).path()).read_bytes)
        assert midi[:4] == b"MThd"
        await page.click("#music-out button.play")
        await page.wait_for_function("window.musicStats.playing && window.musicStats.scheduled > 0")
        assert await page.evaluate("Tone.context.state") == "running"
        await page.screenshot(path=str(SHOTS / "music-page.png"), full_page=True)
        assert "key G minor" in await page.text_content("#music-out .understood")  # what the prompt stated
        assert "key (from the notes)" in await page.text_content(
            "#music-out .met"
        )  # and how the piece meets it
        await page.click("#music-out button.play")  # stop
        assert not await page.evaluate("window.musicStats.playing")
        serious = await _axe(page)
        assert not serious, serious
        assert not errors, errors
        await browser.close()

    # the same over the job API: 202, progress, then the files by URL
    async with httpx.AsyncClient(base_url=page_url) as http:
        r = await http.post(
            "/jobs", json={"kind": "music.generate", "params": {"prompt": "a hymn", "max_tokens": 512}}
        )
        assert r.status_code == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = (await http.get(r.json()["status_url"])).json()
            if status["state"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.3)
        assert status["state"] == "succeeded", status["message"]
        got = await http.get(status["result"]["midi_url"])
        assert (
            got.status_code == 200
            and got.headers["content-type"] == "audio/midi"
            and got.content[:4] == b"MThd"
        )
        png = await http.get(status["result"]["piano_roll_url"])
        assert png.headers["content-type"] == "image/png"
        assert (await http.get("/music/generated/../../etc/passwd")).status_code == 404
