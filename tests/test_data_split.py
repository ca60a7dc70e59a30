"""The hash split of subject_id into train, tuning and held_out."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from pydantic import ValidationError

from benchmark.data.split import (
    SplitFractions,
    assign_split,
    assign_splits,
    describe_split_rule,
    split_unit_value,
)


def test_unit_value_follows_documented_formula():
    digest = hashlib.sha256(b"clinmem-split:7:12345").digest()

    assert split_unit_value(12345, seed=7) == int.from_bytes(digest[:8], "big") / 2**64


def test_known_assignments():
    assert assign_split(3) == "train"
    assert assign_split(2) == "held_out"
    assert assign_split(2, seed=1) == "tuning"


def test_thresholds_follow_fractions():
    fractions = SplitFractions(train=0.5, tuning=0.2)
    for subject_id in range(200):
        u = split_unit_value(subject_id)
        if u < 0.5:
            expected = "train"
        elif u < 0.7:
            expected = "tuning"
        else:
            expected = "held_out"
        assert assign_split(subject_id, fractions=fractions) == expected


def test_shares_close_to_fractions():
    splits = assign_splits(np.arange(20_000))
    shares = {name: float(np.mean(splits == name)) for name in ("train", "tuning", "held_out")}

    # Binomial standard error at n = 20,000 is at most 0.0035.
    assert shares["train"] == pytest.approx(0.6, abs=0.015)
    assert shares["tuning"] == pytest.approx(0.1, abs=0.015)
    assert shares["held_out"] == pytest.approx(0.3, abs=0.015)


def test_vectorized_matches_single():
    subject_ids = np.array([1, 2, 3, 10**12, -4])
    assert assign_splits(subject_ids, seed=9).tolist() == [
        assign_split(int(subject_id), seed=9) for subject_id in subject_ids
    ]


def test_seed_changes_assignment():
    first = assign_splits(np.arange(100), seed=0)
    second = assign_splits(np.arange(100), seed=1)
    assert (first != second).any()


@pytest.mark.parametrize(
    ("train", "tuning"), [(0.0, 0.1), (1.0, 0.0), (0.6, -0.1), (0.7, 0.3), (0.9, 0.2)]
)
def test_invalid_fractions_rejected(train, tuning):
    with pytest.raises(ValidationError):
        SplitFractions(train=train, tuning=tuning)


def test_describe_split_rule():
    rule = describe_split_rule(3, SplitFractions(train=0.5, tuning=0.25))

    assert rule["seed"] == 3
    assert rule["fractions"] == {"train": 0.5, "tuning": 0.25, "held_out": 0.25}
    assert "sha256" in rule["rule"]


def test_module_doctests_pass():
    import doctest

    import benchmark.data.split

    results = doctest.testmod(benchmark.data.split)

    assert results.attempted >= 4
    assert results.failed == 0
