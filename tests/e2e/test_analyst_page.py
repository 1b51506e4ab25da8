"""The analyst panel in real headless Chromium: the page asks over the WebSocket,
the edge and the workers run on real NATS, the page shows code, table and chart.
The first test scripts the LLM (tests/fakes/llm.py) to walk through retries, jobs
and feedback; the second asks the real model server."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from switchboard.bus import BusSettings
from switchboard.bus.nats.runner import NatsRunner
from switchboard.edge.settings import EdgeSettings
from switchboard.workers import jobs
from switchboard.workers.analyst import codegen, datasets, sql
from switchboard.workers.analyst import python as python_worker
from switchboard.workers.analyst.memory import Memory
from tests.edge_server import edge_server
from tests.fakes import FakeLLM
from tests.memory_chain import until

pytestmark = [pytest.mark.slow, pytest.mark.nats]
SHOTS = Path(os.environ.get("SWITCHBOARD_SCREENSHOTS", tempfile.gettempdir()))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def stack(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, FakeLLM, Path]]:
    datasets.load_duckdb(tmp_path / "analyst.duckdb")
    settings = datasets.AnalystSettings(data_dir=tmp_path)
    llm = FakeLLM([])
    monkeypatch.setenv(
        "SWITCHBOARD_LLM_ENGINE", "in-process"
    )  # no model server: the page need not wait for one
    nc = await nats.connect(nats_settings.nats_url)
    workers = (
        codegen.build(llm, settings=settings),
        sql.build(settings),
        python_worker.build(settings),
        jobs.build(),
    )
    runners = [NatsRunner(nc, w, nats_settings) for w in workers]
    for r in runners:
        await r.start()
    # closed, as `up` runs it: the page is opened with the token, as `up` prints its address
    async with edge_server(nats_settings, EdgeSettings(token=TOKEN)) as port:
        yield f"http://127.0.0.1:{port}/?token={TOKEN}", llm, tmp_path
    for r in runners:
        await r.stop()
    await nc.close()


TOKEN = "page-test-token-0123456789"


async def open_page(p: Any, url: str) -> tuple[Any, Any, list[str]]:
    """Chromium on the page, once its session is open; the errors it logs are gathered."""
    browser = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(url)
    await page.wait_for_function("document.getElementById('session').textContent.length > 20")
    return browser, page, errors


@pytest.fixture
async def real_stack(nats_settings: BusSettings, tmp_path: Path, model_server_url: str) -> AsyncIterator[str]:
    """The analyst's workers with the real model server (the LLM found by env)."""
    datasets.load_duckdb(tmp_path / "analyst.duckdb")
    settings = datasets.AnalystSettings(data_dir=tmp_path)
    nc = await nats.connect(nats_settings.nats_url)
    workers = (codegen.build(settings=settings), sql.build(settings), jobs.build())
    for w in workers:
        if w.on_start:
            await w.on_start()  # codegen connects to the model server
    runners = [NatsRunner(nc, w, nats_settings) for w in workers]
    for r in runners:
        await r.start()
    async with edge_server(nats_settings, EdgeSettings(token=TOKEN)) as port:
        yield f"http://127.0.0.1:{port}/?token={TOKEN}"
    for r in runners:
        await r.stop()
    await nc.close()


