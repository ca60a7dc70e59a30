"""Synthetic canary patients, and the training set that carries them.

A canary is a patient made up at random: a sex code and an age drawn like a
real patient's, then ``length`` clinical codes drawn uniformly from the
cohort's vocabulary, one a day. Nothing in the population predicts a canary's
codes, so a model can only assign one a high likelihood by having seen it.
The suite's training set holds every member plus each *inserted* canary
``r`` times, for every repetition count ``r`` of the suite; *reference*
canaries come from the same generator and are never inserted. The exposure of
an inserted canary (``benchmark.probes.canary``) compares it with them.

Everything follows from the suite's canary seed, so anyone regenerates the
same canaries. Canaries get negative ``subject_id`` values, which no real
patient of a MEDS cohort is expected to use, and belong to the ``train`` split.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from benchmark.data.cohort import BIRTH_CODE, DEATH_CODE, MEMBER_SPLIT, Cohort, Patient
from benchmark.data.sequence import SECONDS_PER_YEAR, SEX_PREFIX, build_sequence
from benchmark.specs.models import CanaryParameters

SECONDS_PER_DAY = 86_400.0
# Canaries are born on 1950-01-01 (seconds since the epoch) and start their
# record at an age drawn uniformly from this range, in years.
CANARY_BIRTH_TIME = -631_152_000.0
CANARY_AGE_RANGE = (18.0, 80.0)


@dataclass(frozen=True)
class Canary:
    """One canary patient; ``repetitions`` is 0 for a reference canary."""

    patient: Patient
    repetitions: int
    #: The canary's token sequence, as models see it.
    sequence: tuple[str, ...]


@dataclass(frozen=True)
class CanarySet:
    inserted: list[Canary]
    references: list[Canary]
    digest: str
    #: log2 of the number of distinct canaries the generator can draw.
    space_bits: float


def _clinical_vocabulary(cohort: Cohort) -> tuple[list[str], list[str], np.ndarray]:
    """Return the sorted clinical codes, the sex codes and their frequencies."""
    clinical: set[str] = set()
    sexes: Counter[str] = Counter()
    for patient in cohort:
        for code in patient.codes:
            if code.startswith(SEX_PREFIX):
                sexes[code] += 1
            elif code not in (BIRTH_CODE, DEATH_CODE):
                clinical.add(code)
    if not clinical or not sexes:
        raise ValueError(
            f"cohort {cohort.name!r} has no clinical or sex codes to draw canaries from"
        )
    sex_codes = sorted(sexes)
    weights = np.array([sexes[c] for c in sex_codes], float)
    return sorted(clinical), sex_codes, weights / weights.sum()


def _make_patient(subject_id: int, sex: str, age: float, codes: list[str]) -> Patient:
    start = CANARY_BIRTH_TIME + age * SECONDS_PER_YEAR
    times = [CANARY_BIRTH_TIME, CANARY_BIRTH_TIME] + [
        start + day * SECONDS_PER_DAY for day in range(len(codes))
    ]
    return Patient(
        subject_id=subject_id,
        split=MEMBER_SPLIT,
        codes=(BIRTH_CODE, sex, *codes),
        times=np.asarray(times, dtype=np.float64),
    )


def generate_canaries(
    cohort: Cohort, parameters: CanaryParameters, max_sequence_length: int
) -> CanarySet:
    """Draw the suite's inserted and reference canaries from the cohort's vocabulary."""
    vocabulary, sex_codes, sex_weights = _clinical_vocabulary(cohort)
    rng = np.random.default_rng([parameters.seed, 2718])
    counts = [r for r in parameters.repetitions for _ in range(parameters.per_repetition)]
    total = len(counts) + parameters.references

    canaries = []
    hasher = hashlib.sha256()
    for index in range(total):
        sex = sex_codes[rng.choice(len(sex_codes), p=sex_weights)]
        age = rng.uniform(*CANARY_AGE_RANGE)
        codes = [vocabulary[i] for i in rng.integers(0, len(vocabulary), parameters.length)]
        repetitions = counts[index] if index < len(counts) else 0
        patient = _make_patient(-(index + 1), sex, age, codes)
        sequence = build_sequence(patient, max_sequence_length).tokens
        canaries.append(Canary(patient, repetitions, sequence))
        hasher.update(f"{repetitions}\t{sex}\t{age:.6f}\t{' '.join(codes)}\n".encode())

    return CanarySet(
        inserted=canaries[: len(counts)],
        references=canaries[len(counts) :],
        digest=f"sha256:{hasher.hexdigest()}",
        space_bits=parameters.length * float(np.log2(len(vocabulary)))
        + float(np.log2(len(sex_codes))),
    )


def training_cohort(cohort: Cohort, canaries: CanarySet | None) -> Cohort:
    """Return the cohort with each inserted canary added to the members as often as
    its repetition count says; copies get their own negative subject ids."""
    if canaries is None or not canaries.inserted:
        return cohort
    copies = []
    next_id = -(len(canaries.inserted) + len(canaries.references) + 1)
    for canary in canaries.inserted:
        for _ in range(canary.repetitions):
            copies.append(
                Patient(next_id, MEMBER_SPLIT, canary.patient.codes, canary.patient.times)
            )
            next_id -= 1
    fingerprint = hashlib.sha256(f"{cohort.fingerprint}\n{canaries.digest}".encode()).hexdigest()
    return Cohort(
        name=f"{cohort.name}+canaries",
        patients=[*cohort.patients, *copies],
        fingerprint=f"sha256:{fingerprint}",
        source=cohort.source,
        metadata={**cohort.metadata, "canaries": canaries.digest},
    )
