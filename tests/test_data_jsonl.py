"""The JSONL cohort form: reading, writing and every rejected input."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark.data.errors import CohortError
from benchmark.data.jsonl import read_jsonl, write_jsonl
from benchmark.data.meds import read_meds
from benchmark.data.split import assign_split

PATIENTS = [
    {
        "subject_id": 1,
        "split": "train",
        "events": [
            {"time": None, "code": "GENDER//F"},
            {"time": "1980-05-17T08:30:00", "code": "MEDS_BIRTH", "numeric_value": None},
            {"time": "2010-01-01", "code": "SNOMED//44054006"},
            {"time": "2010-01-01 09:15:00.250000", "code": "LOINC//4548-4", "numeric_value": 7.2},
        ],
    },
    {
        "subject_id": 2,
        "split": "held_out",
        "events": [{"time": "2011-03-04T10:00:00", "code": "Visit//IP"}],
    },
]


def write_lines(path: Path, records) -> Path:
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seconds(moment: datetime) -> float:
    return (moment - datetime(1970, 1, 1)).total_seconds()


def test_read_jsonl(tmp_path):
    cohort = read_jsonl(write_lines(tmp_path / "cohort.jsonl", PATIENTS))

    assert cohort.name == "cohort"
    assert [patient.subject_id for patient in cohort] == [1, 2]
    first = cohort.patients[0]
    assert first.split == "train"
    assert first.codes == ("GENDER//F", "MEDS_BIRTH", "SNOMED//44054006", "LOINC//4548-4")
    assert np.isnan(first.times[0])
    assert first.times[1] == seconds(datetime(1980, 5, 17, 8, 30))
    assert first.times[3] == seconds(datetime(2010, 1, 1, 9, 15, 0, 250000))
    assert cohort.metadata["split"] == {"source": "the split key of each line"}


def test_hash_split_when_absent(tmp_path, caplog):
    caplog.set_level("INFO")
    records = [{key: value for key, value in p.items() if key != "split"} for p in PATIENTS]
    cohort = read_jsonl(write_lines(tmp_path / "c.jsonl", records), split_seed=4)

    assert [patient.split for patient in cohort] == [assign_split(1, 4), assign_split(2, 4)]
    assert cohort.metadata["split"]["seed"] == 4
    assert "hash rule with seed 4" in caplog.text


def test_zone_offset_converted_to_utc(tmp_path):
    record = {
        "subject_id": 1,
        "events": [
            {"time": "2010-01-01T00:00:00Z", "code": "A//1"},
            {"time": "2010-01-01T03:00:00+02:00", "code": "A//2"},
        ],
    }
    cohort = read_jsonl(write_lines(tmp_path / "c.jsonl", [record]))

    assert cohort.patients[0].times.tolist() == [
        seconds(datetime(2010, 1, 1)),
        seconds(datetime(2010, 1, 1, 1)),
    ]


def test_blank_lines_and_empty_records(tmp_path, caplog):
    caplog.set_level("INFO")
    records = [PATIENTS[0], "", "   ", {"subject_id": 3, "split": "train", "events": []}]
    cohort = read_jsonl(write_lines(tmp_path / "c.jsonl", records))

    assert [patient.subject_id for patient in cohort] == [1]
    assert "1 patients have no events" in caplog.text


def test_round_trip(tmp_path):
    original = read_jsonl(write_lines(tmp_path / "in.jsonl", PATIENTS))
    write_jsonl(original, tmp_path / "out.jsonl")
    again = read_jsonl(tmp_path / "out.jsonl")

    assert again.fingerprint == original.fingerprint
    for before, after in zip(original, again, strict=True):
        assert after.subject_id == before.subject_id
        assert after.split == before.split
        assert after.codes == before.codes
        np.testing.assert_array_equal(after.times, before.times)
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl", "out.jsonl"]


def test_same_fingerprint_as_meds(tmp_path):
    jsonl_cohort = read_jsonl(write_lines(tmp_path / "c.jsonl", PATIENTS))

    rows = [
        (patient["subject_id"], event["time"], event["code"])
        for patient in PATIENTS
        for event in patient["events"]
    ]
    root = tmp_path / "meds"
    (root / "data").mkdir(parents=True)
    (root / "metadata").mkdir()
    pq.write_table(
        pa.table(
            {
                "subject_id": pa.array([row[0] for row in reversed(rows)], pa.int64()),
                "time": pa.array(
                    [None if row[1] is None else datetime.fromisoformat(row[1]) for row in rows][
                        ::-1
                    ],
                    pa.timestamp("us"),
                ),
                "code": pa.array([row[2] for row in reversed(rows)]),
            }
        ),
        root / "data" / "0.parquet",
    )
    pq.write_table(
        pa.table({"subject_id": pa.array([1, 2], pa.int64()), "split": ["train", "held_out"]}),
        root / "metadata" / "subject_splits.parquet",
    )

    assert read_meds(root).fingerprint == jsonl_cohort.fingerprint


# Error paths: each names the file and the line.


def jsonl_error(tmp_path, records) -> CohortError:
    path = write_lines(tmp_path / "bad.jsonl", records)
    with pytest.raises(CohortError) as caught:
        read_jsonl(path)
    assert caught.value.path == path
    return caught.value


def patient(**changes) -> dict:
    record = {"subject_id": 5, "split": "train", "events": [{"time": None, "code": "A//1"}]}
    record.update(changes)
    return record


def test_error_invalid_json(tmp_path):
    error = jsonl_error(tmp_path, [PATIENTS[0], '{"subject_id": 2, "events": [}'])
    assert error.line == 2
    assert "invalid JSON" in str(error)


def test_error_not_utf8(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(PATIENTS[0]).encode() + b"\n\xff\xfe\n")

    with pytest.raises(CohortError, match="not UTF-8") as caught:
        read_jsonl(path)
    assert caught.value.line == 2


def test_error_line_not_object(tmp_path):
    error = jsonl_error(tmp_path, ["[1, 2]"])
    assert error.line == 1
    assert "JSON object" in str(error)


def test_error_unknown_patient_key(tmp_path):
    error = jsonl_error(tmp_path, [patient(splitt="train")])
    assert "unknown key 'splitt'" in str(error)


@pytest.mark.parametrize("subject_id", ["5", 1.5, True, None, 2**63])
def test_error_bad_subject_id(tmp_path, subject_id):
    error = jsonl_error(tmp_path, [patient(subject_id=subject_id)])
    assert "subject_id must be an integer" in str(error)


def test_error_duplicate_subject(tmp_path):
    error = jsonl_error(tmp_path, [patient(), patient(split="held_out")])
    assert error.line == 2
    assert "also on line 1" in str(error)


def test_error_unknown_split(tmp_path):
    error = jsonl_error(tmp_path, [patient(split="test")])
    assert "unknown split 'test'" in str(error)


def test_error_split_on_some_lines_only(tmp_path):
    record = patient(subject_id=6)
    del record["split"]
    error = jsonl_error(tmp_path, [patient(), record])

    assert error.line == 2
    assert "no 'split'" in str(error)


def test_error_events_not_list(tmp_path):
    error = jsonl_error(tmp_path, [patient(events={"code": "A//1"})])
    assert "events must be a list" in str(error)


def test_error_event_not_object(tmp_path):
    error = jsonl_error(tmp_path, [patient(events=["A//1"])])
    assert "events[0] must be a JSON object" in str(error)


def test_error_unknown_event_key(tmp_path):
    error = jsonl_error(tmp_path, [patient(events=[{"code": "A//1", "text_value": "x"}])])
    assert "unknown key 'text_value' in events[0]" in str(error)


@pytest.mark.parametrize("code", ["", None, 12])
def test_error_bad_code(tmp_path, code):
    error = jsonl_error(tmp_path, [patient(events=[{"time": None, "code": code}])])
    assert "events[0].code must be a non-empty string" in str(error)


def test_error_time_not_string(tmp_path):
    error = jsonl_error(tmp_path, [patient(events=[{"time": 1262304000, "code": "A//1"}])])
    assert "events[0].time must be an ISO 8601 string" in str(error)


def test_error_unparseable_time(tmp_path):
    events = [{"time": "2010-01-01", "code": "A//1"}, {"time": "2010-31-12", "code": "A//2"}]
    error = jsonl_error(tmp_path, [PATIENTS[0], patient(events=events)])

    assert error.line == 2
    assert "events[1].time '2010-31-12'" in str(error)


def test_error_unsorted_times(tmp_path):
    events = [
        {"time": None, "code": "GENDER//F"},
        {"time": "2010-01-02", "code": "A//1"},
        {"time": "2010-01-01", "code": "A//2"},
    ]
    error = jsonl_error(tmp_path, [PATIENTS[0], patient(events=events)])

    assert error.line == 2
    assert "events[2]" in str(error)
    assert "time order" in str(error)


def test_error_static_event_after_dated_event(tmp_path):
    events = [{"time": "2010-01-02", "code": "A//1"}, {"time": None, "code": "GENDER//F"}]
    error = jsonl_error(tmp_path, [patient(events=events)])
    assert "events[1]" in str(error)


@pytest.mark.parametrize("value", ["7.2", True, [1]])
def test_error_bad_numeric_value(tmp_path, value):
    events = [{"time": None, "code": "A//1", "numeric_value": value}]
    error = jsonl_error(tmp_path, [patient(events=events)])
    assert "numeric_value must be a number or null" in str(error)


def test_error_empty_cohort(tmp_path):
    error = jsonl_error(tmp_path, ["", patient(events=[])])
    assert "empty" in str(error)
