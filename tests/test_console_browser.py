"""The console in a real browser (headless Chromium through Playwright) over the whole running system.

One journey, as a community manager and an operator would take it: sign in (a wrong key first),
every page, the main links, sorting, filtering, paging and the CSV export, a member's explanation,
the micro-communities (none before a detection, then the groups recommend found in the tenant's
planted activity) with "create a community for this group" closing the loop, a dead letter
replayed, a key created (its secret shown once) and revoked, then a service stopped. On every page:
what a person sees is asserted (figures, filled tables, drawn charts), no console error, no failed
request, axe-core finds no accessibility violation, and a screenshot is saved under
``test-artifacts/console/``.

Without Chromium (``/usr/bin/chromium``, Debian's package) or axe-core (``npm ci`` in tests/browser)
the test skips saying what is missing, except when ``CI`` is set: then it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kith_devkit.testing import eventually
from kith_devkit.testing.plugin import Infra
from tests.console_stack import (
    DEAD_EVENT,
    XSS_COMMUNITY,
    XSS_NAME,
    ConsoleStack,
    demo_config,
    detect_micro_communities,
    start_console_stack,
    wait_dead_letter,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("KITH_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SETUP = "`bash deploy/tools/setup-system.sh` (as root) installs it"


def _require(present: bool, what: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; {SETUP} (CI must run the browser tests)")
    pytest.skip(f"{what} is missing; {SETUP}")


class Browser:
    """A page of headless Chromium that records console errors, failed requests and dialogs."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)

        async def answer(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)

    def _failed(self, request: Any) -> None:
        # A navigation cancels what the page it leaves was still loading: that is no failure.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"failed: {request.url} {request.failure}")

    async def visit(self, path: str, *, status: int | None = 200) -> int:
        """Go to a page and check it answered ``status`` (any, with None); return the status."""
        response = await self.page.goto(self.base + path)
        assert response is not None
        assert status is None or response.status == status, f"{path}: {response.status}"
        return int(response.status)

    async def check(self, name: str) -> None:
        """Assert no console error or failed request so far and no accessibility violation; save a screenshot."""
        assert self.errors == [], f"{name}: {self.errors}"
        await self.page.add_script_tag(path=str(AXE))
        result = await self.page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => `${v.id}: ${v.nodes.length} (${v.nodes[0].target})`); }"
        )
        assert result == [], f"{name}: accessibility violations {result}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    async def text(self, selector: str) -> str:
        """Return the visible text of the first element matching ``selector``."""
        return str(await self.page.locator(selector).first.inner_text())

    async def count(self, selector: str) -> int:
        """Return how many elements match ``selector``."""
        return int(await self.page.locator(selector).count())


@pytest.fixture
async def console_stack(infra: Infra, tmp_path: Path) -> AsyncIterator[ConsoleStack]:
    """The services and the console, with a demo tenant (its planted groups included)."""
    _require(CHROMIUM.is_file(), f"Chromium ({CHROMIUM})")  # noqa: ASYNC240 - one stat, before anything starts
    _require(AXE.is_file(), "axe-core (tests/browser/node_modules)")
    stack: ConsoleStack | None = None
    try:
        stack = await start_console_stack(
            bootstrap=infra.bootstrap, mongo_uri=infra.mongo_uri, embedded_broker=infra.embedded_broker,
            logs=tmp_path, config=demo_config("acme"),
        )  # fmt: skip
        yield stack
    finally:
        if stack is not None:
            stack.stop_all()


async def test_the_console_in_a_browser(console_stack: ConsoleStack) -> None:
    from playwright.async_api import async_playwright

    stack = console_stack
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # bypass_csp: axe-core is injected into the pages, which the console's policy would refuse.
            context = await chromium.new_context(
                viewport={"width": 1280, "height": 900}, accept_downloads=True, bypass_csp=True
            )
            browser = Browser(await context.new_page(), stack.url("console"))
            await journey(browser, stack)
            phone = await chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, bypass_csp=True)
            small = Browser(await phone.new_page(), stack.url("console"))
            await on_a_phone(small, stack)
            await a_service_down(browser, stack)
        finally:
            await chromium.close()


async def sign_in(browser: Browser, key: str) -> None:
    await browser.page.fill("#key", key)
    await browser.page.click("form[action='/signin'] button[type=submit]")


