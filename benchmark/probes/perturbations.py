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
            by_vocabulary.setdefault(code.partition("//")[0], []).append((code, count))
        self._codes = {v: [c for c, _ in items] for v, items in by_vocabulary.items()}
        self._weights = {
            v: np.array([n for _, n in items], float) / sum(n for _, n in items)
            for v, items in by_vocabulary.items()
        }

    def draw(self, vocabulary: str, rng: np.random.Generator) -> str | None:
        codes = self._codes.get(vocabulary)
        if not codes:
            return None
        return codes[rng.choice(len(codes), p=self._weights[vocabulary])]


def replace_codes(
    prompt: tuple[str, ...], count: int, population: PopulationCodes, rng: np.random.Generator
) -> tuple[str, ...]:
    """Replace ``count`` clinical codes with population codes of the same vocabulary."""
    positions = [i for i, token in enumerate(prompt) if not _is_demographic(token)]
    if not positions:
        return prompt
    changed = list(prompt)
    for i in rng.choice(positions, size=min(count, len(positions)), replace=False):
        replacement = population.draw(prompt[i].partition("//")[0], rng)
        if replacement is not None:
            changed[i] = replacement
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
