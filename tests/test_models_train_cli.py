"""``clinmem train-reference`` on JSONL cohorts written in the test."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner
from synthetic_cohorts import make_cohort

from benchmark.cli.train_commands import train_reference_command
from benchmark.data.cohort import Cohort


def _write_jsonl(cohort: Cohort, path, replace_code: tuple[str, str] | None = None):
    """Write a cohort in the JSONL form: one patient per line, ISO times."""
    lines = []
    for patient in cohort.patients:
        events = []
        for code, time in zip(patient.codes, patient.times, strict=True):
            if replace_code and code == replace_code[0]:
                code = replace_code[1]
            iso = datetime.fromtimestamp(float(time), tz=UTC).replace(tzinfo=None).isoformat()
            events.append({"time": iso, "code": code, "numeric_value": None})
        lines.append(
            json.dumps({"subject_id": patient.subject_id, "split": patient.split, "events": events})
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trains_and_prints_next_command(tmp_path):
    cohort_file = _write_jsonl(make_cohort(30), tmp_path / "cohort.jsonl")
    out = tmp_path / "model"

    result = CliRunner().invoke(
        train_reference_command,
        [
            "--cohort",
            str(cohort_file),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--seed",
            "5",
            "--max-sequence-length",
            "12",
            "--no-early-stopping",
        ],
    )

    assert result.exit_code == 0, result.output
    assert f"Saved the reference GPT to {out} after 2 epochs" in result.output
    assert (
        f"clinmem run --model hf:{out} --cohort {cohort_file} --output result.json" in result.output
    )
    record = json.loads((out / "clinmem_training.json").read_text())
    assert record["seed"] == 5
    assert record["epochs_run"] == 2
    assert record["config"]["max_sequence_length"] == 12
    assert record["config"]["early_stopping"] is False
    assert (out / "model.safetensors").is_file()


def test_non_empty_out_needs_overwrite(tmp_path):
    cohort_file = _write_jsonl(make_cohort(20), tmp_path / "cohort.jsonl")
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    arguments = ["--cohort", str(cohort_file), "--out", str(out), "--epochs", "1"]

    refused = CliRunner().invoke(train_reference_command, arguments)
    replaced = CliRunner().invoke(train_reference_command, [*arguments, "--overwrite"])

    assert refused.exit_code == 1
    assert "is not empty" in refused.output
    assert "Traceback" not in refused.output
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "old.txt").exists()


def test_missing_cohort_reported(tmp_path):
    missing = tmp_path / "missing.jsonl"

    result = CliRunner().invoke(
        train_reference_command, ["--cohort", str(missing), "--out", str(tmp_path / "model")]
    )

    assert result.exit_code == 1
    assert f"cannot load cohort '{missing}'" in result.output


def test_code_with_whitespace_reported(tmp_path):
    cohort = make_cohort(20)
    code = cohort.members[0].codes[2]
    cohort_file = _write_jsonl(
        cohort, tmp_path / "cohort.jsonl", replace_code=(code, "SNOMED//1 2")
    )

    result = CliRunner().invoke(
        train_reference_command, ["--cohort", str(cohort_file), "--out", str(tmp_path / "model")]
    )

    assert result.exit_code == 1
    assert "'SNOMED//1 2' contains whitespace" in result.output


def test_help_states_units():
    result = CliRunner().invoke(train_reference_command, ["--help"])

    assert result.exit_code == 0
    assert "Maximum number of passes over the members" in result.output
    assert "Tokens of each patient's sequence" in result.output
    assert "--early-stopping / --no-early-stopping" in result.output
