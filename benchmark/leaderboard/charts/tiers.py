"""Line chart: the risk index at each attack tier, with its interval as a band."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.leaderboard.charts.palette import GRID, MUTED_TEXT, OKABE_ITO
from benchmark.leaderboard.charts.scales import LinearScale, nice_domain, tick_label, ticks
from benchmark.leaderboard.charts.svg import FONT_SIZE, Chart, SvgCanvas, text_width

WIDTH, HEIGHT = 680, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 656, 36, 262
COLOUR = OKABE_ITO["blue"]
BAND_OPACITY = 0.18


@dataclass(frozen=True)
class TierPoint:
    """The risk index at one attack tier."""

    tier: str
    severity: str
    value: float | None
    ci_low: float | None
    ci_high: float | None


def tier_risk_chart(points: list[TierPoint], chart_id: str) -> Chart:
    """Draw the risk index per tier, tiers left to right in the order given."""
    tops = [point.ci_high if point.ci_high is not None else point.value for point in points]
    low, high, step = nice_domain(0.0, max([top for top in tops if top is not None] + [1.0]))
    y = LinearScale((low, high), (BOTTOM, TOP))
    column = (RIGHT - LEFT) / max(len(points), 1)
    xs = [LEFT + column * (index + 0.5) for index in range(len(points))]

    summary = _summary(points)
    canvas = SvgCanvas(chart_id, WIDTH, HEIGHT, "Risk index by attack tier", summary)

    for value in ticks(low, high, step):
        canvas.add("line", x1=LEFT, x2=RIGHT, y1=y(value), y2=y(value), stroke=GRID)
        canvas.text(tick_label(value, step), LEFT - 8, y(value) + 4, anchor="end")
    middle = (TOP + BOTTOM) / 2
    canvas.text(
        "Risk index (0–100)", 18, middle, anchor="middle", transform=f"rotate(-90 18 {middle})"
    )

    for x, point in zip(xs, points, strict=True):
        for line, text in enumerate(_label_lines(point.tier, column)):
            canvas.text(text, x, BOTTOM + 18 + 14 * line, anchor="middle")
        canvas.text(
            point.severity,
            x,
            BOTTOM + 50,
            anchor="middle",
            size=11,
            colour=MUTED_TEXT,
            font_style="italic",
        )
    canvas.text(
        "attack tier, attacker knows more to the right (severity in italics)",
        (LEFT + RIGHT) / 2,
        HEIGHT - 6,
        anchor="middle",
        size=11,
        colour=MUTED_TEXT,
    )

    for run in _runs(points, lambda point: point.ci_low is not None and point.ci_high is not None):
        upper = [(xs[i], y(points[i].ci_high)) for i in run]
        lower = [(xs[i], y(points[i].ci_low)) for i in reversed(run)]
        if len(run) == 1:
            (x, top), (_, bottom) = upper[0], lower[0]
            canvas.add(
                "rect",
                x=x - 7,
                y=top,
                width=14,
                height=max(bottom - top, 1.0),
                fill=COLOUR,
                fill_opacity=BAND_OPACITY,
            )
        else:
            outline = " ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower)
            canvas.add("polygon", points=outline, fill=COLOUR, fill_opacity=BAND_OPACITY)

    for run in _runs(points, lambda point: point.value is not None):
        line = " ".join(f"{xs[i]:.1f},{y(points[i].value):.1f}" for i in run)
        canvas.add("polyline", points=line, fill="none", stroke=COLOUR, stroke_width=2.5)

    for x, point in zip(xs, points, strict=True):
        if point.value is None:
            canvas.text(
                "not computed",
                x,
                BOTTOM - 8,
                anchor="middle",
                size=11,
                colour=MUTED_TEXT,
                font_style="italic",
            )
            continue
        canvas.add(
            "circle",
            cx=x,
            cy=y(point.value),
            r=4.5,
            fill="#ffffff",
            stroke=COLOUR,
            stroke_width=2.5,
        )
        top = y(point.ci_high if point.ci_high is not None else point.value)
        canvas.text(f"{point.value:.1f}", x + 9, max(top - 6, TOP - 4), font_weight="600")

    _legend(canvas)
    return Chart(canvas.render(), summary)


def _legend(canvas: SvgCanvas) -> None:
    left = RIGHT - 230
    canvas.add("line", x1=left, x2=left + 24, y1=14, y2=14, stroke=COLOUR, stroke_width=2.5)
    canvas.add("circle", cx=left + 12, cy=14, r=4, fill="#ffffff", stroke=COLOUR, stroke_width=2)
    canvas.text("risk index", left + 30, 18, size=11)
    canvas.add(
        "rect", x=left + 100, y=8, width=24, height=12, fill=COLOUR, fill_opacity=BAND_OPACITY
    )
    canvas.text("95% interval", left + 130, 18, size=11)


def _label_lines(label: str, width: float) -> list[str]:
    """Split a tier id that does not fit its column at the underscore nearest its middle."""
    if text_width(label, FONT_SIZE) <= width - 6 or "_" not in label:
        return [label]
    cuts = [index for index, character in enumerate(label) if character == "_"]
    cut = min(cuts, key=lambda index: abs(index - len(label) / 2))
    return [label[: cut + 1], label[cut + 1 :]]


def _runs(points: list[TierPoint], keep) -> list[list[int]]:
    """Split the tier indexes into runs of consecutive points for which ``keep`` is true."""
    runs: list[list[int]] = []
    current: list[int] = []
    for index, point in enumerate(points):
        if keep(point):
            current.append(index)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _summary(points: list[TierPoint]) -> str:
    if not points:
        return "No attack tier reports a risk index."
    parts = []
    for point in points:
        text = f"{point.tier} ({point.severity}): "
        if point.value is None:
            text += "not computed"
        else:
            text += f"{point.value:.1f}"
            if point.ci_low is not None and point.ci_high is not None:
                text += f" [{point.ci_low:.1f}, {point.ci_high:.1f}]"
        parts.append(text)
    return "Risk index by attack tier, least known first: " + "; ".join(parts) + "."
