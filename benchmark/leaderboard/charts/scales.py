"""Axis scales and tick positions."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LinearScale:
    """Maps ``domain`` linearly onto ``pixels`` (either may run backwards)."""

    domain: tuple[float, float]
    pixels: tuple[float, float]

    def __call__(self, value: float) -> float:
        (d0, d1), (p0, p1) = self.domain, self.pixels
        if d1 == d0:
            return (p0 + p1) / 2
        return p0 + (value - d0) / (d1 - d0) * (p1 - p0)


@dataclass(frozen=True)
class LogScale:
    """Maps a positive ``domain`` onto ``pixels`` on a base-10 logarithmic axis."""

    domain: tuple[float, float]
    pixels: tuple[float, float]

    def __call__(self, value: float) -> float:
        (d0, d1), (p0, p1) = self.domain, self.pixels
        position = (math.log10(value) - math.log10(d0)) / (math.log10(d1) - math.log10(d0))
        return p0 + position * (p1 - p0)

    def decades(self) -> list[float]:
        """Return the powers of ten inside the domain, e.g. [0.001, 0.01, 0.1, 1]."""
        low, high = math.ceil(math.log10(self.domain[0])), math.floor(math.log10(self.domain[1]))
        return [10.0**exponent for exponent in range(low, high + 1)]


def nice_step(span: float, count: int = 5) -> float:
    """Return a tick step of 1, 2, 2.5 or 5 times a power of ten giving about ``count`` ticks.

    >>> nice_step(10), nice_step(0.37), nice_step(1)
    (2.0, 0.1, 0.2)
    """
    if span <= 0:
        return 1.0
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def nice_domain(low: float, high: float, count: int = 5) -> tuple[float, float, float]:
    """Widen [low, high] to whole tick steps; return (low, high, step).

    >>> nice_domain(0, 7.3)
    (0.0, 8.0, 2.0)
    """
    if high <= low:
        high = low + 1
    step = nice_step(high - low, count)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def ticks(low: float, high: float, step: float) -> list[float]:
    """Return the multiples of ``step`` from ``low`` to ``high``, rounded against float drift."""
    count = int(round((high - low) / step))
    return [round(low + index * step, 10) for index in range(count + 1)]


def tick_label(value: float, step: float) -> str:
    """Format a tick with as many decimals as its step needs.

    >>> tick_label(0.25, 0.05), tick_label(4.0, 2), tick_label(-0.1, 0.1)
    ('0.25', '4', '−0.1')
    """
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-12:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return signed_minus(text)


def signed_minus(text: str) -> str:
    """Replace a leading hyphen with the typographic minus sign (U+2212)."""
    return "−" + text[1:] if text.startswith("-") else text
