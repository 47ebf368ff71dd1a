"""The console's pure view code: charts escape what they show, the layout is stable, figures read well."""

from __future__ import annotations

import csv
import io

import pytest

from kith_console.domain import numbers
from kith_console.domain.charts import Line, Node, graph, line_chart, sparkline
from kith_console.domain.layout import force_layout
from kith_console.domain.views import communities_csv

pytestmark = pytest.mark.unit

MARKUP = "<script>alert(1)</script>"


def test_charts_escape_every_text_they_draw() -> None:
    chart = str(line_chart("c", MARKUP, [MARKUP, "b"], [Line(MARKUP, [1.0, None]), Line("before", [2.0, 3.0])]))
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart
    assert 'role="img"' in chart
    assert 'aria-labelledby="c-t c-d"' in chart
    assert "<script>" not in str(sparkline([1, 2], MARKUP))
    drawn = str(graph("g", MARKUP, [Node(MARKUP, 0.1, 0.2, central=True)], []))
    assert "<script>" not in drawn
    assert drawn.count("&lt;script&gt;") >= 2


def test_a_line_lifts_the_pen_over_missing_figures_and_an_empty_chart_says_so() -> None:
    chart = str(line_chart("c", "t", ["1", "2", "3", "4"], [Line("now", [1.0, None, 2.0, 3.0])]))
    path = chart.split('class="line now" d="', 1)[1].split('"', 1)[0]
    assert path.count("M") == 2
    assert path.count("L") == 1
    assert "No figures in this period" in str(line_chart("e", "t", ["1"], [Line("now", [None])]))
    assert "No figures" not in chart


def test_the_layout_is_seeded_inside_the_unit_square_and_keeps_ties_close() -> None:
    nodes = [f"m{i}" for i in range(12)]
    # Two dense cliques joined by one tie.
    edges = [(a, b, 1.0) for part in (nodes[:6], nodes[6:]) for i, a in enumerate(part) for b in part[i + 1 :]]
    edges.append(("m0", "m6", 1.0))
    first = force_layout(nodes, edges)
    assert first == force_layout(nodes, edges)
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in first.values())

    def distance(a: str, b: str) -> float:
        return float(((first[a][0] - first[b][0]) ** 2 + (first[a][1] - first[b][1]) ** 2) ** 0.5)

    inside = [distance(a, b) for a, b, _ in edges[:-1]]
    across = [distance(a, b) for a in nodes[1:6] for b in nodes[7:]]
    assert sum(inside) / len(inside) < sum(across) / len(across) / 2
    assert force_layout([], []) == {}
    assert force_layout(["solo"], []) == {"solo": (0.5, 0.5)}


def test_figures_read_as_a_person_reads_them() -> None:
    assert numbers.count(1234567) == "1,234,567"
    assert numbers.count(None) == numbers.DASH
    assert numbers.share(0.254) == "25%"
    assert numbers.change(150, 100) == "+50%"
    assert numbers.change(5, 0) == numbers.DASH
    assert numbers.duration(30) == "30 s"
    assert numbers.duration(3_600 * 5) == "5.0 h"
    assert numbers.duration(86_400 * 3) == "3.0 days"
    assert numbers.nice_ceiling([0.0]) == 1.0
    assert numbers.nice_ceiling([37.0]) == 50.0


def test_the_csv_export_defuses_formulas_and_joins_topics() -> None:
    rows = [
        {"community_id": "c-1", "name": '=HYPERLINK("x")', "topics": ["a", "b"], "growth": -0.5, "health": None},
        {"community_id": "c-2", "name": "Plain", "topics": [], "growth": 0.25, "health": 80.0},
    ]
    parsed = list(csv.DictReader(io.StringIO(communities_csv(rows))))
    assert parsed[0]["name"] == '\'=HYPERLINK("x")'
    assert parsed[0]["topics"] == "a b"
    assert parsed[0]["growth"] == "-0.5"
    assert parsed[0]["health"] == ""
    assert parsed[1]["health"] == "80.0"
