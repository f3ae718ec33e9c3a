"""A bar chart's geometry over plain data, for server-rendered SVG: bars, a value axis with
round ticks, a date (category) axis with readable labels, and the words a screen reader reads.

The console's templates draw it (``console/_bar_chart.html``); nothing here knows HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 44
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the category (a date or a month)
    value: str  # the value as shown


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    title: str  # what the chart shows, for its <title> and aria-label
    description: str  # every value in words, for screen readers
    width: int
    height: int
    left: int
    bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    x_labels: tuple[XLabel, ...]
    line: float | None  # y of a reference line (e.g. capacity), or None


def nice_step(top: float, steps: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) so ``steps`` ticks reach ``top``."""
    if top <= 0:
        return 1.0
    raw = top / steps
    power = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return max(factor * power, 1.0) if top >= steps else factor * power
    return 10 * power


def _short(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def bar_chart(
    title: str,
    points: Sequence[tuple[str, Decimal | float | int]],
    *,
    unit: str = "",
    reference: float | None = None,
    reference_label: str = "",
) -> BarChart:
    """Bars for ``points`` (category, value), oldest first, with a value axis in ``unit``."""
    values = [float(value) for _, value in points]
    top_value = max([*values, reference or 0.0, 0.0])
    step = nice_step(top_value)
    top = step * max(1, -(-top_value // step)) if top_value > 0 else step * 4
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    width = plot_w / max(1, len(points))
    bars = []
    for index, (label, value) in enumerate(points):
        height = plot_h * float(value) / top if top else 0.0
        bars.append(
            Bar(
                x=round(LEFT + index * width + width * 0.1, 1),
                y=round(base - height, 1),
                width=round(max(width * 0.8, 1.0), 1),
                height=round(height, 1),
                label=label,
                value=f"{_short(float(value))}{unit}",
            )
        )
    ticks = []
    count = int(round(top / step))
    for n in range(count + 1):
        ticks.append(Tick(round(base - plot_h * n / count, 1), _short(step * n)))  # unit: title
    every = max(1, -(-len(points) // MAX_X_LABELS))
    x_labels = tuple(
        XLabel(round(LEFT + index * width + width / 2, 1), label)
        for index, (label, _) in enumerate(points)
        if index % every == 0 or index == len(points) - 1
    )
    words = "; ".join(f"{bar.label}: {bar.value}" for bar in bars) or "no data"
    if reference is not None:
        words += f"; {reference_label or 'reference'}: {_short(reference)}{unit}"
    line = None if reference is None else round(base - plot_h * reference / top, 1)
    return BarChart(
        title, words, WIDTH, HEIGHT, LEFT, base, tuple(bars), tuple(ticks), x_labels, line
    )
