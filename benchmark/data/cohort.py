"""The in-memory cohort: patients with time-ordered MEDS events and a split.

A cohort is read from MEDS parquet or JSONL (see ``benchmark.data.meds`` and
``benchmark.data.jsonl``). Every patient belongs to one MEDS split:

- ``train``: a *member*, in the model's training data;
- ``held_out``: a *non-member*, from the same distribution, never trained on;
- ``tuning``: neither, used only for early stopping while training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

MEMBER_SPLIT = "train"
NON_MEMBER_SPLIT = "held_out"
TUNING_SPLIT = "tuning"
SPLITS = (MEMBER_SPLIT, TUNING_SPLIT, NON_MEMBER_SPLIT)

BIRTH_CODE = "MEDS_BIRTH"
DEATH_CODE = "MEDS_DEATH"


@dataclass(frozen=True)
class Patient:
    """One patient's record: codes in time order, with their times.

    ``times`` holds seconds since the Unix epoch as float64, NaN for static
    events that carry no time (MEDS allows a null ``time``). Static events come
    first, then events by time; ties keep their order in the source.
    """

    subject_id: int
    split: str
    codes: tuple[str, ...]
    times: np.ndarray

    @property
    def birth_time(self) -> float | None:
        """Seconds since the epoch of the ``MEDS_BIRTH`` event, or None."""
        for code, time in zip(self.codes, self.times, strict=True):
            if code == BIRTH_CODE and not np.isnan(time):
                return float(time)
        return None

    @property
    def is_member(self) -> bool:
        return self.split == MEMBER_SPLIT


@dataclass
class Cohort:
    """Patients of one data set, with where it came from.

    ``fingerprint`` is a sha256 over the sorted events and the split, so two
    cohorts with the same fingerprint hold the same data.
    """

    name: str
    patients: list[Patient]
    fingerprint: str
    source: str
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patients)

    def __iter__(self) -> Iterator[Patient]:
        return iter(self.patients)

    def in_split(self, split: str) -> list[Patient]:
        return [p for p in self.patients if p.split == split]

    @property
    def members(self) -> list[Patient]:
        return self.in_split(MEMBER_SPLIT)

    @property
    def non_members(self) -> list[Patient]:
        return self.in_split(NON_MEMBER_SPLIT)

    def split_counts(self) -> dict[str, int]:
        counts = {split: 0 for split in SPLITS}
        for patient in self.patients:
            counts[patient.split] = counts.get(patient.split, 0) + 1
        return counts


def code_vocabulary(patients: Sequence[Patient]) -> set[str]:
    """Return every distinct code in the patients' records."""
    vocabulary: set[str] = set()
    for patient in patients:
        vocabulary.update(patient.codes)
    return vocabulary
