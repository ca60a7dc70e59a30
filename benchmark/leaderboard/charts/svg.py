"""A minimal SVG writer: elements in, escaped markup out."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

#: Dark text on light ground reads on screen and in print.
TEXT_COLOUR = "#1b1b1b"
FONT_SIZE = 12

#: Average glyph width of the site's sans-serif font, in font sizes; used to
#: size label columns, since the build cannot measure text.
GLYPH_WIDTH = 0.6


@dataclass(frozen=True)
class Chart:
    """A rendered chart: SVG markup and a text alternative for readers who cannot see it."""

    svg: Markup
    summary: str


def text_width(text: str, font_size: float) -> float:
    """Return the estimated width in pixels of ``text`` at ``font_size``."""
    return len(text) * font_size * GLYPH_WIDTH


def number(value: float) -> str:
    """Format a coordinate with one decimal, without a trailing '.0'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass
class SvgCanvas:
    """Collects SVG elements and renders them as one ``<svg>`` with a title and description.

    Keyword arguments become attributes: ``_`` turns into ``-``, so
    ``stroke_width`` becomes ``stroke-width``, and a trailing ``_`` is dropped,
    so ``class_`` becomes ``class``. Every attribute value and text is escaped.
    """

    chart_id: str
    width: float
    height: float
    title: str
    description: str
    parts: list[str] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, **attributes: object) -> None:
        """Append one element; ``text`` becomes its escaped content."""
        opening = f"<{tag}{_attributes(attributes)}"
        if text is None:
            self.parts.append(opening + "/>")
        else:
            self.parts.append(f"{opening}>{escape(text)}</{tag}>")

    def text(
        self,
        content: str,
        x: float,
        y: float,
        *,
        size: float = FONT_SIZE,
        anchor: str = "start",
        colour: str = TEXT_COLOUR,
        **attributes: object,
    ) -> None:
        """Append a ``<text>`` element at (x, y), the baseline's start, middle or end."""
        self.add(
            "text",
            content,
            x=x,
            y=y,
            font_size=size,
            text_anchor=None if anchor == "start" else anchor,
            fill=colour,
            **attributes,
        )

    def define_hatch(self, ground: str, ink: str) -> str:
        """Define the diagonal hatching that marks suppressed cells; return its ``url(#…)``."""
        pattern_id = f"{self.chart_id}-hatch"
        self.open(
            "pattern",
            id=pattern_id,
            width=8,
            height=8,
            patternUnits="userSpaceOnUse",
            patternTransform="rotate(45)",
        )
        self.add("rect", width=8, height=8, fill=ground)
        self.add("line", x1=0, y1=0, x2=0, y2=8, stroke=ink, stroke_width=3)
        self.close("pattern")
        return f"url(#{pattern_id})"

    def open(self, tag: str, **attributes: object) -> None:
        """Open an element whose children follow until ``close``."""
        self.parts.append(f"<{tag}{_attributes(attributes)}>")

    def close(self, tag: str) -> None:
        self.parts.append(f"</{tag}>")

    def render(self) -> Markup:
        title_id, description_id = f"{self.chart_id}-title", f"{self.chart_id}-desc"
        header = (
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(self.chart_id)}" '
            f'class="chart" viewBox="0 0 {number(self.width)} {number(self.height)}" '
            f'width="{number(self.width)}" height="{number(self.height)}" role="img" '
            f'aria-labelledby="{escape(title_id)} {escape(description_id)}">'
            f'<title id="{escape(title_id)}">{escape(self.title)}</title>'
            f'<desc id="{escape(description_id)}">{escape(self.description)}</desc>'
        )
        return Markup(header + "".join(self.parts) + "</svg>")


def _attributes(attributes: dict[str, object]) -> str:
    rendered = []
    for name, value in attributes.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = number(value)
        rendered.append(f' {key}="{escape(str(value))}"')
    return "".join(rendered)
