"""Changes to a prompt's patient-specific details, for the perturbation probe.

Each function takes a prompt and returns a changed copy; randomness comes from
a generator seeded per patient, so a rerun changes the same codes. Sex and age
tokens count as demographics and are left alone by ``drop`` and ``replace``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from benchmark.data.sequence import AGE_BAND_YEARS, AGE_PREFIX, AGE_TOP_CODED, SEX_PREFIX


def _is_demographic(token: str) -> bool:
    return token.startswith(SEX_PREFIX) or token.startswith(AGE_PREFIX)


def drop_codes(prompt: tuple[str, ...], count: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Remove ``count`` clinical codes at random positions.

    >>> drop_codes(("GENDER//F", "A//1", "A//2"), 1, np.random.default_rng(0))
    ('GENDER//F', 'A//1')
    """
    positions = [i for i, token in enumerate(prompt) if not _is_demographic(token)]
    if not positions:
        return prompt
    dropped = set(rng.choice(positions, size=min(count, len(positions)), replace=False).tolist())
    return tuple(token for i, token in enumerate(prompt) if i not in dropped)


class PopulationCodes:
    """Code frequencies per vocabulary, to draw replacement codes from."""

    def __init__(self, sequences: Iterable[Iterable[str]]) -> None:
        counts = Counter(
            token for tokens in sequences for token in tokens if not _is_demographic(token)
        )
        by_vocabulary: dict[str, list[tuple[str, int]]] = {}
        for code, count in sorted(counts.items()):
            by_vocabulary.setdefault(_vocabulary(code), []).append((code, count))
        self._codes = {v: [c for c, _ in items] for v, items in by_vocabulary.items()}
        self._counts = {
            v: np.array([n for _, n in items], float) for v, items in by_vocabulary.items()
        }
        # Index of each code in its vocabulary's list, looked up once per prompt token.
        self._position = {
            code: position for codes in self._codes.values() for position, code in enumerate(codes)
        }

    def has_alternative(self, code: str) -> bool:
        """Return whether the population contains a code of ``code``'s vocabulary other than it."""
        others = len(self._codes.get(_vocabulary(code), ()))
        if code in self._position:
            others -= 1
        return others > 0

    def draw_other(self, code: str, rng: np.random.Generator) -> str | None:
        """Draw a code of ``code``'s vocabulary other than ``code``, by population frequency.

        Returns None when the population contains no other code of that vocabulary.
        """
        if not self.has_alternative(code):
            return None
        vocabulary = _vocabulary(code)
        weights = self._counts[vocabulary].copy()
        if code in self._position:
            weights[self._position[code]] = 0.0
        codes = self._codes[vocabulary]
        return codes[rng.choice(len(codes), p=weights / weights.sum())]


def _vocabulary(code: str) -> str:
    return code.partition("//")[0]


def replace_codes(
    prompt: tuple[str, ...], count: int, population: PopulationCodes, rng: np.random.Generator
) -> tuple[str, ...]:
    """Replace ``count`` clinical codes with other population codes of the same vocabulary.

    A position can change only when the population contains another code of its
    vocabulary. Positions are drawn among those, so exactly ``count`` codes
    change when that many such positions exist, and a code whose vocabulary has
    no other code stays as it is.

    >>> population = PopulationCodes([("A//1", "A//2", "B//1")])
    >>> replace_codes(("GENDER//F", "A//1", "B//1"), 2, population, np.random.default_rng(0))
    ('GENDER//F', 'A//2', 'B//1')
    """
    changeable = [
        i
        for i, token in enumerate(prompt)
        if not _is_demographic(token) and population.has_alternative(token)
    ]
    if not changeable:
        return prompt
    changed = list(prompt)
    for i in rng.choice(changeable, size=min(count, len(changeable)), replace=False):
        changed[i] = population.draw_other(prompt[i], rng)
    return tuple(changed)


def _shifted_band(token: str) -> str:
    band = token[len(AGE_PREFIX) :]
    if band == f"{AGE_TOP_CODED}+":
        low = AGE_TOP_CODED - AGE_BAND_YEARS
    else:
        low = int(band.split("-")[0]) + AGE_BAND_YEARS
    if low >= AGE_TOP_CODED:
        return f"{AGE_PREFIX}{AGE_TOP_CODED}+"
    return f"{AGE_PREFIX}{low}-{low + AGE_BAND_YEARS - 1}"


def shift_age(prompt: tuple[str, ...]) -> tuple[str, ...]:
    """Move every age band five years up (the top band, 90+, moves down).

    >>> shift_age(("GENDER//M", "AGE//40-44", "A//1", "AGE//90+"))
    ('GENDER//M', 'AGE//45-49', 'A//1', 'AGE//85-89')
    """
    return tuple(_shifted_band(t) if t.startswith(AGE_PREFIX) else t for t in prompt)
