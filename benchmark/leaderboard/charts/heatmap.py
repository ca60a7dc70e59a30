"""Heatmap: member advantage per sensitive attribute (rows) and attack tier (columns)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from benchmark.leaderboard.charts.palette import (
    HATCH_INK,
    MUTED_TEXT,
    NOT_ESTIMABLE_FILL,
    SUPPRESSED_FILL,
    VIRIDIS,
    text_colour_on,
    viridis,
)
from benchmark.leaderboard.charts.scales import signed_minus
from benchmark.leaderboard.charts.svg import Chart, SvgCanvas, text_width

CELL_HEIGHT = 42
MIN_CELL_WIDTH = 96
TOP = 34
LEGEND_HEIGHT = 74
#: Width the legend needs: its caption, the colour bar and the two swatches.
LEGEND_WIDTH = 520
#: Colour scale half-widths to choose from; the smallest that covers every value is used.
SCALE_LIMITS = (0.05, 0.1, 0.25, 0.5, 1.0)

CellState = Literal["value", "suppressed", "not_estimable", "missing"]


@dataclass(frozen=True)
class HeatmapCell:
    """One (attribute, tier) cell of the heatmap."""

    state: CellState
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


def advantage_heatmap(
    attributes: list[str],
    tiers: list[str],
    cells: dict[tuple[str, str], HeatmapCell],
    chart_id: str,
) -> Chart:
    """Draw the cells; suppressed cells are hatched and labelled, absent ones grey."""
    label_width = max([text_width(name, 12) for name in attributes] + [60]) + 16
    cell_width = max([MIN_CELL_WIDTH] + [text_width(tier, 11) + 12 for tier in tiers])
    width = label_width + max(cell_width * len(tiers), LEGEND_WIDTH) + 8
    height = TOP + CELL_HEIGHT * len(attributes) + LEGEND_HEIGHT
    limit = _scale_limit(cells.values())

    summary = _summary(attributes, tiers, cells)
    canvas = SvgCanvas(
        chart_id, width, height, "Member advantage per sensitive attribute and attack tier", summary
    )
    hatch, gradient = _definitions(canvas)

    for column, tier in enumerate(tiers):
        centre = label_width + cell_width * (column + 0.5)
        canvas.text(tier, centre, TOP - 10, anchor="middle", size=11)

    for row, attribute in enumerate(attributes):
        top = TOP + row * CELL_HEIGHT
        canvas.text(attribute, label_width - 10, top + CELL_HEIGHT / 2 + 4, anchor="end")
        for column, tier in enumerate(tiers):
            left = label_width + column * cell_width
            cell = cells.get((attribute, tier), HeatmapCell("missing"))
            _cell(canvas, cell, left, top, cell_width, limit, hatch)

    _legend(canvas, label_width, TOP + CELL_HEIGHT * len(attributes) + 16, limit, hatch, gradient)
    return Chart(canvas.render(), summary)


def _cell(
    canvas: SvgCanvas,
    cell: HeatmapCell,
    left: float,
    top: float,
    width: float,
    limit: float,
    hatch: str,
) -> None:
    centre_x, centre_y = left + width / 2, top + CELL_HEIGHT / 2
    outline = {"stroke": "#ffffff", "stroke_width": 2}
    if cell.state == "value" and cell.value is not None:
        fill = viridis((cell.value + limit) / (2 * limit))
        ink = text_colour_on(fill)
        canvas.add("rect", x=left, y=top, width=width, height=CELL_HEIGHT, fill=fill, **outline)
        canvas.text(
            _signed(cell.value, 3),
            centre_x,
            centre_y - 2,
            anchor="middle",
            colour=ink,
            font_weight="600",
        )
        if cell.ci_low is not None and cell.ci_high is not None:
            interval = f"[{_signed(cell.ci_low, 2)}, {_signed(cell.ci_high, 2)}]"
            canvas.text(interval, centre_x, centre_y + 13, anchor="middle", size=10, colour=ink)
        return
    if cell.state == "suppressed":
        canvas.add("rect", x=left, y=top, width=width, height=CELL_HEIGHT, fill=hatch, **outline)
        canvas.text("suppressed", centre_x, centre_y - 2, anchor="middle", size=11)
        canvas.text("(n<11)", centre_x, centre_y + 12, anchor="middle", size=10)
        return
    label = "not estimable" if cell.state == "not_estimable" else "not run"
    canvas.add(
        "rect", x=left, y=top, width=width, height=CELL_HEIGHT, fill=NOT_ESTIMABLE_FILL, **outline
    )
    canvas.text(
        label,
        centre_x,
        centre_y + 4,
        anchor="middle",
        size=10,
        colour=MUTED_TEXT,
        font_style="italic",
    )


def _definitions(canvas: SvgCanvas) -> tuple[str, str]:
    """Define the hatching and the colour-scale gradient; return their ``url(#…)`` values."""
    canvas.open("defs")
    hatch = canvas.define_hatch(SUPPRESSED_FILL, HATCH_INK)
    gradient_id = f"{canvas.chart_id}-scale"
    canvas.open("linearGradient", id=gradient_id)
    for index, colour in enumerate(VIRIDIS):
        canvas.add("stop", offset=f"{index / (len(VIRIDIS) - 1):.2f}", stop_color=colour)
    canvas.close("linearGradient")
    canvas.close("defs")
    return hatch, f"url(#{gradient_id})"


def _legend(
    canvas: SvgCanvas, left: float, top: float, limit: float, hatch: str, gradient: str
) -> None:
    bar_width = 220
    canvas.text(
        "member advantage: attribute-inference AUROC on members minus on non-members",
        left,
        top,
        size=11,
    )
    canvas.add(
        "rect",
        x=left,
        y=top + 8,
        width=bar_width,
        height=12,
        fill=gradient,
        stroke="#888888",
        stroke_width=0.5,
    )
    for fraction, value in ((0.0, -limit), (0.5, 0.0), (1.0, limit)):
        x = left + fraction * bar_width
        canvas.add("line", x1=x, x2=x, y1=top + 20, y2=top + 25, stroke="#555555")
        canvas.text(_signed(value, 2), x, top + 37, anchor="middle", size=10)
    swatch_left = left + bar_width + 40
    canvas.add(
        "rect",
        x=swatch_left,
        y=top + 8,
        width=18,
        height=12,
        fill=hatch,
        stroke="#888888",
        stroke_width=0.5,
    )
    canvas.text("suppressed (n<11)", swatch_left + 24, top + 18, size=11)
    canvas.add(
        "rect",
        x=swatch_left + 140,
        y=top + 8,
        width=18,
        height=12,
        fill=NOT_ESTIMABLE_FILL,
        stroke="#888888",
        stroke_width=0.5,
    )
    canvas.text("not estimable", swatch_left + 164, top + 18, size=11)


def _scale_limit(cells) -> float:
    largest = max(
        [abs(cell.value) for cell in cells if cell.state == "value" and cell.value is not None]
        + [0.0]
    )
    for limit in SCALE_LIMITS:
        if largest <= limit:
            return limit
    return math.ceil(largest)


def _signed(value: float, digits: int) -> str:
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"
    return signed_minus(text)


def _summary(
    attributes: list[str], tiers: list[str], cells: dict[tuple[str, str], HeatmapCell]
) -> str:
    shown = [
        (cell.value, attribute, tier)
        for (attribute, tier), cell in cells.items()
        if cell.state == "value" and cell.value is not None
    ]
    suppressed = sum(cell.state == "suppressed" for cell in cells.values())
    total = len(attributes) * len(tiers)
    text = f"{len(attributes)} attributes by {len(tiers)} tiers: {len(shown)} of {total} cells "
    text += f"have a value, {suppressed} are suppressed (fewer than 11 patients)"
    if shown:
        value, attribute, tier = max(shown)
        text += (
            f"; the largest member advantage is {_signed(value, 3)} for {attribute} at tier {tier}"
        )
    return text + "."
