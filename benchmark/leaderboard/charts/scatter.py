"""Scatter plot of the privacy–utility trade-off: risk index against utility loss.

Both axes are better when lower, so the safest useful models sit in the
lower left corner. Each point carries its rank number, which the table
next to the plot names, so no point is identified by colour.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.leaderboard.charts.palette import GRID, MUTED_TEXT, OKABE_ITO
from benchmark.leaderboard.charts.scales import LinearScale, nice_domain, tick_label, ticks
from benchmark.leaderboard.charts.svg import Chart, SvgCanvas
from benchmark.results.models import Interval

WIDTH, HEIGHT = 620, 380
LEFT, RIGHT, TOP, BOTTOM = 66, 600, 24, 318
COLOUR = OKABE_ITO["blue"]


@dataclass(frozen=True)
class ScatterPoint:
    """One result: its rank in the table, its name, and the two intervals plotted."""

    rank: int
    name: str
    risk_index: Interval
    utility_loss: Interval


def privacy_utility_scatter(points: list[ScatterPoint], chart_id: str) -> Chart:
    """Plot the points that have both a risk index and a utility loss.

    Points without either are listed by name in the text alternative.
    """
    plotted = [
        p for p in points if p.risk_index.value is not None and p.utility_loss.value is not None
    ]
    summary = _summary(points, plotted)
    canvas = SvgCanvas(chart_id, WIDTH, HEIGHT, "Privacy–utility trade-off", summary)

    x_values = [v for p in plotted for v in _extent(p.utility_loss)]
    y_values = [v for p in plotted for v in _extent(p.risk_index)]
    x_low, x_high, x_step = nice_domain(*_padded(x_values, default=(0.0, 1.0)))
    y_low, y_high, y_step = nice_domain(0.0, max(y_values + [1.0]) * 1.08)
    x = LinearScale((x_low, x_high), (LEFT, RIGHT))
    y = LinearScale((y_low, y_high), (BOTTOM, TOP))

    for value in ticks(x_low, x_high, x_step):
        canvas.add("line", x1=x(value), x2=x(value), y1=TOP, y2=BOTTOM, stroke=GRID)
        canvas.text(tick_label(value, x_step), x(value), BOTTOM + 16, anchor="middle", size=11)
    for value in ticks(y_low, y_high, y_step):
        canvas.add("line", x1=LEFT, x2=RIGHT, y1=y(value), y2=y(value), stroke=GRID)
        canvas.text(tick_label(value, y_step), LEFT - 8, y(value) + 4, anchor="end", size=11)
    canvas.add(
        "rect",
        x=LEFT,
        y=TOP,
        width=RIGHT - LEFT,
        height=BOTTOM - TOP,
        fill="none",
        stroke="#888888",
    )
    canvas.text(
        "utility loss, nats per code on non-members (lower is more useful)",
        (LEFT + RIGHT) / 2,
        BOTTOM + 40,
        anchor="middle",
    )
    middle = (TOP + BOTTOM) / 2
    canvas.text(
        "risk index (lower is safer)",
        18,
        middle,
        anchor="middle",
        transform=f"rotate(-90 18 {middle})",
    )

    if not plotted:
        canvas.text(
            "No result of this suite reports both a risk index and a utility loss.",
            (LEFT + RIGHT) / 2,
            middle,
            anchor="middle",
            colour=MUTED_TEXT,
            font_style="italic",
        )

    for point in plotted:
        _point(canvas, point, x, y)
    return Chart(canvas.render(), summary)


def _point(canvas: SvgCanvas, point: ScatterPoint, x: LinearScale, y: LinearScale) -> None:
    cx, cy = x(point.utility_loss.value), y(point.risk_index.value)  # type: ignore[arg-type]
    whisker = {"stroke": "#333333", "stroke_width": 1.2}
    risk, loss = point.risk_index, point.utility_loss
    if risk.ci_low is not None and risk.ci_high is not None:
        canvas.add("line", x1=cx, x2=cx, y1=y(risk.ci_low), y2=y(risk.ci_high), **whisker)
    if loss.ci_low is not None and loss.ci_high is not None:
        canvas.add("line", x1=x(loss.ci_low), x2=x(loss.ci_high), y1=cy, y2=cy, **whisker)
    canvas.open("g", class_="point")
    canvas.add("title", f"#{point.rank} {point.name}")
    canvas.add("circle", cx=cx, cy=cy, r=6, fill=COLOUR, stroke="#ffffff", stroke_width=1.5)
    canvas.close("g")
    canvas.text(str(point.rank), cx + 8, cy - 7, font_weight="700")


def _padded(values: list[float], default: tuple[float, float]) -> tuple[float, float]:
    """Return the range of ``values`` widened by 8% on each side, so no point sits on the frame."""
    if not values:
        return default
    low, high = min(values), max(values)
    margin = 0.08 * (high - low) or 0.1 * abs(high) or 0.1
    return low - margin, high + margin


def _extent(interval: Interval) -> list[float]:
    return [v for v in (interval.value, interval.ci_low, interval.ci_high) if v is not None]


def _summary(points: list[ScatterPoint], plotted: list[ScatterPoint]) -> str:
    if not points:
        return "No results."
    parts = [
        f"#{p.rank} {p.name}: risk index {p.risk_index.value:.1f}, "
        f"utility loss {p.utility_loss.value:.3f}"
        for p in plotted
    ]
    text = "Risk index against utility loss. " + ("; ".join(parts) + "." if parts else "")
    missing = [f"#{p.rank} {p.name}" for p in points if p not in plotted]
    if missing:
        text += (
            " Not plotted, for want of a risk index or a utility loss: " + ", ".join(missing) + "."
        )
    return text.strip()
