"""Shared fixtures: cohorts and result files made once per test session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.cohort import Cohort
from benchmark.data.jsonl import write_jsonl
from benchmark.data.loading import load_cohort


@pytest.fixture(scope="session")
def bundled_cohort() -> Cohort:
    return load_cohort(None)


@pytest.fixture(scope="session")
def distinctive_cohort_path(tmp_path_factory, bundled_cohort) -> Path:
    """The bundled cohort as JSONL, every subject_id replaced by a distinctive
    nine-digit number, so a scan of the output for ids cannot match counts."""
    rng = np.random.default_rng(20261204)
    new_ids = rng.choice(np.arange(100_000_000, 999_999_999), len(bundled_cohort), replace=False)
    patients = [
        dataclasses.replace(patient, subject_id=int(new_id))
        for patient, new_id in zip(bundled_cohort.patients, new_ids, strict=True)
    ]
    cohort = dataclasses.replace(bundled_cohort, patients=patients)
    path = tmp_path_factory.mktemp("cohort") / "distinctive.jsonl"
    write_jsonl(cohort, path)
    return path
