"""The spend chart's axis: fixed-point dollar labels at any scale (never ``1e-04``), all of them inside the
picture (the left margin grows with the longest label), and bars that keep small costs readable."""
from __future__ import annotations

from datetime import date

import pytest

from archestra.console.chart import CHAR_WIDTH, WIDTH, stacked

FIRST = date(2026, 12, 1)


@pytest.mark.parametrize("cost, top", [(0.00012, "$0.00020"), (0.0003, "$0.000500"), (0.004, "$0.00500"),
                                       (0.05, "$0.0500"), (2, "$2.00"), (7.3, "$10.00"), (12, "$20"),
                                       (250, "$250.00"), (98765.4, "$100,000")])
def test_axis_labels_are_fixed_point_and_fit(cost, top):
    for days in (7, 30, 90):
        chart = stacked([("2026-12-05", "support", cost)], FIRST, days)
        labels = [label for _, label in chart.ticks]
        assert labels[0] == "$0" and labels[-1] == top
        assert not any("e" in label.lower() for label in labels), labels
        # Right-aligned 6 units left of the plot: the longest label starts inside the picture.
        assert chart.left - 6 - CHAR_WIDTH * max(map(len, labels)) >= 0
        assert all(bar["x"] >= chart.left and bar["x"] + bar["w"] <= WIDTH for bar in chart.bars)
        # Day labels are centred on their bars: the last one ends inside the picture too.
        assert chart.labels[-1][0] + CHAR_WIDTH * 5 / 2 <= WIDTH


def test_bar_titles_show_small_costs():
    chart = stacked([("2026-12-05", "a", 0.0000123), ("2026-12-05", "b", 2.0)], FIRST, 7)
    assert sorted(bar["title"] for bar in chart.bars) == ["2026-12-05 a: $0.000012", "2026-12-05 b: $2.0000"]


def test_costs_in_words_are_never_rounded_to_nothing():
    from archestra.console.chart import cost_text

    assert [cost_text(v) for v in (0, 0.000075, 0.00012, 2, 1234.5)] == [
        "$0.0000", "$0.000075", "$0.0001", "$2.0000", "$1,234.5000"]
