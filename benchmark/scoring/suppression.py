"""The small-cell rule for published numbers.

A cell that counts 1 to 10 patients could identify them, so clinical data
releases hide such cells (the threshold of 11 is the common rule of, for
example, the CMS cell size suppression policy). clinmem applies it to every
group a published number is computed from: members, non-members, and the
carriers and non-carriers inside each. A subgroup's cell is also hidden when
its complement within all evaluated patients counts 1 to 10, because the
published ``all`` counts minus the subgroup's would reveal that small group.
"""

from __future__ import annotations

MIN_CELL_SIZE = 11
SUPPRESSION_NOTE = "suppressed: a group of 1-10 patients (small-cell rule, minimum 11)"
COMPLEMENT_SUPPRESSION_NOTE = (
    "suppressed: the patients outside this subgroup number 1-10, which the 'all' counts "
    "would reveal (small-cell rule, minimum 11)"
)


def is_small_cell(count: int) -> bool:
    """Return whether a count must be hidden: 1 to 10, inclusive.

    >>> [is_small_cell(n) for n in (0, 1, 10, 11)]
    [False, True, True, False]
    """
    return 1 <= count < MIN_CELL_SIZE


def any_small_cell(*counts: int) -> bool:
    return any(is_small_cell(c) for c in counts)
