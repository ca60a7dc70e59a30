"""Writing result files: all or nothing, and a clear error when the path cannot take one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_cohorts import make_cohort

from benchmark.data.jsonl import write_jsonl
from benchmark.results.models import Result
from benchmark.results.writer import (
    ResultPathError,
    _fsync_folder,
    check_result_path,
    write_json_atomically,
    write_result,
)
from benchmark.runner.run import RunOptions, run_suite

SUITE = """\
kind: suite
id: reliability_results
name: Result writing suite
description: One probe on a small synthetic cohort, to produce a real result quickly.
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


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Result:
    """A result of the population model on a synthetic cohort."""
    root = tmp_path_factory.mktemp("results")
    cohort = write_jsonl(make_cohort(80, seed=5), root / "cohort.jsonl")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    options = RunOptions(cache_dir=None, progress=False)
    return run_suite("population", str(suite), str(cohort), root / "result.json", options)


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failed_rename_keeps_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside.txt").write_text("kept")

    with pytest.raises(OSError):
        write_json_atomically({"a": 1}, target)

    assert (target / "inside.txt").read_text() == "kept"
    assert temporary_files(tmp_path) == []


def test_unserializable_document_leaves_old_file(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"old": true}\n')

    with pytest.raises(ValueError, match="Out of range float values"):
        write_json_atomically({"value": float("nan")}, path)

    assert json.loads(path.read_text()) == {"old": True}
    assert temporary_files(tmp_path) == []


def test_rewrite_replaces_whole_file(tmp_path, result):
    path = tmp_path / "result.json"
    path.write_text("x" * 1_000_000)

    write_result(result, path)

    assert Result.model_validate(json.loads(path.read_text())) == result
    assert temporary_files(tmp_path) == []


def test_result_under_a_file_is_a_clear_error(tmp_path, result):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(ResultPathError, match="failed to write the result to .*a-file/r.json"):
        write_result(result, blocker / "r.json")


def test_check_rejects_a_folder(tmp_path):
    with pytest.raises(ResultPathError, match="is a folder; give a file path"):
        check_result_path(tmp_path)


def test_check_rejects_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(ResultPathError, match="cannot write the result to"):
        check_result_path(blocker / "result.json")


def test_check_creates_folder_and_leaves_nothing(tmp_path):
    path = tmp_path / "new" / "folder" / "result.json"

    check_result_path(path)

    assert path.parent.is_dir()
    assert list(path.parent.iterdir()) == []


def test_folder_flush_skips_a_folder_it_cannot_open(tmp_path):
    _fsync_folder(tmp_path / "missing")

    _fsync_folder(tmp_path)
