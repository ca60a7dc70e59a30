"""Bar chart: one metric per subgroup, bars drawn from a reference value, with whiskers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmark.leaderboard.charts.palette import (
    GRID,
    HATCH_INK,
    MUTED_TEXT,
    OKABE_ITO,
    SUPPRESSED_FILL,
)
from benchmark.leaderboard.charts.scales import LinearScale, tick_label, ticks
from benchmark.leaderboard.charts.svg import Chart, SvgCanvas, text_width

ROW_HEIGHT = 28
TOP = 30
PLOT_WIDTH = 380
VALUE_COLUMN = 150
COLOUR = OKABE_ITO["bluish_green"]

RowState = Literal["value", "suppressed", "not_estimable"]


@dataclass(frozen=True)
class SubgroupBar:
    """One subgroup's value, or why it has none."""

    subgroup: str
    state: RowState
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


def subgroup_chart(
    bars: list[SubgroupBar],
    chart_id: str,
    *,
    title: str,
    axis_label: str,
    domain: tuple[float, float] = (0.0, 1.0),
    reference: float = 0.5,
    reference_label: str = "chance",
) -> Chart:
    """Draw one row per subgroup; bars start at ``reference`` and whiskers show the interval."""
    label_width = max([text_width(bar.subgroup, 12) for bar in bars] + [60]) + 16
    width = label_width + PLOT_WIDTH + VALUE_COLUMN
    bottom = TOP + ROW_HEIGHT * len(bars)
    height = bottom + 48
    x = LinearScale(domain, (label_width, label_width + PLOT_WIDTH))
    step = (domain[1] - domain[0]) / 4

    summary = _summary(title, bars)
    canvas = SvgCanvas(chart_id, width, height, title, summary)
    canvas.open("defs")
    hatch = canvas.define_hatch(SUPPRESSED_FILL, HATCH_INK)
    canvas.close("defs")

    for value in ticks(domain[0], domain[1], step):
        canvas.add("line", x1=x(value), x2=x(value), y1=TOP - 6, y2=bottom, stroke=GRID)
        canvas.text(tick_label(value, step), x(value), bottom + 16, anchor="middle", size=11)
    canvas.text(axis_label, label_width + PLOT_WIDTH / 2, bottom + 36, anchor="middle", size=11)
    canvas.add(
        "line",
        x1=x(reference),
        x2=x(reference),
        y1=TOP - 10,
        y2=bottom,
        stroke="#333333",
        stroke_dasharray="4 3",
    )
    canvas.text(
        f"{reference_label} ({tick_label(reference, step)})",
        x(reference),
        TOP - 14,
        anchor="middle",
        size=11,
        colour=MUTED_TEXT,
    )

    for row, bar in enumerate(bars):
        middle = TOP + row * ROW_HEIGHT + ROW_HEIGHT / 2
        canvas.text(bar.subgroup, label_width - 10, middle + 4, anchor="end")
        value_x = label_width + PLOT_WIDTH + 12
        if bar.state == "suppressed":
            canvas.add(
                "rect",
                x=x(domain[0]),
                y=middle - 8,
                width=PLOT_WIDTH,
                height=16,
                fill=hatch,
                fill_opacity=0.6,
            )
            canvas.text("suppressed (n<11)", value_x, middle + 4, size=11, font_style="italic")
            continue
        if bar.value is None:
            canvas.text(
                "not estimable",
                value_x,
                middle + 4,
                size=11,
                colour=MUTED_TEXT,
                font_style="italic",
            )
            continue
        start, end = sorted((x(reference), x(_clip(bar.value, domain))))
        canvas.add(
            "rect",
            x=start,
            y=middle - 7,
            width=max(end - start, 1.5),
            height=14,
            fill=COLOUR,
            fill_opacity=0.85,
        )
        if bar.ci_low is not None and bar.ci_high is not None:
            low, high = x(_clip(bar.ci_low, domain)), x(_clip(bar.ci_high, domain))
            canvas.add(
                "line", x1=low, x2=high, y1=middle, y2=middle, stroke="#000000", stroke_width=1.5
            )
            for end_x in (low, high):
                canvas.add(
                    "line",
                    x1=end_x,
                    x2=end_x,
                    y1=middle - 6,
                    y2=middle + 6,
                    stroke="#000000",
                    stroke_width=1.5,
                )
        canvas.text(_interval_text(bar), value_x, middle + 4, size=11)

    return Chart(canvas.render(), summary)


def _clip(value: float, domain: tuple[float, float]) -> float:
    return min(domain[1], max(domain[0], value))


def _interval_text(bar: SubgroupBar) -> str:
    text = f"{bar.value:.3f}"
    if bar.ci_low is not None and bar.ci_high is not None:
        text += f" [{bar.ci_low:.2f}, {bar.ci_high:.2f}]"
    return text


def _summary(title: str, bars: list[SubgroupBar]) -> str:
    if not bars:
        return f"{title}: no subgroup reported."
    values = [f"{bar.subgroup} {_interval_text(bar)}" for bar in bars if bar.state == "value"]
    suppressed = [bar.subgroup for bar in bars if bar.state == "suppressed"]
    not_estimable = [bar.subgroup for bar in bars if bar.state == "not_estimable"]
    text = f"{title}: " + ("; ".join(values) if values else "no subgroup has a value") + "."
    if suppressed:
        text += " Suppressed (fewer than 11 patients): " + ", ".join(suppressed) + "."
    if not_estimable:
        text += " Not estimable: " + ", ".join(not_estimable) + "."
    return text
