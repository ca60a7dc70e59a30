"""Cohort faults through ``clinmem run``: each ends in exit code 1 with a message
that names the column, the row or line, or the split, and writes no result.
Faults with a documented handling (a patient without events) are checked too.

The readers' own tests cover each fault in more forms; these check that the
message reaches the user of the command line intact, without a traceback.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from synthetic_cohorts import make_cohort

from benchmark.cli.main import main
from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT, Cohort, Patient
from benchmark.data.jsonl import write_jsonl
from benchmark.runner.evaluation import EvaluationSetError, select_evaluation_set

SUITE = """\
kind: suite
id: reliability_cohorts
name: Cohort fault suite
description: One probe and few patients; the runs under test stop at the cohort.
version: 1
attributes: [depression]
tiers: [demographics_first_10]
subgroups: [all]
probes:
  membership:
    attacks: [loss]
cohort: {max_sequence_length: 32, max_patients_per_group: 20}
bootstrap: {resamples: 10}
seed: 0
"""


def run_on(tmp_path: Path, cohort: Path, log_level: str = "warning"):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    output = tmp_path / "result.json"
    result = CliRunner().invoke(
        main,
        [
            "--log-level", log_level,
            "run",
            "--model", "population",
            "--suite", str(suite),
            "--cohort", str(cohort),
            "--output", str(output),
            "--no-cache",
            "--no-progress",
        ],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result, output


def assert_rejected(result, output: Path, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    assert not output.exists()


# MEDS folders


def events_table(rows) -> pa.Table:
    subject_ids, times, codes = zip(*rows, strict=True)
    return pa.table(
        {
            "subject_id": pa.array(subject_ids, pa.int64()),
            "time": pa.array(times, pa.timestamp("us")),
            "code": pa.array(codes, pa.string()),
        }
    )


GOOD_EVENTS = [
    (subject_id, moment, code)
    for subject_id in range(1, 9)
    for moment, code in (
        (datetime(1950, 1, 1), "MEDS_BIRTH"),
        (datetime(2000, 1, subject_id), f"SNOMED//{subject_id % 3}"),
    )
]


def write_meds(root: Path, data: pa.Table, splits: pa.Table | None = None) -> Path:
    (root / "data").mkdir(parents=True)
    pq.write_table(data, root / "data" / "0.parquet")
    if splits is not None:
        (root / "metadata").mkdir()
        pq.write_table(splits, root / "metadata" / "subject_splits.parquet")
    return root


def test_meds_missing_column(tmp_path):
    folder = write_meds(tmp_path / "meds", events_table(GOOD_EVENTS).drop_columns(["code"]))

    result, output = run_on(tmp_path, folder)

    assert_rejected(result, output, "0.parquet", "column 'code'", "missing required column")


def test_meds_wrong_column_type(tmp_path):
    data = events_table(GOOD_EVENTS)
    as_text = pa.array([str(s) for s in data["subject_id"].to_pylist()])
    folder = write_meds(tmp_path / "meds", data.set_column(0, "subject_id", as_text))

    result, output = run_on(tmp_path, folder)

    assert_rejected(
        result, output, "column 'subject_id'", "has type string, expected an integer type"
    )


def test_meds_null_subject_id(tmp_path):
    rows = [*GOOD_EVENTS]
    rows[5] = (None, *rows[5][1:])
    folder = write_meds(tmp_path / "meds", events_table(rows))

    result, output = run_on(tmp_path, folder)

    assert_rejected(result, output, "row index 5", "column 'subject_id'", "subject_id is null")


def test_meds_subject_in_two_splits(tmp_path):
    splits = pa.table(
        {
            "subject_id": pa.array([1, 2, 3, 2], pa.int64()),
            "split": pa.array(["train", "train", "held_out", "held_out"]),
        }
    )
    folder = write_meds(tmp_path / "meds", events_table(GOOD_EVENTS), splits)

    result, output = run_on(tmp_path, folder)

    assert_rejected(
        result, output, "subject_splits.parquet", "row index 3", "a subject belongs to one split"
    )


def test_meds_empty_cohort(tmp_path):
    empty = events_table(GOOD_EVENTS).slice(0, 0)
    folder = write_meds(tmp_path / "meds", empty)

    result, output = run_on(tmp_path, folder)

    assert_rejected(result, output, "the cohort is empty")


# JSONL files


def jsonl_patient(subject_id: int, split: str, times: list[str | None]) -> dict:
    events = [{"time": None, "code": "GENDER//F"}, {"time": "1950-01-01", "code": "MEDS_BIRTH"}]
    events += [{"time": t, "code": f"SNOMED//{i}"} for i, t in enumerate(times)]
    return {"subject_id": subject_id, "split": split, "events": events}


def write_lines(path: Path, records: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


GOOD_PATIENTS = [
    jsonl_patient(i, "train" if i % 2 else "held_out", ["2000-01-01", "2000-02-01"])
    for i in range(1, 9)
]


def test_jsonl_unsorted_times(tmp_path):
    records = [*GOOD_PATIENTS]
    records[3] = jsonl_patient(4, "held_out", ["2001-01-01", "2000-01-01"])
    path = write_lines(tmp_path / "cohort.jsonl", records)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "line 4", "comes before", "list events in time order")


def test_jsonl_null_subject_id(tmp_path):
    records = [*GOOD_PATIENTS]
    records[2] = {**records[2], "subject_id": None}
    path = write_lines(tmp_path / "cohort.jsonl", records)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "line 3", "subject_id must be an integer", "not None")


def test_jsonl_wrong_code_type(tmp_path):
    records = [*GOOD_PATIENTS]
    records[6] = {**records[6], "events": [{"time": "2000-01-01", "code": 4548}]}
    path = write_lines(tmp_path / "cohort.jsonl", records)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "line 7", "events[0].code must be a non-empty string")


def test_jsonl_missing_events(tmp_path):
    records = [*GOOD_PATIENTS]
    records[0] = {"subject_id": 1, "split": "train"}
    path = write_lines(tmp_path / "cohort.jsonl", records)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "line 1", "events must be a list of events")


def test_jsonl_subject_on_two_lines(tmp_path):
    records = [*GOOD_PATIENTS, GOOD_PATIENTS[1]]
    path = write_lines(tmp_path / "cohort.jsonl", records)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "line 9", "also on line 2", "put each patient on one line")


def test_jsonl_empty_cohort(tmp_path):
    path = write_lines(tmp_path / "cohort.jsonl", [{"subject_id": 1, "events": []}])

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "the cohort is empty")


def test_jsonl_empty_file(tmp_path):
    path = tmp_path / "cohort.jsonl"
    path.write_text("")

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "the cohort is empty")


def test_missing_cohort_path(tmp_path):
    result, output = run_on(tmp_path, tmp_path / "nowhere.jsonl")

    assert_rejected(result, output, "cannot load cohort", "nowhere.jsonl")


# Splits too small to evaluate


def test_split_too_small_is_refused(tmp_path):
    cohort = make_cohort(40, seed=3)
    non_member = next(p for p in cohort.patients if p.split == NON_MEMBER_SPLIT)
    kept = [p for p in cohort.patients if p.split != NON_MEMBER_SPLIT] + [non_member]
    path = tmp_path / "cohort.jsonl"
    write_jsonl(Cohort("one-non-member", kept, "", "test"), path)

    result, output = run_on(tmp_path, path)

    assert_rejected(result, output, "1 patients with events in split 'held_out'", "at least 2")


def test_evaluation_set_needs_two_members():
    cohort = make_cohort(40, seed=3)
    member = next(p for p in cohort.patients if p.split == MEMBER_SPLIT)
    cohort.patients = [p for p in cohort.patients if p.split != MEMBER_SPLIT] + [member]

    with pytest.raises(EvaluationSetError, match="1 patients with events in split 'train'"):
        select_evaluation_set(cohort, 32, None, seed=0)


def test_evaluation_set_without_non_members():
    cohort = make_cohort(40, seed=3)
    cohort.patients = [p for p in cohort.patients if p.split != NON_MEMBER_SPLIT]

    with pytest.raises(EvaluationSetError, match="0 patients with events in split 'held_out'"):
        select_evaluation_set(cohort, 32, None, seed=0)


def test_patient_without_dated_events_is_left_out(caplog):
    cohort = make_cohort(40, seed=3)
    static_only = Patient(987654321, MEMBER_SPLIT, ("GENDER//F",), np.array([np.nan]))
    cohort.patients = [*cohort.patients, static_only]

    with caplog.at_level(logging.INFO, logger="benchmark.runner.evaluation"):
        evaluation = select_evaluation_set(cohort, 32, None, seed=0)

    assert "left out 1 patients whose record holds no dated event" in caplog.text
    assert "987654321" not in caplog.text
    assert 987654321 not in [s.subject_id for s in evaluation.sequences]


def test_patient_without_events_is_left_out_of_run(tmp_path):
    cohort = make_cohort(60, seed=3)
    path = tmp_path / "cohort.jsonl"
    write_jsonl(cohort, path)
    empty = {"subject_id": 987654321, "split": "held_out", "events": []}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(empty) + "\n")

    result, output = run_on(tmp_path, path, log_level="info")

    assert result.exit_code == 0, result.output
    assert "1 patients have no events and are left out (the first on line 61)" in result.output
    assert "987654321" not in result.output
    document = json.loads(output.read_text())
    assert document["cohort"]["non_members"] == sum(
        p.split == NON_MEMBER_SPLIT for p in cohort.patients
    )
