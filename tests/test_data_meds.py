"""Reading and writing MEDS folders, with parquet files written in the test."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark.data.errors import CohortError
from benchmark.data.meds import (
    DATA_SCHEMA,
    build_cohort,
    read_meds,
    sort_events,
    write_meds_dataset,
)
from benchmark.data.split import assign_split

EVENTS = [
    # Unsorted on purpose: readers must sort.
    (2, datetime(2001, 1, 1), "SNOMED//2"),
    (1, datetime(2000, 1, 2), "LOINC//1"),
    (1, None, "GENDER//F"),
    (1, datetime(2000, 1, 1), "MEDS_BIRTH"),
    (2, None, "GENDER//M"),
    (1, datetime(2000, 1, 2), "LOINC//0"),
]


def events_table(rows=EVENTS) -> pa.Table:
    subject_ids, times, codes = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "subject_id": pa.array(subject_ids, pa.int64()),
            "time": pa.array(times, pa.timestamp("us")),
            "code": pa.array(codes, pa.string()),
            "numeric_value": pa.array([None] * len(rows), pa.float32()),
        }
    )


def write_folder(root, data: pa.Table | None = None, splits: pa.Table | None = None):
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(events_table() if data is None else data, root / "data" / "0.parquet")
    if splits is not None:
        (root / "metadata").mkdir(exist_ok=True)
        pq.write_table(splits, root / "metadata" / "subject_splits.parquet")
    return root


def splits_table(subject_ids, splits) -> pa.Table:
    return pa.table(
        {"subject_id": pa.array(subject_ids, pa.int64()), "split": pa.array(splits, pa.string())}
    )


def seconds(moment: datetime) -> float:
    return (moment - datetime(1970, 1, 1)).total_seconds()


def test_read_meds_sorts_and_groups(tmp_path):
    cohort = read_meds(
        write_folder(tmp_path / "meds", splits=splits_table([1, 2], ["train", "held_out"]))
    )

    assert [patient.subject_id for patient in cohort] == [1, 2]
    first = cohort.patients[0]
    assert first.codes == ("GENDER//F", "MEDS_BIRTH", "LOINC//1", "LOINC//0")
    assert np.isnan(first.times[0])
    assert first.times[1:].tolist() == [
        seconds(datetime(2000, 1, 1)),
        seconds(datetime(2000, 1, 2)),
        seconds(datetime(2000, 1, 2)),
    ]
    assert first.times.dtype == np.float64
    assert first.split == "train"
    assert cohort.patients[1].split == "held_out"
    assert cohort.metadata["split"] == {"source": "metadata/subject_splits.parquet"}


def test_read_meds_without_split_file_uses_hash(tmp_path, caplog):
    caplog.set_level("INFO")
    cohort = read_meds(write_folder(tmp_path / "meds"), split_seed=5)

    assert [patient.split for patient in cohort] == [assign_split(1, 5), assign_split(2, 5)]
    assert cohort.metadata["split"]["source"] == "hash"
    assert cohort.metadata["split"]["seed"] == 5
    assert "hash rule with seed 5" in caplog.text


def test_read_meds_several_shards(tmp_path):
    root = tmp_path / "meds"
    (root / "data" / "train").mkdir(parents=True)
    pq.write_table(events_table(EVENTS[:3]), root / "data" / "train" / "0.parquet")
    pq.write_table(events_table(EVENTS[3:]), root / "data" / "1.parquet")

    cohort = read_meds(root)

    assert sum(len(patient.codes) for patient in cohort) == len(EVENTS)


def test_read_meds_accepts_other_types(tmp_path):
    data = pa.table(
        {
            "subject_id": pa.array([1, 1], pa.int32()),
            "time": pa.array(
                [datetime(2000, 1, 1), datetime(2000, 1, 2)], pa.timestamp("ms", tz="UTC")
            ),
            "code": pa.array(["A//1", "A//2"]).dictionary_encode(),
        }
    )
    cohort = read_meds(write_folder(tmp_path / "meds", data))

    assert cohort.patients[0].codes == ("A//1", "A//2")
    assert cohort.patients[0].times[0] == seconds(datetime(2000, 1, 1))


def test_read_meds_names_cohort_from_dataset_json(tmp_path):
    root = write_folder(tmp_path / "meds")
    (root / "metadata").mkdir()
    (root / "metadata" / "dataset.json").write_text(json.dumps({"dataset_name": "demo"}))

    cohort = read_meds(root)

    assert cohort.name == "demo"
    assert cohort.metadata["dataset"] == {"dataset_name": "demo"}


def test_subjects_with_split_but_no_events_ignored(tmp_path, caplog):
    caplog.set_level("INFO")
    splits = splits_table([1, 2, 3], ["train", "train", "held_out"])
    cohort = read_meds(write_folder(tmp_path / "meds", splits=splits))

    assert len(cohort) == 2
    assert "1 subjects have a split but no events" in caplog.text


def test_repeated_split_rows_agreeing_are_accepted(tmp_path):
    splits = splits_table([1, 2, 1], ["train", "tuning", "train"])
    cohort = read_meds(write_folder(tmp_path / "meds", splits=splits))

    assert cohort.split_counts() == {"train": 1, "tuning": 1, "held_out": 0}


def test_static_only_patient_kept(tmp_path):
    data = events_table([(9, None, "GENDER//F")])
    cohort = read_meds(write_folder(tmp_path / "meds", data))

    assert len(cohort) == 1
    assert cohort.patients[0].codes == ("GENDER//F",)


def test_fingerprint_ignores_row_order(tmp_path):
    first = read_meds(write_folder(tmp_path / "a", events_table(EVENTS)))
    second = read_meds(write_folder(tmp_path / "b", events_table(list(reversed(EVENTS)))))

    assert first.fingerprint == second.fingerprint
    assert first.fingerprint.startswith("sha256:")


def test_fingerprint_changes_with_events(tmp_path):
    base = read_meds(write_folder(tmp_path / "a"))
    fewer_events = read_meds(write_folder(tmp_path / "b", events_table(EVENTS[:-1])))

    assert base.fingerprint != fewer_events.fingerprint


def test_fingerprint_changes_with_split(tmp_path):
    one = splits_table([1, 2], ["train", "held_out"])
    other = splits_table([1, 2], ["held_out", "train"])

    first = read_meds(write_folder(tmp_path / "a", splits=one))
    swapped = read_meds(write_folder(tmp_path / "b", splits=other))
    first_again = read_meds(write_folder(tmp_path / "c", splits=one))

    assert first.fingerprint != swapped.fingerprint
    assert first.fingerprint == first_again.fingerprint


def test_sort_events_puts_null_times_first():
    ordered = sort_events(events_table(), then_by=("code",))

    assert [(row["subject_id"], row["code"]) for row in ordered.to_pylist()] == [
        (1, "GENDER//F"),
        (1, "MEDS_BIRTH"),
        (1, "LOINC//0"),
        (1, "LOINC//1"),
        (2, "GENDER//M"),
        (2, "SNOMED//2"),
    ]


def test_build_cohort_keeps_source_order_of_ties():
    cohort = build_cohort(events_table(), {1: "train", 2: "tuning"}, name="x", source="test")

    assert cohort.patients[0].codes[2:] == ("LOINC//1", "LOINC//0")


def test_write_meds_dataset_round_trip(tmp_path):
    dest = tmp_path / "out"
    ordered = sort_events(events_table())
    write_meds_dataset(
        dest, ordered, splits_table([1, 2], ["train", "held_out"]), {"dataset_name": "rt"}
    )

    assert pq.read_schema(dest / "data" / "0.parquet").equals(DATA_SCHEMA)
    cohort = read_meds(dest)
    assert cohort.name == "rt"
    assert [patient.split for patient in cohort] == ["train", "held_out"]
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_write_meds_dataset_rejects_file_destination(tmp_path):
    dest = tmp_path / "file"
    dest.write_text("x")

    with pytest.raises(FileExistsError, match="not an empty folder"):
        write_meds_dataset(dest, events_table(), splits_table([], []), {})


def test_write_meds_dataset_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out"
    bad_splits = pa.table({"subject_id": pa.array(["x"]), "split": pa.array(["train"])})

    with pytest.raises(pa.ArrowInvalid):
        write_meds_dataset(dest, events_table(), bad_splits, {})
    assert list(tmp_path.iterdir()) == []


# Error paths.


def meds_error(root, **kwargs) -> CohortError:
    with pytest.raises(CohortError) as caught:
        read_meds(root, **kwargs)
    return caught.value


def test_error_no_parquet_files(tmp_path):
    (tmp_path / "meds" / "data").mkdir(parents=True)
    error = meds_error(tmp_path / "meds")
    assert "no parquet files" in str(error)


def test_error_unreadable_parquet(tmp_path):
    root = tmp_path / "meds"
    (root / "data").mkdir(parents=True)
    (root / "data" / "0.parquet").write_text("not parquet")

    error = meds_error(root)

    assert error.path == root / "data" / "0.parquet"
    assert "not a readable parquet file" in str(error)


def test_error_missing_column(tmp_path):
    data = events_table().drop_columns(["time"])
    error = meds_error(write_folder(tmp_path / "meds", data))

    assert error.column == "time"
    assert error.path.name == "0.parquet"
    assert "missing required column" in str(error)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("subject_id", pa.array(["1"] * 6)),
        ("time", pa.array(["2000-01-01"] * 6)),
        ("code", pa.array(list(range(6)))),
    ],
)
def test_error_wrong_column_type(tmp_path, column, values):
    data = events_table().set_column(events_table().schema.get_field_index(column), column, values)
    error = meds_error(write_folder(tmp_path / "meds", data))

    assert error.column == column
    assert "has type" in str(error)


@pytest.mark.parametrize("column", ["subject_id", "code"])
def test_error_null_value(tmp_path, column):
    data = events_table()
    index = data.schema.get_field_index(column)
    values = data[column].to_pylist()
    values[3] = None
    data = data.set_column(index, column, pa.array(values, data.schema.field(column).type))

    error = meds_error(write_folder(tmp_path / "meds", data))

    assert error.column == column
    assert error.row == 3
    assert "is null" in str(error)


def test_error_subject_id_out_of_range(tmp_path):
    data = events_table().set_column(0, "subject_id", pa.array([2**63] * 6, pa.uint64()))
    error = meds_error(write_folder(tmp_path / "meds", data))
    assert "do not fit" in str(error)


def test_error_empty_data(tmp_path):
    error = meds_error(write_folder(tmp_path / "meds", events_table([])))
    assert "empty" in str(error)


def test_error_unknown_split(tmp_path):
    splits = splits_table([1, 2], ["train", "test"])
    error = meds_error(write_folder(tmp_path / "meds", splits=splits))

    assert error.path.name == "subject_splits.parquet"
    assert error.row == 1
    assert error.column == "split"
    assert "'test'" in str(error)


def test_error_subject_in_two_splits(tmp_path):
    splits = splits_table([1, 2, 1], ["train", "held_out", "held_out"])
    error = meds_error(write_folder(tmp_path / "meds", splits=splits))

    assert error.row == 2
    assert "subject 1" in str(error)
    assert "one split" in str(error)


@pytest.mark.parametrize("column", ["subject_id", "split"])
def test_error_null_in_split_file(tmp_path, column):
    splits = splits_table([1, 2], ["train", "held_out"])
    values = splits[column].to_pylist()
    values[1] = None
    splits = splits.set_column(
        splits.schema.get_field_index(column), column, pa.array(values, splits[column].type)
    )
    error = meds_error(write_folder(tmp_path / "meds", splits=splits))

    assert error.column == column
    assert error.row == 1


def test_error_split_file_missing_column(tmp_path):
    splits = pa.table({"subject_id": pa.array([1, 2], pa.int64())})
    error = meds_error(write_folder(tmp_path / "meds", splits=splits))
    assert error.column == "split"


def test_error_subject_without_split(tmp_path):
    splits = splits_table([1], ["train"])
    error = meds_error(write_folder(tmp_path / "meds", splits=splits))

    assert "subject_id 2" in str(error)
    assert "have no split" in str(error)


def test_error_invalid_dataset_json(tmp_path):
    root = write_folder(tmp_path / "meds")
    (root / "metadata").mkdir()
    (root / "metadata" / "dataset.json").write_text('{\n  "dataset_name": }\n')

    error = meds_error(root)

    assert error.path.name == "dataset.json"
    assert error.line == 2
    assert "invalid JSON" in str(error)


def test_error_dataset_json_not_object(tmp_path):
    root = write_folder(tmp_path / "meds")
    (root / "metadata").mkdir()
    (root / "metadata" / "dataset.json").write_text("[1, 2]")

    error = meds_error(root)

    assert "JSON object" in str(error)
