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

#: The figures of a period shown as charts: (field, title, format).
TENANT_CHARTS: Final = (
    ("members", "Members", numbers.count),
    ("new_members", "New members", numbers.count),
    ("dau", "Daily active members (mean)", numbers.count),
    ("wau", "Weekly active members", numbers.count),
    ("mau", "Monthly active members", numbers.count),
    ("median_first_response_seconds", "Median time to first response", numbers.duration),
    ("user_generated_share", "Share of content written by members", numbers.share),
)
COMMUNITY_CHARTS: Final = (
    ("active", "Active members", numbers.count),
    ("members", "Members", numbers.count),
    ("health", "Health (0-100)", numbers.score),
    ("median_first_response_seconds", "Median time to first response", numbers.duration),
    ("user_generated_share", "Share of content written by members", numbers.share),
)
#: The figures compared with the previous period in a page's headline: (field, label, format).
HEADLINE: Final = (
    ("members", "Members", numbers.count),
    ("new_members", "New members", numbers.count),
    ("active", "Active members", numbers.count),
    ("dau", "Daily active (mean)", numbers.count),
    ("wau", "Weekly active", numbers.count),
    ("mau", "Monthly active", numbers.count),
    ("median_first_response_seconds", "First response (median)", numbers.duration),
    ("user_generated_share", "Member-written content", numbers.share),
)
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


def series_charts(prefix: str, answer: Mapping[str, Any], specs: Iterable[tuple[str, str, Format]]) -> list[Chart]:
    """Return a line chart per figure: the period's buckets beside the previous period's."""
    current: Sequence[Mapping[str, Any]] = answer["series"]
    previous: Sequence[Mapping[str, Any]] = answer["previous_series"]
    labels = [bucket["start"] for bucket in current]
    charts = []
    for name, title, fmt in specs:
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
    return [
        Headline(
            label, fmt(totals.get(name)), fmt(previous.get(name)), numbers.change(totals.get(name), previous.get(name))
        )
        for name, label, fmt in HEADLINE
    ]


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
