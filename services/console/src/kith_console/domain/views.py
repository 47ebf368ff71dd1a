"""View models of the insight pages: the charts and tables a page shows, built from the services' answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from markupsafe import Markup

from kith_console.domain import numbers
from kith_console.domain.charts import Format, Line, bar_chart, line_chart


@dataclass(frozen=True)
class Figure:
    """How a figure of a period is shown: its format, its chart's title and its label in a headline."""

    fmt: Format
    title: str
    label: str = ""


#: Every figure of a period the pages show, by the field that holds it in the services' answers.
FIGURES: Final = {
    "members": Figure(numbers.count, "Members", "Members"),
    "new_members": Figure(numbers.count, "New members", "New members"),
    "active": Figure(numbers.count, "Active members", "Active members"),
    "dau": Figure(numbers.count, "Daily active members (mean)", "Daily active (mean)"),
    "wau": Figure(numbers.count, "Weekly active members", "Weekly active"),
    "mau": Figure(numbers.count, "Monthly active members", "Monthly active"),
    "health": Figure(numbers.score, "Health (0-100)"),
    "median_first_response_seconds": Figure(
        numbers.duration, "Median time to first response", "First response (median)"
    ),
    "user_generated_share": Figure(numbers.share, "Share of content written by members", "Member-written content"),
}
#: The figures drawn as charts, on the overview and on a community's page.
TENANT_CHARTS: Final = (
    "members", "new_members", "dau", "wau", "mau", "median_first_response_seconds", "user_generated_share",
)  # fmt: skip
COMMUNITY_CHARTS: Final = ("active", "members", "health", "median_first_response_seconds", "user_generated_share")
#: The figures compared with the previous period in a page's headline.
HEADLINE: Final = (
    "members", "new_members", "active", "dau", "wau", "mau", "median_first_response_seconds", "user_generated_share",
)  # fmt: skip
CSV_COLUMNS: Final = (
    "community_id", "name", "topics", "visibility", "members", "new_members", "members_left", "active",
    "active_previous", "growth", "health", "posts", "top_topics",
)  # fmt: skip


@dataclass(frozen=True)
class Chart:
    """A chart and the figures it draws, for the table beside it."""

    id: str
    title: str
    svg: Markup
    rows: list[tuple[str, str, str]]


@dataclass(frozen=True)
class Headline:
    """A figure of the period beside the previous period's."""

    label: str
    now: str
    before: str
    change: str


def series_charts(prefix: str, answer: Mapping[str, Any], names: Iterable[str]) -> list[Chart]:
    """Return a line chart per figure named: the period's buckets beside the previous period's."""
    current: Sequence[Mapping[str, Any]] = answer["series"]
    previous: Sequence[Mapping[str, Any]] = answer["previous_series"]
    labels = [bucket["start"] for bucket in current]
    charts = []
    for name in names:
        title, fmt = FIGURES[name].title, FIGURES[name].fmt
        now = [bucket.get(name) for bucket in current]
        before = [bucket.get(name) for bucket in previous]
        svg = line_chart(
            f"{prefix}-{name}",
            title,
            labels,
            [Line("This period", now, "now"), Line("Previous period", before, "before")],
            fmt=fmt,
        )
        rows = [(label, fmt(a), fmt(b)) for label, a, b in zip(labels, now, before, strict=False)]
        charts.append(Chart(f"{prefix}-{name}", title, svg, rows))
    return charts


def headline(totals: Mapping[str, Any], previous: Mapping[str, Any]) -> list[Headline]:
    """Return the period's headline figures beside the previous period's."""
    shown = []
    for name in HEADLINE:
        now, before, fmt = totals.get(name), previous.get(name), FIGURES[name].fmt
        shown.append(Headline(FIGURES[name].label, fmt(now), fmt(before), numbers.change(now, before)))
    return shown


def health_chart(bands: Sequence[Mapping[str, Any]]) -> Chart:
    """Return the health distribution as grouped bars, now beside the end of the previous period."""
    labels = [band["band"] for band in bands]
    now = [int(band["communities"]) for band in bands]
    before = [int(band["previous"]) for band in bands]
    svg = bar_chart("health-distribution", "Communities by health score", labels, now, before)
    rows = [(label, str(a), str(b)) for label, a, b in zip(labels, now, before, strict=True)]
    return Chart("health-distribution", "Communities by health score", svg, rows)


def communities_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Return community rows as CSV (topics separated by spaces), formula-looking cells defused."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for column in CSV_COLUMNS:
            value = row.get(column)
            text = " ".join(value) if isinstance(value, list) else "" if value is None else str(value)
            # A cell starting with = + - @ would run as a formula in a spreadsheet.
            if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
                text = "'" + text
            cells.append(text)
        writer.writerow(cells)
    return out.getvalue()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
