"""OMOP CDM CSV to MEDS conversion, on small OMOP folders written in the test."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from omop_tables import (
    CONCEPT,
    CONDITIONS,
    DEVICES,
    DRUGS,
    EXPECTED_EVENTS,
    MEASUREMENTS,
    PERSON,
    TABLES,
    events_of,
    write_omop,
)

from benchmark.data.errors import CohortError
from benchmark.data.meds import read_meds
from benchmark.data.omop import (
    SKIP_NO_BIRTH,
    SKIP_NO_CODE,
    SKIP_NO_DATE,
    SKIP_NO_SEX,
    SKIP_UNKNOWN_PERSON,
    convert_omop,
    read_omop,
)
from benchmark.data.split import assign_split


def test_read_omop_gives_expected_events(tmp_path):
    omop = read_omop(write_omop(tmp_path / "omop"))

    assert events_of(omop.events) == EXPECTED_EVENTS
    assert omop.events["numeric_value"].null_count == len(EXPECTED_EVENTS)
    assert omop.persons == 4
    assert omop.subjects_with_clinical_events == 3


def test_read_omop_counts_skips_and_duplicates(tmp_path):
    omop = read_omop(write_omop(tmp_path / "omop"))
    stats = {table.table: table for table in omop.tables}

    assert stats["person"].skipped == {SKIP_NO_BIRTH: 1, SKIP_NO_SEX: 1}
    assert stats["condition_occurrence"].skipped == {SKIP_UNKNOWN_PERSON: 1, SKIP_NO_DATE: 1}
    assert stats["device_exposure"].skipped == {SKIP_NO_CODE: 1}
    assert stats["visit_occurrence"].duplicates_dropped == 1
    assert stats["drug_exposure"].duplicates_dropped == 1
    assert stats["measurement"].duplicates_dropped == 1
    assert stats["condition_occurrence"].duplicates_dropped == 0
    assert stats["observation"].file is None
    assert omop.duplicates_dropped == 3
    assert omop.rows_skipped == 5
    assert sum(table.events_kept for table in omop.tables) == len(EXPECTED_EVENTS)


def test_visit_source_values_never_emitted(tmp_path):
    omop = read_omop(write_omop(tmp_path / "omop"))
    codes = omop.events["code"].to_pylist()

    assert not any("5c9f315e" in code or "0062fa0d" in code for code in codes)


def test_keep_numeric_values(tmp_path):
    omop = read_omop(write_omop(tmp_path / "omop"), keep_numeric_values=True)
    values = {
        row["code"]: row["numeric_value"]
        for row in omop.events.to_pylist()
        if row["code"].startswith("LOINC")
    }

    assert values == {"LOINC//4548-4": 7.25, "LOINC//NA": None}


def test_code_descriptions_from_concept(tmp_path):
    omop = read_omop(write_omop(tmp_path / "omop"))
    described = {row["code"]: row["description"] for row in omop.codes.to_pylist()}

    assert described["SNOMED//44054006"] == "Type 2 diabetes mellitus"
    assert described["CVX//33"] == "pneumococcal polysaccharide vaccine, 23 valent"
    assert described["Visit//OP"] == "Outpatient Visit"
    assert described["SNOMED//466603003"] == "Speech training device"
    assert described["SNOMED//V89.03"] is None
    assert set(described) == {code for _, _, code in EXPECTED_EVENTS}


def test_missing_concept_table_uses_standard_concepts(tmp_path):
    tables = {name: text for name, text in TABLES.items() if name != "CONCEPT.csv"}
    omop = read_omop(write_omop(tmp_path / "omop", tables))
    codes = set(omop.events["code"].to_pylist())

    assert {"GENDER//F", "Visit//OP", "Visit//IP"} <= codes
    assert "RxNorm//33" in codes
    assert "CVX//33" not in codes
    assert "SNOMED//466603003" not in codes


def test_gzip_table_is_read(tmp_path):
    folder = write_omop(tmp_path / "omop", {"PERSON.csv": PERSON})
    (folder / "PERSON.csv").unlink()
    with gzip.open(folder / "person.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(PERSON)

    omop = read_omop(folder)

    assert omop.persons == 4


def test_integer_ids_written_as_floats(tmp_path):
    person = "person_id,gender_concept_id,year_of_birth\n1.0,8507.0,1980\n"
    omop = read_omop(write_omop(tmp_path / "omop", {"PERSON.csv": person}))

    assert events_of(omop.events) == [
        (1, datetime(1980, 1, 1), "MEDS_BIRTH"),
        (1, datetime(1980, 1, 1), "GENDER//M"),
    ]


def test_sex_without_birth_is_static(tmp_path):
    person = "person_id,gender_source_value\n5,F\n"
    omop = read_omop(write_omop(tmp_path / "omop", {"PERSON.csv": person}))

    assert events_of(omop.events) == [(5, None, "GENDER//F")]


def test_convert_omop_writes_meds_folder(tmp_path):
    source = write_omop(tmp_path / "omop")
    dest = tmp_path / "meds"

    report = convert_omop(source, dest, dataset_name="tiny", split_seed=3)

    assert sorted(path.name for path in (dest / "data").iterdir()) == ["0.parquet"]
    data = pq.read_table(dest / "data" / "0.parquet")
    assert str(data.schema.field("subject_id").type) == "int64"
    assert str(data.schema.field("time").type) == "timestamp[us]"
    assert str(data.schema.field("code").type) == "string"
    assert str(data.schema.field("numeric_value").type) == "float"
    assert events_of(data) == EXPECTED_EVENTS

    splits = pq.read_table(dest / "metadata" / "subject_splits.parquet").to_pylist()
    assert splits == [
        {"subject_id": subject_id, "split": assign_split(subject_id, seed=3)}
        for subject_id in (1, 2, 3, 4)
    ]
    assert sum(report.split_counts.values()) == 4

    dataset = json.loads((dest / "metadata" / "dataset.json").read_text())
    assert dataset["dataset_name"] == "tiny"
    assert dataset["etl_name"] == "clinmem"
    assert dataset["clinmem"]["split"]["seed"] == 3
    assert dataset["clinmem"]["counts"]["events"] == len(EXPECTED_EVENTS)
    assert dataset["clinmem"]["counts"]["duplicates_dropped"] == 3
    assert dataset["clinmem"]["counts"]["rows_skipped"] == 5
    assert dataset["clinmem"]["tables"]["device_exposure"]["rows_skipped"] == {SKIP_NO_CODE: 1}
    assert dataset["clinmem"]["source"] == str(source)
    assert (dest / "metadata" / "codes.parquet").is_file()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_converted_folder_loads_as_cohort(tmp_path):
    dest = tmp_path / "meds"
    convert_omop(write_omop(tmp_path / "omop"), dest)

    cohort = read_meds(dest)

    assert cohort.name == "meds"
    assert [patient.subject_id for patient in cohort] == [1, 2, 3, 4]
    assert cohort.patients[3].codes == ("SNOMED//44054006",)
    assert cohort.metadata["split"]["source"] == "metadata/subject_splits.parquet"


def test_convert_refuses_non_empty_destination(tmp_path):
    dest = tmp_path / "meds"
    dest.mkdir()
    (dest / "keep.txt").write_text("x")

    with pytest.raises(FileExistsError, match="not an empty folder"):
        convert_omop(write_omop(tmp_path / "omop"), dest)
    assert (dest / "keep.txt").read_text() == "x"


def test_convert_into_empty_folder(tmp_path):
    dest = tmp_path / "meds"
    dest.mkdir()

    convert_omop(write_omop(tmp_path / "omop"), dest)

    assert (dest / "data" / "0.parquet").is_file()


# Error paths: each names the file and, where it applies, the line and column.


def read_error(tmp_path, tables: dict[str, str]) -> CohortError:
    with pytest.raises(CohortError) as caught:
        read_omop(write_omop(tmp_path / "omop", tables))
    return caught.value


def test_error_source_not_a_folder(tmp_path):
    with pytest.raises(CohortError, match="not a folder") as caught:
        read_omop(tmp_path / "missing")
    assert caught.value.path == tmp_path / "missing"


def test_error_no_person_table(tmp_path):
    error = read_error(tmp_path, {"CONCEPT.csv": CONCEPT})
    assert "no PERSON table" in str(error)


def test_error_two_files_for_one_table(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "person.csv": PERSON})
    assert "more than one file" in str(error)
    assert "PERSON.csv" in str(error)


def test_error_empty_file(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": ""})
    assert error.path.name == "PERSON.csv"
    assert "empty" in str(error)


def test_error_duplicate_header_column(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": "person_id,Person_ID\n1,1\n"})
    assert error.column == "person_id"
    assert "twice" in str(error)


def test_error_missing_required_column(tmp_path):
    conditions = "condition_occurrence_id,person_id,condition_start_date\n1,1,2010-01-01\n"
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "CONDITION_OCCURRENCE.csv": conditions})

    assert error.path.name == "CONDITION_OCCURRENCE.csv"
    assert error.column == "condition_source_value"
    assert "missing required column" in str(error)


def test_error_unparseable_date(tmp_path):
    conditions = CONDITIONS.replace("2012-06-01", "2012-13-45")
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "CONDITION_OCCURRENCE.csv": conditions})

    assert error.path.name == "CONDITION_OCCURRENCE.csv"
    assert error.line == 3
    assert error.column == "condition_start_date"
    assert "'2012-13-45'" in str(error)


def test_error_invalid_integer(tmp_path):
    drugs = DRUGS.replace("3,2,40213154", "3,two,40213154")
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "DRUG_EXPOSURE.csv": drugs})

    assert error.line == 4
    assert error.column == "person_id"
    assert "expected an integer" in str(error)


def test_error_fractional_integer(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": "person_id\n1\n2.5\n"})
    assert error.line == 3
    assert error.column == "person_id"


def test_error_invalid_number(tmp_path):
    measurements = MEASUREMENTS.replace("7.25,4548-4,3004410\n2", "high,4548-4,3004410\n2")
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "MEASUREMENT.csv": measurements})

    assert error.line == 2
    assert error.column == "value_as_number"
    assert "expected a number" in str(error)


def test_error_row_with_wrong_field_count(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": "person_id,year_of_birth\n1,1980\n2\n"})
    assert error.path.name == "PERSON.csv"
    assert error.line == 3
    assert "1 fields" in str(error)


def test_error_value_beyond_header(tmp_path):
    devices = DEVICES.replace("2010-03-25,,,,,,", "2010-03-25,,,,,x,")
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "DEVICE_EXPOSURE.csv": devices})

    assert error.path.name == "DEVICE_EXPOSURE.csv"
    assert error.line == 3
    assert "beyond" in str(error)


def test_error_invalid_utf8(tmp_path):
    folder = write_omop(tmp_path / "omop", {})
    (folder / "PERSON.csv").write_bytes(b"person_id,gender_source_value\n1,M\n2,\xff\xfe\n")

    with pytest.raises(CohortError, match="cannot parse the CSV file") as caught:
        read_omop(folder)
    assert caught.value.path.name == "PERSON.csv"


def test_error_empty_person_id(tmp_path):
    deaths = "person_id,death_date\n2,2020-01-01\n,2020-01-02\n"
    error = read_error(tmp_path, {"PERSON.csv": PERSON, "DEATH.csv": deaths})

    assert error.path.name == "DEATH.csv"
    assert error.line == 3
    assert error.column == "person_id"


def test_error_duplicate_person(tmp_path):
    error = read_error(
        tmp_path, {"PERSON.csv": "person_id,year_of_birth\n7,1980\n8,1981\n7,1982\n"}
    )
    assert error.line == 4
    assert "person_id 7" in str(error)


def test_error_month_out_of_range(tmp_path):
    error = read_error(
        tmp_path, {"PERSON.csv": "person_id,year_of_birth,month_of_birth\n1,1980,13\n"}
    )
    assert error.column == "month_of_birth"
    assert error.line == 2


def test_error_day_out_of_range(tmp_path):
    person = "person_id,year_of_birth,month_of_birth,day_of_birth\n1,1980,1,32\n"
    error = read_error(tmp_path, {"PERSON.csv": person})
    assert error.column == "day_of_birth"


def test_error_day_not_in_month(tmp_path):
    person = "person_id,year_of_birth,month_of_birth,day_of_birth\n1,1980,1,1\n2,1981,2,29\n"
    error = read_error(tmp_path, {"PERSON.csv": person})

    assert error.column == "day_of_birth"
    assert error.line == 3
    assert "does not exist" in str(error)


def test_header_only_tables_give_no_events(tmp_path):
    tables = {
        "PERSON.csv": PERSON,
        "DEATH.csv": "person_id,death_date\n",
        "VISIT_OCCURRENCE.csv": "person_id,visit_concept_id,visit_start_date\n",
        "OBSERVATION.csv": "person_id,observation_source_value,observation_date\n",
    }
    omop = read_omop(write_omop(tmp_path / "omop", tables))
    stats = {table.table: table for table in omop.tables}

    assert stats["death"].rows_read == 0
    assert stats["visit_occurrence"].events == 0
    assert stats["observation"].skipped == {}
    assert omop.events.num_rows == 6


def test_error_person_table_without_rows(tmp_path):
    error = read_error(tmp_path, {"PERSON.csv": "person_id,year_of_birth\n"})
    assert error.path.name == "PERSON.csv"
    assert "no rows" in str(error)
