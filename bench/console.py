"""Console page speed: p95 time to a fully rendered page, per page, beside a trivial page of the console.

Starts its own broker and database, the three services and the console as processes, loads the
demo tenant of ``make run`` (300 communities, 3,000 members, four weeks) through ingest, waits for
scoring, asks recommend for a detection of the tenant's micro-communities, then drives headless
Chromium (Debian's, through Playwright): signed in, each page is visited ``--visits`` times in turn,
and the time from navigation start to the end of the load event (``PerformanceNavigationTiming``:
HTML, CSS, script and the server-drawn SVG charts all in) is taken.
The trivial page is the sign-in form (a template and the stylesheet, no call to any service),
measured in the same run. The first visit of a page is reported apart: it fills scoring's short
cache of the tenant's figures (``SCORING_INSIGHTS_CACHE_SECONDS``, 30 s), which later visits share
until it expires. The pages built on those figures are then measured twice more, scoring restarted
each time: with that cache expiring before every visit (0.2 s), so each visit is answered from the
figures held while they are computed again in the background (``SCORING_INSIGHTS_STALE_SECONDS``),
as a visitor after the 30 s meets it; and with the cache off (0): every visit reads and folds the
tenant's documents anew, the cost the first visit of a period pays.

Prints a Markdown table and writes ``bench/results/console.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.embedded import embedded_servers
from bench.measure import finish, parser_for, percentile, run_facts
from kith_cli.activity import demo_config as make_run_demo
from tests.console_stack import detect_micro_communities, start_console_stack

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TARGET_MS = 500.0
LOADED = "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"


async def measure(base: str, key: str, pages: dict[str, str], visits: int) -> dict[str, list[float]]:
    """Visit each page ``visits`` times in turn (signed in); return the load times in ms per page."""
    from playwright.async_api import async_playwright

    times: dict[str, list[float]] = {name: [] for name in pages}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            # Signed in on the sign-in form itself, so that no page is visited before it is measured.
            await page.goto(base + "/signin?next=/signin")
            await page.fill("#key", key)
            await page.click("form[action='/signin'] button[type=submit]")
            await page.wait_for_selector("button:text('Sign out')")
            for _ in range(visits):
                for name, path in pages.items():
                    response = await page.goto(base + path, wait_until="load")
                    if response is None or response.status != 200:
                        raise RuntimeError(f"{path} answered {response.status if response else 'nothing'}")
                    times[name].append(float(await page.evaluate(LOADED)))
        finally:
            await browser.close()
    return times


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start everything, load the tenant, measure the pages."""
    stack = None
    async with embedded_servers(workdir) as embedded:
        try:
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            config = dataclasses.replace(
                make_run_demo(), communities=args.communities, members=args.members, days=args.days,
                start=today - timedelta(days=args.days),
            )  # fmt: skip
            loading = time.perf_counter()
            stack = await start_console_stack(
                bootstrap=embedded.broker.address, mongo_uri=embedded.mongo_uri, embedded_broker=True,
                logs=workdir, config=config,
            )  # fmt: skip
            loaded = time.perf_counter() - loading
            group = await detect_micro_communities(stack)
            pages = {
                "sign-in form (trivial)": "/signin",
                "overview": "/overview",
                "communities": "/communities",
                "community": "/communities/c-0001",
                "member": "/members/m-00042",
                "micro-communities": "/micro-communities",
                "a micro-community": f"/micro-communities/{group['id']}",
                "operations": "/operations",
            }
            times = await measure(stack.url("console"), stack.key, pages, args.visits)
            # The same pages once scoring's cache of the tenant's figures has expired before every visit (0.2 s):
            # the figures held are served at once while a refresh runs (SCORING_INSIGHTS_STALE_SECONDS).
            figures_pages = ("overview", "communities", "community")
            for label, seconds in (("cache expired", "0.2"), ("uncached", "0")):
                stack.stop("scoring")
                stack.envs["scoring"]["SCORING_INSIGHTS_CACHE_SECONDS"] = seconds
                stack.start("scoring")
                await stack.wait_ready("scoring")
                phase_pages = {f"{name}, {label}": pages[name] for name in figures_pages}
                phase_pages["sign-in form (trivial)"] = pages["sign-in form (trivial)"]
                phase = await measure(stack.url("console"), stack.key, phase_pages, max(3, args.visits // 2))
                times.update({name: values for name, values in phase.items() if name.endswith(label)})
        finally:
            if stack is not None:
                stack.stop_all()
    trivial = percentile(times["sign-in form (trivial)"], 0.95)
    rows = {
        name: {
            "first_ms": values[0],
            "p50_ms": statistics.median(values),
            "p95_ms": percentile(values, 0.95),
            "p95_ratio_to_trivial": percentile(values, 0.95) / trivial,
        }
        for name, values in times.items()
    }
    return {"events": stack.loaded.sent if stack else 0, "load_seconds": loaded, "pages": rows}


def table(result: dict[str, Any]) -> str:
    """Return the figures as a Markdown table."""
    lines = [
        f"Demo tenant: {result['communities']} communities, {result['members']} members, {result['days']} days "
        f"({result['events']:,} events, loaded and scored in {result['load_seconds']:.0f} s); "
        f"{result['visits']} visits per page.",
        "",
        "| page | first visit | p50 | p95 | p95 / trivial page | p95 under 500 ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in result["pages"].items():
        met = "yes" if row["p95_ms"] < TARGET_MS else "**no**"
        lines.append(
            f"| {name} | {row['first_ms']:.0f} ms | {row['p50_ms']:.0f} ms | {row['p95_ms']:.0f} ms "
            f"| {row['p95_ratio_to_trivial']:.1f}x | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table."""
    parser = parser_for("console", __doc__, RESULTS)
    parser.add_argument("--communities", type=int, default=300, help="communities of the demo tenant (default 300)")
    parser.add_argument("--members", type=int, default=3_000, help="members of the demo tenant (default 3000)")
    parser.add_argument("--days", type=int, default=28, help="days of activity, up to today (default 28)")
    parser.add_argument("--visits", type=int, default=20, help="visits of each page (default 20)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: `bash deploy/tools/setup-system.sh` (as root) installs Chromium")
        return 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-console-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    result.update(
        run_facts("console", argv),
        communities=args.communities,
        members=args.members,
        days=args.days,
        visits=args.visits,
        seconds=time.perf_counter() - started,
    )
    finish(result, args.output, table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
