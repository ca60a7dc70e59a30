"""Small synthetic cohorts for model tests, built directly as ``Cohort`` objects.

Each patient's record is ``MEDS_BIRTH`` and a sex code at birth, then clinical
codes one day apart from age 40. The codes follow a random walk over a small
vocabulary, so a model can learn the transitions and still has to memorize
each record to reproduce it exactly.
"""

from __future__ import annotations

import numpy as np

from benchmark.data.cohort import (
    BIRTH_CODE,
    MEMBER_SPLIT,
    NON_MEMBER_SPLIT,
    TUNING_SPLIT,
    Cohort,
    Patient,
)

SECONDS_PER_DAY = 86_400.0
BIRTH_TIME = 0.0
FIRST_EVENT_TIME = 40 * 365.2425 * SECONDS_PER_DAY


def make_patient(subject_id: int, split: str, sex: str, clinical_codes: list[str]) -> Patient:
    """Build a patient born at the epoch whose clinical codes start at age 40, a day apart."""
    codes = (BIRTH_CODE, f"GENDER//{sex}", *clinical_codes)
    times = [BIRTH_TIME, BIRTH_TIME] + [
        FIRST_EVENT_TIME + day * SECONDS_PER_DAY for day in range(len(clinical_codes))
    ]
    return Patient(subject_id, split, codes, np.asarray(times, dtype=np.float64))


def make_cohort(
    patients: int = 40,
    *,
    seed: int = 0,
    vocabulary_size: int = 20,
    min_events: int = 4,
    max_events: int = 12,
) -> Cohort:
    """Build a cohort: 6 of every 10 patients are members, 1 tuning, 3 non-members."""
    rng = np.random.default_rng(seed)
    split_cycle = [MEMBER_SPLIT] * 6 + [TUNING_SPLIT] + [NON_MEMBER_SPLIT] * 3

    records = []
    for subject_id in range(patients):
        length = int(rng.integers(min_events, max_events + 1))
        state = int(rng.integers(vocabulary_size))
        clinical_codes = []
        for _ in range(length):
            clinical_codes.append(f"SNOMED//{1000 + state}")
            state = (state + int(rng.integers(1, 4))) % vocabulary_size
        sex = "F" if rng.random() < 0.5 else "M"
        split = split_cycle[subject_id % len(split_cycle)]
        records.append(make_patient(subject_id, split, sex, clinical_codes))
    return Cohort(
        name="synthetic",
        patients=records,
        fingerprint=f"sha256:synthetic-{patients}-{seed}",
        source="tests",
    )


def make_cohort_from_codes(splits_and_codes: list[tuple[str, str, list[str]]]) -> Cohort:
    """Build a cohort from (split, sex, clinical codes) per patient, subject ids from 1."""
    records = [
        make_patient(subject_id, split, sex, codes)
        for subject_id, (split, sex, codes) in enumerate(splits_and_codes, start=1)
    ]
    return Cohort(
        name="hand-made", patients=records, fingerprint="sha256:hand-made", source="tests"
    )