async def test_ask_shows_code_table_and_chart(stack: tuple[str, FakeLLM, Path]) -> None:
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/setup.sh test installs it")
        pytest.skip("Debian chromium is not installed (make test installs it)")
    url, llm, data = stack
    llm.replies += [
        "```sql\nSELECT count(*) AS tracks FROM tracks\n```",  # wrong table: the worker retries
        "```sql\nSELECT count(*) AS tracks FROM track\n```",
        "There are 3503 tracks.",  # the answer in words, from the result
        "```python\ndf = con.execute('select g.name as genre, count(*) as n from track "
        "join genre g using (genre_id) group by 1 order by 2 desc limit 5').df()\n"
        "df.plot.bar(x='genre', y='n')\nresult = df\n```",
        "Rock has the most tracks.",
        "```sql\nSELECT m.name AS media, count(*) AS tracks FROM track t "
        "JOIN media_type m ON m.media_type_id = t.media_type_id GROUP BY 1\n```",
        "MPEG audio files are the most common.",
    ]
    async with async_playwright() as p:
        browser, page, errors = await open_page(p, url)

        await page.fill("#question", "How many tracks are there?")
        await page.click("#ask button")
        await page.wait_for_selector("#analyst-out .result.ok table", timeout=30_000)
        codes = await page.locator("#analyst-out pre.code").all_text_contents()
        assert "FROM tracks" in codes[0] and "FROM track" in codes[1]  # attempt 1 folded, 2 open
        assert await page.locator("#analyst-out details.attempt[open]").count() == 1
        progress = page.locator("#analyst-out .entry .progress").first
        assert (await progress.inner_text()).startswith("answered on attempt 2")
        assert "unknown table 'tracks'" in await page.locator("#analyst-out .result.failed").inner_text()
        assert await page.locator("#analyst-out .result.ok td").first.inner_text() == "3503"
        await page.wait_for_selector("#analyst-out .words", timeout=30_000)
        await page.wait_for_function(
            "document.querySelector('#analyst-out .words').textContent.includes('3503')"
        )

        # only the datasets configured here: no PostgreSQL URL, no PostgreSQL datasets
        offered = await page.locator("#dataset option").evaluate_all("os => os.map(o => o.value)")
        assert "chinook" in offered and "chinook-pg" not in offered
        # the user marks the answer right: it is kept as a worked example
        await page.click("#analyst-out .verdict button:text('Right')")
        assert "marked right" in await page.locator("#analyst-out .verdict").inner_text()
        memory = Memory(str(datasets.AnalystSettings(data_dir=data).memory()))
        await until(lambda: memory.history() and memory.history()[0].feedback == "right")

        await page.fill("#question", "Plot the five biggest genres")
        await page.click("#ask button")
        await page.wait_for_selector("#analyst-out img[alt=chart]", timeout=30_000)
        assert await page.locator("#analyst-out .result.ok td").first.inner_text() == "Rock"
        await page.wait_for_function(
            "(() => { const i = document.querySelector('#analyst-out img[alt=chart]'); "
            "return i && i.complete && i.naturalWidth > 100; })()"
        )
        # a table that fits a chart gets one drawn from its Vega-Lite spec (vega-embed, served from npm)
        await page.fill("#question", "How many tracks of each media type?")
        await page.click("#ask button")
        await page.wait_for_selector("#analyst-out .vega-chart svg .mark-rect path", timeout=30_000)
        await page.screenshot(path=str(SHOTS / "analyst.png"), full_page=True)
        # the same question as a job, from the Jobs panel: its row follows it to the answer
        llm.replies += ["```sql\nSELECT count(*) AS artists FROM artist\n```", "There are 275 artists."]
        await page.fill("#kind", "analyst.ask")
        await page.fill("#params", '{"question": "How many artists are there?"}')
        await page.click("#job button")
        await page.wait_for_function(
            "document.querySelector('#jobs-table tbody tr td:nth-child(2)')?.textContent === 'succeeded'",
            timeout=30_000,
        )
        row = await page.locator("#jobs-table tbody tr").first.inner_text()
        assert "analyst.ask" in row and "275" in row
        assert await page.locator("#jobs-table tbody tr button:text('Cancel')").is_disabled()  # it has ended
        # no serious accessibility violations (axe-core from npm), at desktop and phone width
        await page.click("#log-box summary")  # the event log, opened
        for width, height in ((1280, 900), (390, 844)):
            await page.set_viewport_size({"width": width, "height": height})
            serious = await _axe(page)
            assert not serious, serious
        await page.screenshot(path=str(SHOTS / "analyst-phone.png"), full_page=True)
        await browser.close()
        assert not errors, errors


@pytest.mark.timeout(900)  # a loaded 2-core box reads the long prompt slowly
async def test_real_model_answers_on_the_page(real_stack: str) -> None:
    """A question asked on the page is answered by the real model: its SQL, the
    table with the right count and the answer in words."""
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    async with async_playwright() as p:
        browser, page, errors = await open_page(p, real_stack)
        await page.fill("#question", "How many tracks are there?")
        await page.click("#ask button")
        await page.wait_for_selector("#analyst-out .result.ok table", timeout=300_000)
        code = (await page.locator("#analyst-out pre.code").last.all_text_contents())[0].lower()
        assert "select" in code and "track" in code, code
        assert "3503" in await page.locator("#analyst-out .result.ok").inner_text()
        await page.wait_for_selector("#analyst-out .words", timeout=300_000)
        await page.wait_for_function(
            "document.querySelector('#analyst-out .words').textContent.replace(/[,\\s]/g, '').includes('3503')",
            timeout=300_000,
        )
        await page.screenshot(path=str(SHOTS / "analyst-real-model.png"), full_page=True)
        await browser.close()
    assert not errors, errors


AXE = (
    Path(__file__).resolve().parents[2] / "switchboard" / "edge" / "node_modules" / "axe-core" / "axe.min.js"
)


async def _axe(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if not AXE.is_file():
        pytest.fail("axe-core is missing: npm ci in switchboard/edge (make test does)")
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
