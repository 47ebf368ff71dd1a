"""Charts drawn as SVG on the server: lines with the previous period, grouped bars, sparklines, a group graph.

Every text in a chart is escaped. Each chart is an ``img`` for assistive technology with a title and
a description saying what it shows; the figures themselves are also in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from kith_console.domain.numbers import count, nice_ceiling

Format = Callable[[float | None], str]

WIDTH = 640
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Line:
    """One line of a chart: its name, its values (None: no figure) and its CSS class."""

    name: str
    values: Sequence[float | None]
    css: str = "now"


def _x(i: int, n: int) -> float:
    inner = WIDTH - _LEFT - _RIGHT
    return _LEFT + (inner * i / (n - 1) if n > 1 else inner / 2)


def _y(value: float, top: float) -> float:
    inner = HEIGHT - _TOP - _BOTTOM
    return _TOP + inner * (1 - value / top)


def _path(values: Sequence[float | None], top: float) -> str:
    """Return an SVG path through the known values, lifting the pen over gaps."""
    parts: list[str] = []
    pen_down = False
    for i, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_x(i, len(values)):.1f},{_y(value, top):.1f}")
        pen_down = True
    return " ".join(parts)


def _frame(chart_id: str, title: str, description: str, top: float, fmt: Format, attributes: str = "") -> list[str]:
    """Return the start of a chart: its ``svg`` element with title and description, and the grid with its ticks."""
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
        f"{attributes}>",
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
    ]
    for step in range(5):
        value = top * step / 4
        y = _y(value, top)
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return out


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], lines: Sequence[Line], *, fmt: Format = count
) -> Markup:
    """Return a line chart of ``lines`` over ``labels`` (the first line's points carry their value as a tooltip)."""
    n = len(labels)
    top = nice_ceiling([v for line in lines for v in line.values if v is not None])
    out = _frame(chart_id, title, _describe(labels, lines, fmt), top, fmt, ' preserveAspectRatio="xMidYMid meet"')
    if n:
        for i in sorted({0, n // 2, n - 1}):
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            x = _x(i, n)
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(labels[i])}</text>'
            )
    if not any(v is not None for line in lines for v in line.values):
        x, y = WIDTH / 2, HEIGHT / 2
        out.append(f'<text class="empty" x="{x:.0f}" y="{y:.0f}" text-anchor="middle">No figures in this period</text>')
    for line in reversed(lines):
        path = _path(line.values, top)
        if path:
            out.append(f'<path class="line {escape(line.css)}" d="{path}"><title>{escape(line.name)}</title></path>')
    if lines:
        first = lines[0]
        for i, known in enumerate(first.values):
            if known is None:
                continue
            value = known
            out.append(
                f'<circle class="point {escape(first.css)}" cx="{_x(i, n):.1f}" cy="{_y(value, top):.1f}" r="2.5">'
                f"<title>{escape(labels[i])}: {escape(fmt(value))}</title></circle>"
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text inside was escaped


def _describe(labels: Sequence[str], lines: Sequence[Line], fmt: Format) -> str:
    if not labels:
        return "No figures in this period."
    parts = []
    for line in lines:
        known = [v for v in line.values if v is not None]
        if known:
            parts.append(f"{line.name}: from {fmt(known[0])} to {fmt(known[-1])}, highest {fmt(max(known))}")
        else:
            parts.append(f"{line.name}: no figures")
    return f"{labels[0]} to {labels[-1]}. " + "; ".join(parts) + "."


def bar_chart(chart_id: str, title: str, labels: Sequence[str], now: Sequence[int], before: Sequence[int]) -> Markup:
    """Return grouped bars: each label's figure now beside the previous period's."""
    top = nice_ceiling([*now, *before])
    n = max(len(labels), 1)
    inner = WIDTH - _LEFT - _RIGHT
    slot = inner / n
    bar = slot * 0.35
    summary = ", ".join(f"{label}: {a} (before {b})" for label, a, b in zip(labels, now, before, strict=True))
    out = _frame(chart_id, title, f"{summary}.", top, count)
    base = _y(0, top)
    for i, label in enumerate(labels):
        x = _LEFT + slot * i + slot * 0.15
        for offset, value, css, when in ((0.0, before[i], "before", "before"), (bar, now[i], "now", "now")):
            y = _y(value, top)
            out.append(
                f'<rect class="bar {css}" x="{x + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}">'
                f"<title>{escape(label)} {when}: {value}</title></rect>"
            )
        out.append(f'<text class="tick" x="{x + bar:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text inside was escaped


def sparkline(values: Sequence[float], label: str, width: int = 96, height: int = 24) -> Markup:
    """Return a small trend line; its label says what it shows."""
    if not values:
        return Markup("")
    top = max(max(values), 1.0)
    n = len(values)
    points = " ".join(
        f"{(width - 2) * i / max(n - 1, 1) + 1:.1f},{height - 2 - (height - 4) * v / top:.1f}"
        for i, v in enumerate(values)
    )
    return Markup(  # noqa: S704 - the label is escaped, the rest are numbers
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><polyline points="{points}"/></svg>'
    )


@dataclass(frozen=True)
class Node:
    """A member in a group graph."""

    id: str
    x: float
    y: float
    central: bool = False


def graph(
    chart_id: str, title: str, nodes: Sequence[Node], edges: Sequence[tuple[str, str, float]], size: int = 480
) -> Markup:
    """Return a group's interaction graph: members at their layout positions, ties as lines as thick as they weigh."""
    pad = 24
    where = {node.id: (pad + node.x * (size - 2 * pad), pad + node.y * (size - 2 * pad)) for node in nodes}
    heaviest = max((w for _, _, w in edges), default=1.0) or 1.0
    out = [
        f'<svg class="graph" viewBox="0 0 {size} {size}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{len(nodes)} members and {len(edges)} ties; central members are larger.</desc>',
    ]
    for a, b, weight in edges:
        if a in where and b in where:
            (x1, y1), (x2, y2) = where[a], where[b]
            out.append(
                f'<line class="tie" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke-width="{0.5 + 3 * weight / heaviest:.2f}"/>'
            )
    for node in nodes:
        x, y = where[node.id]
        css = "member central" if node.central else "member"
        radius = 7 if node.central else 4.5
        out.append(
            f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}"><title>{escape(node.id)}</title></circle>'
        )
        if node.central:
            out.append(f'<text class="label" x="{x + 9:.1f}" y="{y + 4:.1f}">{escape(node.id)}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text inside was escaped
