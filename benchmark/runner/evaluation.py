"""Choosing the evaluated patients: equal, seeded samples of members and non-members."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT, Cohort
from benchmark.data.sequence import PatientSequence, build_sequence

logger = logging.getLogger(__name__)


class EvaluationSetError(ValueError):
    """Raised when the cohort has too few members or non-members to evaluate."""


@dataclass(frozen=True)
class EvaluationSet:
    """Evaluated sequences (members first) and every sequence of the cohort."""

    sequences: list[PatientSequence]
    is_member: np.ndarray
    population: list[PatientSequence]
    members_available: int
    non_members_available: int

    @property
    def n_members(self) -> int:
        return int(self.is_member.sum())

    @property
    def n_non_members(self) -> int:
        return int((~self.is_member).sum())


def select_evaluation_set(
    cohort: Cohort, max_sequence_length: int, max_per_group: int | None, seed: int
) -> EvaluationSet:
    """Sample the same number of members and non-members, seeded.

    Patients whose sequence holds no event cannot be scored and are left out;
    the log says how many.
    """
    population = [build_sequence(p, max_sequence_length) for p in cohort.patients]
    by_split: dict[str, list[PatientSequence]] = {MEMBER_SPLIT: [], NON_MEMBER_SPLIT: []}
    empty = 0
    for patient, sequence in zip(cohort.patients, population, strict=True):
        if patient.split not in by_split:
            continue
        if not sequence.events:
            empty += 1
            continue
        by_split[patient.split].append(sequence)
    if empty:
        logger.info("left out %d patients whose record holds no dated event", empty)

    members, non_members = by_split[MEMBER_SPLIT], by_split[NON_MEMBER_SPLIT]
    for split, group in ((MEMBER_SPLIT, members), (NON_MEMBER_SPLIT, non_members)):
        if len(group) < 2:
            raise EvaluationSetError(
                f"cohort {cohort.name!r} has {len(group)} patients with events in split "
                f"{split!r}; at least 2 members and 2 non-members are needed"
            )

    size = min(len(members), len(non_members))
    if max_per_group is not None:
        size = min(size, max_per_group)
    rng = np.random.default_rng([seed, 1])
    chosen_members = [members[i] for i in sorted(rng.permutation(len(members))[:size])]
    chosen_non_members = [non_members[i] for i in sorted(rng.permutation(len(non_members))[:size])]

    return EvaluationSet(
        sequences=chosen_members + chosen_non_members,
        is_member=np.array([True] * size + [False] * size),
        population=population,
        members_available=len(members),
        non_members_available=len(non_members),
    )
