"""A time-aware earth mover's distance between two code continuations.

Each continuation is a set of points (code, t) with equal mass, where t is
the code's relative position in its continuation, from 0 (first) to 1
(last). clinmem's sequences carry order, not clock time, and models generate
codes without times, so relative position stands in for time on both sides.

The ground cost between two points needs no downloaded model:

    cost((a, s), (b, t)) = 0.8 * code_cost(a, b) + 0.2 * |s - t|

    code_cost(a, b) = 0     the same code
                      0.5   the same vocabulary and the same 3-character
                            category (ICD-9-CM, ICD-10-CM: 'E11.9' ~ 'E11.65')
                      0.75  the same vocabulary otherwise
                      1     different vocabularies

so every cost lies in [0, 1]. When the two continuations differ in length,
the shorter is padded with unmatched mass that costs 1 to move, the most any
point costs; the distance is then the minimum mean cost of a one-to-one
matching, an assignment problem that ``scipy.optimize.linear_sum_assignment``
solves exactly. Two identical continuations are at distance 0, two with no
code in common at distance close to 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

CODE_WEIGHT = 0.8
TIME_WEIGHT = 0.2
UNMATCHED_COST = 1.0
SAME_CATEGORY_COST = 0.5
SAME_VOCABULARY_COST = 0.75
HIERARCHICAL_VOCABULARIES = frozenset({"ICD9CM", "ICD10CM", "ICD9", "ICD10", "ICD10PCS"})
CATEGORY_LENGTH = 3


def _keys(code: str) -> tuple[str, str, str]:
    """Return a code's three comparison keys: the code, its vocabulary, its category."""
    vocabulary, _, value = code.partition("//")
    # Only hierarchical vocabularies get a category; others get a key no code shares.
    if vocabulary in HIERARCHICAL_VOCABULARIES:
        category = f"{vocabulary}//{value.replace('.', '')[:CATEGORY_LENGTH]}"
    else:
        category = f"\x00{code}"
    return code, vocabulary, category


#: Integer id of every comparison key seen in this process; it grows with the
#: number of distinct codes, which a model's vocabulary bounds.
_KEY_IDS: dict[str, int] = {}


@functools.cache
def _code_key_ids(code: str) -> tuple[int, int, int]:
    return tuple(_KEY_IDS.setdefault(key, len(_KEY_IDS)) for key in _keys(code))


def _key_ids(codes: Sequence[str]) -> np.ndarray:
    """Return integer ids of the codes' keys, shape (3, len), equal ids for equal keys.

    Comparing small integers is several times faster than NumPy's element-wise
    comparison of strings, and each code's keys are built once per process.
    """
    ids = np.array([_code_key_ids(code) for code in codes], dtype=np.int64)
    return ids.reshape(len(codes), 3).T


def code_cost_matrix(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Return the code-to-code ground cost of every pair, shape (len(left), len(right))."""
    left_ids, right_ids = _key_ids(left), _key_ids(right)
    same_code, same_vocabulary, same_category = (
        left_ids[i][:, None] == right_ids[i][None, :] for i in range(3)
    )
    costs = np.where(same_vocabulary, SAME_VOCABULARY_COST, 1.0)
    costs = np.where(same_category, SAME_CATEGORY_COST, costs)
    return np.where(same_code, 0.0, costs)


@functools.cache
def relative_positions(n: int) -> np.ndarray:
    """Return n evenly spaced positions from 0 to 1 (0 alone for one code), read-only."""
    positions = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
    positions.setflags(write=False)
    return positions


def padded_cost_matrix(generated: Sequence[str], truth: Sequence[str]) -> np.ndarray:
    """Return the square ground-cost matrix, padded with unmatched mass."""
    n, m = len(generated), len(truth)
    size = max(n, m)
    costs = np.full((size, size), UNMATCHED_COST)
    if n and m:
        time_gap = np.abs(relative_positions(n)[:, None] - relative_positions(m)[None, :])
        costs[:n, :m] = CODE_WEIGHT * code_cost_matrix(generated, truth) + TIME_WEIGHT * time_gap
    return costs


def trajectory_distance(generated: Sequence[str], truth: Sequence[str]) -> float:
    """Return the earth mover's distance between two continuations, in [0, 1].

    >>> trajectory_distance(["SNOMED//1", "LOINC//2"], ["SNOMED//1", "LOINC//2"])
    0.0
    >>> trajectory_distance([], ["SNOMED//1"])
    1.0
    >>> round(trajectory_distance(["ICD10CM//E11.9"], ["ICD10CM//E11.65"]), 6)
    0.4
    """
    if not generated and not truth:
        return 0.0
    costs = padded_cost_matrix(generated, truth)
    rows, columns = linear_sum_assignment(costs)
    return float(costs[rows, columns].mean())
