"""Colour-blind safe colours: Okabe–Ito for series, viridis for the heatmap."""

from __future__ import annotations

#: Okabe and Ito, "Color Universal Design" (2008): distinguishable under the
#: common forms of colour blindness.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "reddish_purple": "#CC79A7",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: Series colours in the order they are used; dashes differ too, so colour is never the only cue.
SERIES = (
    (OKABE_ITO["blue"], None),
    (OKABE_ITO["vermillion"], "7 4"),
    (OKABE_ITO["bluish_green"], "2 3"),
    (OKABE_ITO["reddish_purple"], "10 3 2 3"),
    (OKABE_ITO["orange"], "4 2"),
)

#: Viridis (the matplotlib colour map by van der Walt and Smith) at 0, 0.1, …, 1:
#: perceptually uniform and monotonic in lightness, so it also reads in grey.
VIRIDIS = (
    "#440154",
    "#482475",
    "#414487",
    "#355f8d",
    "#2a788e",
    "#21918c",
    "#22a884",
    "#44bf70",
    "#7ad151",
    "#bddf26",
    "#fde725",
)

TEXT = "#1b1b1b"
MUTED_TEXT = "#555555"
GRID = "#dddddd"
NOT_ESTIMABLE_FILL = "#eeeeee"
SUPPRESSED_FILL = "#d9d9d9"
HATCH_INK = "#8a8a8a"


def viridis(position: float) -> str:
    """Return the viridis colour at ``position`` in [0, 1] (clipped), interpolated linearly."""
    position = min(1.0, max(0.0, position))
    scaled = position * (len(VIRIDIS) - 1)
    index = min(int(scaled), len(VIRIDIS) - 2)
    fraction = scaled - index
    low, high = _rgb(VIRIDIS[index]), _rgb(VIRIDIS[index + 1])
    mixed = (round(a + (b - a) * fraction) for a, b in zip(low, high, strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def text_colour_on(background: str) -> str:
    """Return black or white, whichever contrasts more with ``background`` (WCAG luminance)."""
    luminance = _relative_luminance(background)
    # Contrast ratio against white is 1.05 / (L + 0.05), against black (L + 0.05) / 0.05.
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _relative_luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
