"""The standard member / non-member split: a stable hash of each ``subject_id``.

Each patient is assigned on their own, from their ``subject_id`` and a seed::

    u = int.from_bytes(sha256(f"clinmem-split:{seed}:{subject_id}").digest()[:8], "big") / 2**64

    u < train                  -> "train"     (members)
    u < train + tuning         -> "tuning"    (neither; early stopping only)
    otherwise                  -> "held_out"  (non-members)

The default fractions are 0.6 / 0.1 / 0.3 and the default seed is 0. The
split never looks at time, site or any other part of the record, so members
and non-members come from the same distribution, and adding or removing a
patient never moves another patient between splits. ``subject_id`` is
written in decimal, as Python's ``str(int)`` writes it.

>>> assign_split(3)
'train'
>>> assign_split(2)
'held_out'
>>> assign_split(2, seed=1)
'tuning'
"""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT, TUNING_SPLIT

DEFAULT_SPLIT_SEED = 0
HASH_PREFIX = "clinmem-split"


class SplitFractions(BaseModel):
    """Expected shares of patients per split; ``held_out`` takes the rest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: float = Field(default=0.6, gt=0, lt=1, description="Share of members.")
    tuning: float = Field(
        default=0.1, ge=0, lt=1, description="Share used for early stopping only."
    )

    @model_validator(mode="after")
    def _check_room_for_held_out(self) -> SplitFractions:
        if self.train + self.tuning >= 1:
            raise ValueError(
                f"train ({self.train}) + tuning ({self.tuning}) must be below 1 "
                "so that some patients are held out as non-members"
            )
        return self

    @property
    def held_out(self) -> float:
        return 1.0 - self.train - self.tuning


DEFAULT_FRACTIONS = SplitFractions()


def split_unit_value(subject_id: int, seed: int = DEFAULT_SPLIT_SEED) -> float:
    """Return the patient's position ``u`` in [0, 1), from which the split follows.

    >>> round(split_unit_value(3), 6)
    0.308012
    """
    digest = hashlib.sha256(f"{HASH_PREFIX}:{seed}:{int(subject_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(
    subject_id: int,
    seed: int = DEFAULT_SPLIT_SEED,
    fractions: SplitFractions = DEFAULT_FRACTIONS,
) -> str:
    """Return the split name of one patient under the hash rule."""
    u = split_unit_value(subject_id, seed)
    if u < fractions.train:
        return MEMBER_SPLIT
    if u < fractions.train + fractions.tuning:
        return TUNING_SPLIT
    return NON_MEMBER_SPLIT


def assign_splits(
    subject_ids: np.ndarray,
    seed: int = DEFAULT_SPLIT_SEED,
    fractions: SplitFractions = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Return the split name of each ``subject_id``, as an object array of str."""
    return np.array(
        [assign_split(int(subject_id), seed, fractions) for subject_id in subject_ids],
        dtype=object,
    )


def describe_split_rule(seed: int, fractions: SplitFractions) -> dict:
    """Return the split rule as recorded in ``metadata/dataset.json``."""
    return {
        "rule": (
            "u = first 8 bytes (big-endian) of sha256('clinmem-split:{seed}:{subject_id}') "
            "/ 2**64; train if u < train, tuning if u < train + tuning, else held_out"
        ),
        "seed": seed,
        "fractions": {
            MEMBER_SPLIT: fractions.train,
            TUNING_SPLIT: fractions.tuning,
            NON_MEMBER_SPLIT: round(fractions.held_out, 12),
        },
    }
