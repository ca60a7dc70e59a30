"""ROC curves of membership attacks with a logarithmic false-positive-rate axis.

The low-FPR end is where a membership attack matters: an attacker who can
name a few members with near certainty harms those patients even when the
AUROC is modest. A log x axis shows that end; Carlini et al. argue for
judging attacks by their TPR at low FPR ("Membership Inference Attacks From
First Principles", IEEE S&P 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.leaderboard.charts.palette import GRID, MUTED_TEXT, SERIES
from benchmark.leaderboard.charts.scales import LinearScale, LogScale, tick_label, ticks
from benchmark.leaderboard.charts.svg import Chart, SvgCanvas

WIDTH, HEIGHT = 700, 400
LEFT, RIGHT, TOP, BOTTOM = 62, 460, 20, 340
#: Smallest FPR the axis shows when the curves stop earlier.
DEFAULT_MIN_FPR = 1e-3
#: FPRs at which the text alternative reads each curve's TPR.
SUMMARY_FPRS = (0.01, 0.1)


@dataclass(frozen=True)
class RocSeries:
    """One attack's curve: (FPR, TPR) points and a legend label."""

    attack: str
    label: str
    points: list[tuple[float, float]]


def roc_chart(series: list[RocSeries], chart_id: str) -> Chart:
    """Draw each series as a line; colour and dash pattern both tell them apart."""
    positive = [fpr for item in series for fpr, _ in item.points if fpr > 0]
    smallest = min(positive + [DEFAULT_MIN_FPR])
    low = 10.0 ** math.floor(math.log10(smallest))
    x = LogScale((low, 1.0), (LEFT, RIGHT))
    y = LinearScale((0.0, 1.0), (BOTTOM, TOP))

    summary = _summary(series)
    canvas = SvgCanvas(
        chart_id, WIDTH, HEIGHT, "ROC of the membership attacks, log false-positive rate", summary
    )

    for decade in x.decades():
        canvas.add("line", x1=x(decade), x2=x(decade), y1=TOP, y2=BOTTOM, stroke=GRID)
        canvas.text(_decade_label(decade), x(decade), BOTTOM + 16, anchor="middle", size=11)
    for value in ticks(0.0, 1.0, 0.2):
        canvas.add("line", x1=LEFT, x2=RIGHT, y1=y(value), y2=y(value), stroke=GRID)
        canvas.text(tick_label(value, 0.2), LEFT - 8, y(value) + 4, anchor="end", size=11)
    canvas.add(
        "rect",
        x=LEFT,
        y=TOP,
        width=RIGHT - LEFT,
        height=BOTTOM - TOP,
        fill="none",
        stroke="#888888",
    )
    canvas.text("false-positive rate (log scale)", (LEFT + RIGHT) / 2, BOTTOM + 40, anchor="middle")
    middle = (TOP + BOTTOM) / 2
    canvas.text(
        "true-positive rate", 16, middle, anchor="middle", transform=f"rotate(-90 16 {middle})"
    )

    chance = [low * (1.0 / low) ** (step / 60) for step in range(61)]
    canvas.add(
        "polyline",
        points=" ".join(f"{x(f):.1f},{y(f):.1f}" for f in chance),
        fill="none",
        stroke="#555555",
        stroke_width=1.2,
        stroke_dasharray="3 3",
    )

    for index, item in enumerate(series):
        colour, dashes = SERIES[index % len(SERIES)]
        # A TPR reached at an FPR left of the axis is also reached at its left
        # edge, so such points (FPR 0 above all) are drawn there.
        line = " ".join(f"{x(max(fpr, low)):.1f},{y(tpr):.1f}" for fpr, tpr in item.points)
        canvas.add(
            "polyline",
            points=line,
            fill="none",
            stroke=colour,
            stroke_width=2.2,
            stroke_dasharray=dashes,
            stroke_linejoin="round",
        )

    _legend(canvas, series)
    return Chart(canvas.render(), summary)


def tpr_at(points: list[tuple[float, float]], fpr: float) -> float | None:
    """Return the highest TPR reached at a false-positive rate of at most ``fpr``.

    None when the curve has no point that low.

    >>> tpr_at([(0.0, 0.1), (0.02, 0.3), (0.5, 0.9)], 0.1)
    0.3
    """
    reached = [tpr for point_fpr, tpr in points if point_fpr <= fpr]
    return max(reached) if reached else None


def _legend(canvas: SvgCanvas, series: list[RocSeries]) -> None:
    left = RIGHT + 16
    canvas.text("attack", left, TOP + 12, size=11, colour=MUTED_TEXT)
    for index, item in enumerate(series):
        colour, dashes = SERIES[index % len(SERIES)]
        top = TOP + 30 + index * 36
        canvas.add(
            "line",
            x1=left,
            x2=left + 30,
            y1=top,
            y2=top,
            stroke=colour,
            stroke_width=2.2,
            stroke_dasharray=dashes,
        )
        canvas.text(item.attack, left + 36, top + 4, font_weight="600")
        canvas.text(item.label, left + 36, top + 19, size=10, colour=MUTED_TEXT)
    top = TOP + 30 + len(series) * 36
    canvas.add(
        "line",
        x1=left,
        x2=left + 30,
        y1=top,
        y2=top,
        stroke="#555555",
        stroke_width=1.2,
        stroke_dasharray="3 3",
    )
    canvas.text("chance", left + 36, top + 4)


def _decade_label(decade: float) -> str:
    """Write a power of ten as a plain decimal, e.g. 0.001."""
    return f"{decade:.{max(0, -round(math.log10(decade)))}f}"


def _summary(series: list[RocSeries]) -> str:
    if not series:
        return "No membership attack reported an ROC curve."
    parts = []
    for item in series:
        readings = []
        for fpr in SUMMARY_FPRS:
            tpr = tpr_at(item.points, fpr)
            reading = "not reached" if tpr is None else f"{tpr:.3f}"
            readings.append(f"TPR {reading} at FPR {fpr:g}")
        parts.append(f"{item.attack} ({item.label}): " + ", ".join(readings))
    return "ROC curves on all evaluated patients; " + "; ".join(parts) + "."
