"""The token view of a patient record that every model sees.

A patient's sequence is a list of code strings:

1. demographics: the sex code (``GENDER//F``, ``GENDER//M``, ...) and the age
   band at the first dated clinical event (``AGE//40-44``);
2. events: the clinical codes in time order, with a new ``AGE//...`` token
   whenever the patient enters the next five-year age band, and
   ``MEDS_DEATH`` where the record has it.

Ages of 90 and over collapse into ``AGE//90+``, as the HIPAA Safe Harbor rule
does, so the oldest patients stay a group of more than one. Exact duplicate
events (same code, same time) appear once. The sequence is cut after
``max_length`` tokens: the benchmark's view of a patient is that window, and
labels such as "carries attribute X" are read from the same window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.cohort import BIRTH_CODE, Patient

SEX_PREFIX = "GENDER//"
AGE_PREFIX = "AGE//"
AGE_BAND_YEARS = 5
AGE_TOP_CODED = 90
SECONDS_PER_YEAR = 365.2425 * 24 * 3600


def age_band_token(age_years: float) -> str:
    """Return the five-year age band token for an age in years.

    >>> age_band_token(42.7)
    'AGE//40-44'
    >>> age_band_token(93.0)
    'AGE//90+'
    """
    if age_years >= AGE_TOP_CODED:
        return f"{AGE_PREFIX}{AGE_TOP_CODED}+"
    low = int(max(age_years, 0) // AGE_BAND_YEARS) * AGE_BAND_YEARS
    return f"{AGE_PREFIX}{low}-{low + AGE_BAND_YEARS - 1}"


@dataclass(frozen=True)
class PatientSequence:
    """A patient's tokens, split into the demographic part and the events.

    ``event_times`` holds seconds since the epoch for each event token (age
    tokens take the time of the event they precede).
    """

    subject_id: int
    is_member: bool
    demographics: tuple[str, ...]
    events: tuple[str, ...]
    event_times: np.ndarray
    birth_time: float | None = None

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.demographics + self.events

    def __len__(self) -> int:
        return len(self.demographics) + len(self.events)

    @property
    def age_at_last_event(self) -> float | None:
        """Age in years at the last event of the window, or None without a birth time."""
        if self.birth_time is None or len(self.event_times) == 0:
            return None
        return float((self.event_times[-1] - self.birth_time) / SECONDS_PER_YEAR)


def build_sequence(patient: Patient, max_length: int) -> PatientSequence:
    """Turn a patient record into the token sequence models are trained on."""
    birth = patient.birth_time
    sex_tokens = tuple(code for code in patient.codes if code.startswith(SEX_PREFIX))[:1]

    events: list[str] = []
    times: list[float] = []
    seen: set[tuple[str, float]] = set()
    current_band: str | None = None
    first_band: str | None = None
    for code, time in zip(patient.codes, patient.times, strict=True):
        if code == BIRTH_CODE or code.startswith(SEX_PREFIX) or np.isnan(time):
            continue
        if (code, time) in seen:
            continue
        seen.add((code, time))

        if birth is not None:
            band = age_band_token((time - birth) / SECONDS_PER_YEAR)
            if first_band is None:
                first_band = band
            elif band != current_band:
                events.append(band)
                times.append(time)
            current_band = band

        events.append(code)
        times.append(time)

    demographics = sex_tokens + ((first_band,) if first_band else ())
    room = max(max_length - len(demographics), 0)
    return PatientSequence(
        subject_id=patient.subject_id,
        is_member=patient.is_member,
        demographics=demographics,
        events=tuple(events[:room]),
        event_times=np.asarray(times[:room], dtype=np.float64),
        birth_time=birth,
    )