async def journey(browser: Browser, stack: ConsoleStack) -> None:
    page = browser.page
    # Signed out, every page leads to the sign-in form; a wrong key is told so.
    await browser.visit("/overview")
    assert page.url.startswith(browser.base + "/signin")
    await browser.check("signin")
    await sign_in(browser, "kith_000000000000_not-a-real-key")
    assert "unknown or has been revoked" in await browser.text("[role=alert]")
    browser.errors.clear()  # the 401 answer of the refused sign-in is the expected outcome
    await sign_in(browser, stack.key)
    await page.wait_for_url(re.compile(r".*/overview$"))
    assert stack.key not in page.url

    # Overview: headline figures, charts with both periods, health, movers, trending, cohorts.
    assert await browser.text(".top .who strong") == stack.tenant
    members = await browser.text(".tile:first-child .figure")
    assert int(members.replace(",", "")) > 100
    assert await browser.count("svg.chart path.line.now") >= 7
    assert await browser.count("svg.chart path.line.before") >= 1
    assert await browser.count("svg.chart rect.bar.now") == 6
    assert await browser.count("table.cohorts tbody tr") >= 2
    assert "100%" in await browser.text("table.cohorts tbody tr")
    await browser.check("overview")
    await page.fill("input[name=from]", "2026-01-01")
    await page.fill("input[name=to]", "2026-01-14")
    await page.select_option("select[name=interval]", "week")
    await page.click("form.period button")
    assert await browser.count("figure.chart-card svg.chart") == 7
    assert await browser.count("svg.chart text.empty") >= 2
    assert "2026-01-01 to 2026-01-14" in await browser.text(".lead")

    # Communities: a full first page, sparklines, sorting, filters, paging, CSV export, markup shown as text.
    await browser.visit("/communities")
    assert await browser.count("table.list tbody tr") == 25
    assert await browser.count("table.list svg.spark") == 25
    await browser.check("communities")
    await page.click("table.list thead a:text('Active')")
    actives = [
        int(t.replace(",", "")) for t in await page.locator("table.list tbody tr td:nth-child(4)").all_inner_texts()
    ]
    assert actives == sorted(actives, reverse=True)
    await page.click("a[rel=next]")
    assert "26–" in await browser.text("#list-summary")
    async with page.expect_download() as download_info:
        await page.click("a:text('Export CSV')")
    exported = await asyncio.to_thread(Path(await (await download_info.value).path()).read_text)
    assert exported.splitlines()[0].startswith("community_id,name,")
    assert len(exported.splitlines()) == 1 + 41
    await page.fill("input[name=q]", "script")
    await page.click("form.filters button")
    assert await browser.count("table.list tbody tr") == 1
    assert await browser.text("table.list tbody th a") == XSS_NAME
    assert await page.evaluate("() => window.kithXss === undefined")
    assert browser.dialogs == []

    # A community: its charts, contributors with levels, topics, similar communities; then one of its members.
    await browser.visit("/communities?sort=members&order=desc")
    await page.click("table.list tbody tr:first-child th a")
    await page.wait_for_selector("h1")
    assert await browser.count("svg.chart path.line.now") >= 4
    assert await browser.count("section:has(h2:text('Top contributors')) tbody tr") >= 3
    assert await browser.count("section:has(h2:text('Similar communities')) li") >= 1
    await browser.check("community")
    await page.click("section:has(h2:text('Top contributors')) tbody tr:first-child th a")
    await page.wait_for_selector("h2:text('Suggestions as the member sees them')")
    assert await browser.count("section:has(h2:text('What moved the score')) tbody tr") >= 1
    assert await browser.count("ol.suggestions > li") >= 1
    await browser.check("member")
    await browser.visit(f"/communities/{XSS_COMMUNITY}")
    assert await browser.text("h1") == XSS_NAME
    assert await page.evaluate("() => window.kithXss === undefined")

    # Micro-communities: none before a detection; then the groups recommend found, one created as a community.
    await browser.visit("/micro-communities")
    assert "No group found yet." in await browser.text("table.list tbody tr")
    group = await detect_micro_communities(stack)
    await browser.visit("/micro-communities?status=emerging")
    assert await browser.count("table.list tbody tr") >= 1
    assert await browser.text("table.list tbody tr:first-child th a") == group["id"]
    await browser.check("micro-communities")
    inside = group["inside"]
    assert inside is not None, "no group found inside a community of the demo tenant"
    await browser.visit(f"/communities/{inside['overlaps'][0]['community_id']}")
    assert f"Group {inside['id']}" in await browser.text("section:has(h2:text('Micro-communities inside'))")
    await browser.visit("/micro-communities?status=emerging")
    await page.click(f"table.list a:text('{group['id']}')")
    await page.wait_for_selector("svg.graph")
    assert await browser.count("svg.graph circle.member") == min(group["size"], 150)
    assert await browser.count("svg.graph line.tie") >= group["size"]
    assert "emerging" in await browser.text(".lead")
    await browser.check("micro-community")
    await page.click("form[action$='create-community'] button")
    assert "was created for this group" in await browser.text("[role=status]")
    community = f"c-{group['id']}"

    async def created() -> bool:
        return await browser.visit(f"/communities/{community}", status=None) == 200

    await eventually(created, 60, "the community created for the group")
    assert await browser.text("h1") == group["proposed_name"]
    browser.errors.clear()  # the 404s of the page before the event was processed

    async def invites() -> bool:
        await browser.visit(f"/micro-communities/{group['id']}")
        return "Invite the rest of the group to" in await browser.text("ul.actions")

    await eventually(invites, 60, "the group's actions turning to inviting the rest to its community")

    # Operations: services ready, a dead letter replayed, a key created (secret once) and revoked.
    await wait_dead_letter(stack)
    await browser.visit("/operations")
    assert await browser.count("td .badge.ok") == 3
    assert DEAD_EVENT in await browser.text("#dead-letters table")
    await browser.check("operations")
    await page.click(f"#dead-letters tr:has-text('{DEAD_EVENT}') button:text('Replay')")
    assert "replayed onto the raw topic" in await browser.text("#dead-letters [role=status]")
    await page.fill("#key-name", "browser test key")
    await page.click("form[action='/operations/keys'] button[type=submit]")
    secret = await page.input_value("#new-key")
    assert secret.startswith("kith_")
    await browser.visit("/operations")
    assert await browser.count("#new-key") == 0
    await page.click("#keys tr:has-text('browser test key') button:text('Revoke')")
    await page.wait_for_url(re.compile(r".*revoked=.*"))
    assert browser.dialogs
    assert "Revoke the key" in browser.dialogs[-1]
    assert "revoked" in await browser.text("#keys tr:has-text('browser test key')")
    async with httpx.AsyncClient(base_url=stack.url("console")) as client:
        assert (await client.get("/overview")).status_code == 303

    # The revoked key cannot sign in; the admin key signs out.
    await page.click("button:text('Sign out')")
    await page.wait_for_url(re.compile(r".*/signin.*"))
    await sign_in(browser, secret)
    assert "unknown or has been revoked" in await browser.text("[role=alert]")
    browser.errors.clear()
    await sign_in(browser, stack.key)
    await page.wait_for_url(re.compile(r".*/overview$"))


async def on_a_phone(browser: Browser, stack: ConsoleStack) -> None:
    page = browser.page
    await browser.visit("/signin")
    await sign_in(browser, stack.key)
    await page.wait_for_url(re.compile(r".*/overview$"))
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the overview is {overflow}px wider than a phone"
    # Keyboard: the first Tab reaches the skip link, visibly; Enter moves to the content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.className") == "skip"
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    await page.keyboard.press("Enter")
    assert await page.evaluate("() => document.activeElement.id") == "main"
    await browser.check("overview-phone")


async def a_service_down(browser: Browser, stack: ConsoleStack) -> None:
    stack.stop("recommend")
    page = browser.page

    async def says_unreachable() -> bool:
        await browser.visit("/communities/c-0001")
        return "Recommend is unreachable" in await page.content() or "Recommend is unavailable" in await page.content()

    await eventually(says_unreachable, 30, "the community page saying recommend is unreachable")
    assert await browser.count("svg.chart path.line.now") >= 4
    assert await browser.count("section:has(h2:text('Top contributors')) tbody tr") >= 1
    await browser.visit("/operations")
    assert await browser.count("td .badge.bad") == 1
    browser.errors.clear()
