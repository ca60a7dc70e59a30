"""The training set a suite prescribes: members plus the suite's canaries.

Model authors who want comparable scores train on exactly this set; the
reference GPT and the built-in models are fitted on it. Non-members are
never part of it. The ``tuning`` split travels along for early stopping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

import benchmark
from benchmark.data.canaries import CanarySet, generate_canaries, training_cohort
from benchmark.data.cohort import MEMBER_SPLIT, TUNING_SPLIT, Cohort
from benchmark.data.meds import MEDS_VERSION, write_meds_dataset


def suite_training_cohort(cohort: Cohort, suite) -> tuple[Cohort, CanarySet | None]:
    """Return the suite's training cohort (all splits, canaries added to ``train``)."""
    spec = suite.spec
    canaries = (
        None
        if spec.canaries is None
        else generate_canaries(cohort, spec.canaries, spec.cohort.max_sequence_length)
    )
    return training_cohort(cohort, canaries), canaries


def export_training_set(cohort: Cohort, suite, dest: Path) -> tuple[int, int]:
    """Write the members, the canary copies and the tuning split as a MEDS folder.

    Returns the numbers of training and tuning patients written.
    """
    augmented, canaries = suite_training_cohort(cohort, suite)
    exported = [p for p in augmented if p.split in (MEMBER_SPLIT, TUNING_SPLIT)]

    subject_ids, times, codes = [], [], []
    for patient in exported:
        subject_ids.extend([patient.subject_id] * len(patient.codes))
        microseconds = np.where(np.isnan(patient.times), 0, patient.times * 1e6).astype(np.int64)
        times.extend(
            None if np.isnan(t) else int(us)
            for t, us in zip(patient.times, microseconds, strict=True)
        )
        codes.extend(patient.codes)
    events = pa.table(
        {
            "subject_id": pa.array(subject_ids, pa.int64()),
            "time": pa.array(times, pa.timestamp("us")),
            "code": pa.array(codes, pa.string()),
            "numeric_value": pa.nulls(len(codes), pa.float32()),
        }
    )
    # MEDS order: by subject, then time with static (null) times first.
    order = np.lexsort(
        (
            np.arange(len(codes)),
            np.array([t if t is not None else np.iinfo(np.int64).min for t in times]),
            np.array(subject_ids),
        )
    )
    events = events.take(pa.array(order))
    splits = pa.table(
        {
            "subject_id": pa.array([p.subject_id for p in exported], pa.int64()),
            "split": pa.array([p.split for p in exported], pa.string()),
        }
    )
    spec = suite.spec
    metadata = {
        "dataset_name": f"{cohort.name} training set of suite {spec.id} v{spec.version}",
        "dataset_version": f"{spec.id}-v{spec.version}",
        "etl_name": "clinmem export-training-set",
        "etl_version": benchmark.__version__,
        "meds_version": MEDS_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "clinmem": {
            "source_cohort": cohort.name,
            "source_fingerprint": cohort.fingerprint,
            "suite_digest": suite.digest,
            "canaries": None if canaries is None else canaries.digest,
        },
    }
    write_meds_dataset(dest, events, splits, metadata)
    n_train = sum(p.split == MEMBER_SPLIT for p in exported)
    return n_train, len(exported) - n_train
