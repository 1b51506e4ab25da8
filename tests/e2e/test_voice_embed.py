"""The mic for any website (seed 001) in real headless Chromium: a page served
from another origin loads <voice-mic> with one script tag from the edge, speaks
through Chromium's fake microphone and gets the spoken answer, with the
element's DOM events; a page of an origin the edge does not allow is refused.
Every voice worker runs its real model on real NATS."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from switchboard.bus import BusSettings
from switchboard.bus.servers import free_port
from switchboard.edge.settings import EdgeSettings
from tests.e2e.test_analyst_page import CHROMIUM, SHOTS
from tests.e2e.test_voice_page import speaking_browser
from tests.voice_stack import voice_stack

pytestmark = [pytest.mark.slow, pytest.mark.nats]

EMBED = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<script src="http://127.0.0.1:{edge}/static/voice-mic.js"></script></head>
<body><h1>A shop that talks</h1><voice-mic server="http://127.0.0.1:{edge}"></voice-mic>
<script>
window.seen = [];
const mic = document.querySelector("voice-mic");
for (const type of ["transcript", "answer", "response", "audio", "error", "state"])
  mic.addEventListener(type, (e) => window.seen.push({{ type, detail: e.detail }}));
</script></body></html>"""


@contextlib.contextmanager
def site(folder: Path) -> Iterator[str]:
    """A static web server for ``folder`` on its own port: another origin than the edge's."""
    port = free_port()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


async def test_a_page_of_another_origin_embeds_the_mic(
    nats_settings: BusSettings, tmp_path: Path, model_server_url: str
) -> None:
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    args = speaking_browser(tmp_path)
    (tmp_path / "shop").mkdir()
    (tmp_path / "other").mkdir()
    with site(tmp_path / "shop") as shop, site(tmp_path / "other") as other:
        edge = EdgeSettings(open=True, allowed_origins=[shop])
        async with voice_stack(nats_settings, tmp_path, edge) as stack:
            for folder in ("shop", "other"):
                (tmp_path / folder / "index.html").write_text(EMBED.format(edge=stack.port))
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=args)
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(f"{shop}/index.html")
                await page.click("voice-mic button")
                await page.wait_for_function(
                    "window.seen.some((e) => e.type === 'response')", timeout=120_000
                )
                seen = await page.evaluate("window.seen")
                heard = [
                    e["detail"]["text"] for e in seen if e["type"] == "transcript" and e["detail"]["final"]
                ]
                assert heard and "worker" in heard[0].lower(), seen
                response = next(e["detail"]["text"] for e in seen if e["type"] == "response")
                assert response.strip()
                await page.wait_for_function("window.seen.some((e) => e.type === 'audio')", timeout=60_000)
                assert [e for e in seen if e["type"] == "error"] == []
                shown = await page.locator("voice-mic .said").inner_text()
                assert shown.strip() == response.strip()
                await page.screenshot(path=str(SHOTS / "voice-embed.png"), full_page=True)

                # the same page from an origin the edge does not name: refused, in words
                refused = await browser.new_page()
                await refused.goto(f"{other}/index.html")
                await refused.click("voice-mic button")
                await refused.wait_for_function("window.seen.some((e) => e.type === 'error')", timeout=30_000)
                error = await refused.evaluate("window.seen.find((e) => e.type === 'error').detail.message")
                assert "origin is not allowed" in error
                await browser.close()
            assert not errors, errors
