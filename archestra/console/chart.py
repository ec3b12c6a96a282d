"""A stacked bar chart as plain SVG geometry (no JavaScript, no library): cost per day, one colour per series."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#6b7280")
MAX_SERIES = len(COLOURS) - 1  # the rest is "other"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 720, 260, 56, 28, 12, 20
#: Roughly the width of one character of the axis labels (font-size 11) in the SVG's units.
CHAR_WIDTH = 7


@dataclass
class Chart:
    bars: list[dict[str, Any]] = field(default_factory=list)
    legend: list[tuple[str, str, float]] = field(default_factory=list)  # (name, colour, total)
    ticks: list[tuple[float, str]] = field(default_factory=list)        # (y, label)
    labels: list[tuple[float, str]] = field(default_factory=list)       # (x, day)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM
    total: float = 0.0


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    scale = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _decimals(step: float) -> int:
    """The decimals that write every multiple of ``step`` exactly (cents' two at least when there are any)."""
    for places in range(0, 12):
        scaled = step * 10 ** places
        if abs(scaled - round(scaled)) <= 1e-6 * max(scaled, 1):
            break
    return 0 if places == 0 else max(2, places)


def money(value: float, decimals: int) -> str:
    """``$1,250`` or ``$0.00025``: fixed-point, never scientific notation."""
    return f"${value:,.{decimals}f}"


def cost_text(cost: float) -> str:
    """A bar's cost to four decimals, or to its first two significant digits when smaller than that."""
    if 0 < cost < 0.0001:
        return money(cost, 1 - math.floor(math.log10(cost)))
    return money(cost, 4)


def stacked(rows: list[tuple[str, str, float]], first: date, days: int) -> Chart:
    """``rows`` are (day ``YYYY-MM-DD``, series name, cost); one bar per day from ``first``, the largest series
    each with a colour, the others summed as "other"."""
    totals: dict[str, float] = {}
    for _, name, cost in rows:
        totals[name] = totals.get(name, 0.0) + cost
    ranked = sorted(totals, key=lambda name: -totals[name])
    named = ranked[:MAX_SERIES] if len(ranked) > MAX_SERIES + 1 else ranked
    colour = {name: COLOURS[i] for i, name in enumerate(named)}
    per_day: dict[str, dict[str, float]] = {}
    for day, name, cost in rows:
        key = name if name in colour else "other"
        per_day.setdefault(day, {})[key] = per_day.setdefault(day, {}).get(key, 0.0) + cost
    if len(named) < len(ranked):
        colour["other"] = COLOURS[-1]
    chart = Chart(total=sum(totals.values()))
    chart.legend = [(name, colour[name], totals.get(name, sum(totals[n] for n in ranked if n not in named)))
                    for name in colour]
    top = _nice(max((sum(day.values()) for day in per_day.values()), default=0.0))
    plot_height = chart.baseline - TOP
    fractions = (0, 0.25, 0.5, 0.75, 1)
    decimals = _decimals(top / 4)
    labels = [money(top * f, decimals) if f else "$0" for f in fractions]
    # The axis labels are right-aligned against the plot: leave room for the longest of them.
    chart.left = max(LEFT, CHAR_WIDTH * max(len(label) for label in labels) + 12)
    chart.ticks = [(round(chart.baseline - plot_height * f, 2), label) for f, label in zip(fractions, labels)]
    slot = (WIDTH - RIGHT - chart.left) / days
    for i in range(days):
        day = (first + timedelta(days=i)).isoformat()
        x = chart.left + i * slot
        y = chart.baseline
        for name in colour:
            cost = per_day.get(day, {}).get(name, 0.0)
            if cost <= 0:
                continue
            h = cost / top * plot_height
            y -= h
            chart.bars.append({"x": round(x + slot * 0.15, 2), "y": round(y, 2), "w": round(slot * 0.7, 2),
                               "h": round(max(h, 0.5), 2), "fill": colour[name],
                               "title": f"{day} {name}: {cost_text(cost)}"})
        if days <= 14 or i % max(1, days // 8) == 0:
            chart.labels.append((round(x + slot / 2, 2), day[5:]))
    return chart
