"""Validation of leaderboard result files, on real results and copies made invalid."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from leaderboard_results import SUITE_ID, reference_results, write_document  # noqa: F401

from benchmark.cli.leaderboard_commands import leaderboard_group
from benchmark.leaderboard.validation import (
    MAX_RESULT_BYTES,
    SuiteCatalog,
    validate_file,
    validate_folder,
)


@pytest.fixture(scope="module")
def catalog(reference_results) -> SuiteCatalog:  # noqa: F811
    return SuiteCatalog.load([reference_results.specs_dir])


def _problems(document, tmp_path: Path, catalog: SuiteCatalog) -> list[str]:
    path = write_document(document, tmp_path / "result.json")
    return [str(problem) for problem in validate_file(path, catalog).problems]


def _metric_index(document: dict, probe: str, predicate) -> tuple[int, int]:
    for probe_index, result in enumerate(document["probes"]):
        if result["probe"] != probe:
            continue
        for metric_index, metric in enumerate(result["metrics"]):
            if predicate(metric):
                return probe_index, metric_index
    raise AssertionError(f"no {probe} metric matches")


def test_real_results_are_accepted(reference_results, catalog, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path)

    report = validate_folder(tmp_path, catalog)

    assert [file.path.name for file in report.accepted] == ["lookup.json", "population.json"]
    assert report.rejected == []


def test_unknown_suite_without_its_spec_folder(reference_results, tmp_path):  # noqa: F811
    (path,) = reference_results.copy_to(tmp_path, "population")

    problems = validate_file(path, SuiteCatalog.load()).problems

    assert len(problems) == 1
    assert problems[0].location == "suite/name"
    assert f"unknown suite {SUITE_ID!r}" in problems[0].message
    assert "'standard'" in problems[0].message


def test_invalid_json_names_line(tmp_path, catalog):
    path = tmp_path / "broken.json"
    path.write_text('{"model": {"id": "x",}\n}', encoding="utf-8")

    (problem,) = validate_file(path, catalog).problems

    assert problem.location == "(document)"
    assert "not valid JSON" in problem.message
    assert "line 1 column" in problem.message


def test_non_utf8_file(tmp_path, catalog):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "Müller"}'.encode("latin-1"))

    (problem,) = validate_file(path, catalog).problems

    assert "not UTF-8" in problem.message


def test_repeated_key(tmp_path, catalog):
    path = tmp_path / "twice.json"
    path.write_text('{"submission": {"url": "https://a.org", "url": "javascript:x"}}')

    (problem,) = validate_file(path, catalog).problems

    assert "the key 'url' appears twice" in problem.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_number_names_field(literal, reference_results, tmp_path, catalog):  # noqa: F811
    text = json.dumps(reference_results.document("population"), indent=1)
    text = text.replace('"duration_seconds": ', f'"duration_seconds": {literal}, "_x": ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text, encoding="utf-8")

    problems = [str(problem) for problem in validate_file(path, catalog).problems]

    assert f"provenance/duration_seconds: {literal} is not a finite number" in problems[0]


def test_patient_level_key_anywhere(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["probes"][0]["parameters"]["Subject_IDs"] = [101, 102]
    method = next(iter(document["provenance"]["requests"]))
    document["provenance"]["requests"][method]["events"] = 3

    problems = _problems(document, tmp_path, catalog)

    assert any(p.startswith("probes/0/parameters/Subject_IDs: ") for p in problems)
    assert any(p.startswith(f"provenance/requests/{method}/events: ") for p in problems)
    assert all("patient-level data" in p for p in problems)


def test_schema_violation(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["summary"]["risk_index"]["value"] = "low"

    problems = _problems(document, tmp_path, catalog)

    assert problems == [
        "summary/risk_index/value: 'low' is not valid under any of the given schemas "
        "(result JSON Schema)"
    ]


def test_missing_provenance_field(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    del document["provenance"]["seeds"]

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith("provenance/seeds: missing; a result carries its full provenance")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("library_versions", {}, "provenance/library_versions: empty"),
        ("clinmem_version", " ", "provenance/clinmem_version: empty"),
        ("started_at", "yesterday", "provenance/started_at: 'yesterday' is not an ISO 8601"),
        ("finished_at", "2000-01-01T00:00:00+00:00", "provenance/finished_at: is earlier"),
        ("finished_at", "2999-01-01T00:00:00", "provenance/finished_at: give both times"),
        ("duration_seconds", -1.0, "provenance/duration_seconds: is negative"),
        ("bootstrap_resamples", 0, "provenance/bootstrap_resamples: must be at least 1"),
        ("confidence", 95, "provenance/confidence: must lie between 0 and 1"),
    ],
)
def test_incomplete_provenance(field, value, expected, reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["provenance"][field] = value

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_malformed_model_digest(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["model"]["digest"] = "md5:abc"

    problems = _problems(document, tmp_path, catalog)

    assert problems == ["model/digest: 'md5:abc' is not 'sha256:' followed by 64 hex digits"]


def test_unknown_suite_name_suggests(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["suite"]["name"] = "standrd"

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith("suite/name: unknown suite 'standrd'. Did you mean 'standard'?")


def test_other_suite_version(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["suite"]["version"] = 7

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith(f"suite/version: suite {SUITE_ID!r} is at version 1 in ")


def test_other_suite_digest(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    current = document["suite"]["digest"]
    document["suite"]["digest"] = "sha256:" + "0" * 64

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith("suite/digest: sha256:0000")
    assert current in problems[0]


def test_published_small_count_in_suppressed_cell(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    probe, metric = _metric_index(document, "membership", lambda m: m["suppressed"])
    document["probes"][probe]["metrics"][metric]["n_members"] = 7

    problems = _problems(document, tmp_path, catalog)

    assert problems == [
        f"probes/{probe}/metrics/{metric}/n_members: a suppressed cell publishes its count (7); "
        "counts of 1 to 10 patients are written as null"
    ]


def test_small_cell_not_suppressed(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    probe, metric = _metric_index(
        document, "membership", lambda m: not m["suppressed"] and m["subgroup"] != "all"
    )
    cell = document["probes"][probe]["metrics"][metric]
    cell["n_non_members"] = 4

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith(
        f"probes/{probe}/metrics/{metric}: subgroup cell {cell['subgroup']!r} has "
        "n_non_members = 4, fewer than 11 patients, but is not marked suppressed"
    )


def test_suppressed_cell_with_value(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    probe, metric = _metric_index(document, "attribute_inference", lambda m: m["suppressed"])
    document["probes"][probe]["metrics"][metric]["value"] = 0.5

    problems = _problems(document, tmp_path, catalog)

    assert problems == [
        f"probes/{probe}/metrics/{metric}: a suppressed cell shows value; a suppressed cell's "
        "value and interval are null"
    ]


def test_cohort_of_few_patients(reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["cohort"]["evaluated_non_members"] = 9

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith("cohort/evaluated_non_members: 9 patients is fewer than 11")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(document.cookie)", "the scheme 'javascript' is not allowed"),
        ("JaVaScRiPt:alert(1)", "the scheme 'javascript' is not allowed"),
        ("data:text/html,<script>alert(1)</script>", "the scheme 'data' is not allowed"),
        ("java\tscript:alert(1)", "whitespace or a control character"),
        ("//evil.example/x", "the scheme '(none)' is not allowed"),
        ("https://", "the URL has no host name"),
        ("https://example.org/" + "a" * 2000, "over the limit of 2000"),
    ],
)
def test_submission_url_rejected(url, reason, reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["submission"] = {"name": "A model", "url": url}

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert problems[0].startswith("submission/url: ")
    assert reason in problems[0]


@pytest.mark.parametrize(
    ("submission", "expected"),
    [
        ({"url": "https://example.org"}, "submission/name: missing"),
        ({"name": "A"}, "submission/url: missing"),
        ({"name": "A", "url": "https://a.org", "email": "x"}, "submission/email: unknown"),
        ({"name": "A", "url": "https://a.org", "description": "x" * 5001}, "over the limit"),
    ],
)
def test_submission_fields_rejected(submission, expected, reference_results, tmp_path, catalog):  # noqa: F811
    document = reference_results.document("population")
    document["submission"] = submission

    problems = _problems(document, tmp_path, catalog)

    assert len(problems) == 1
    assert expected in problems[0]


def test_duplicate_run_names_both_files(reference_results, tmp_path, catalog):  # noqa: F811
    (first,) = reference_results.copy_to(tmp_path, "lookup")
    second = tmp_path / "lookup-again.json"
    second.write_bytes(first.read_bytes())

    report = validate_folder(tmp_path, catalog)

    assert [file.path.name for file in report.accepted] == ["lookup-again.json"]
    (rejected,) = report.rejected
    assert rejected.path == first
    assert "lookup.json and lookup-again.json hold the same run" in str(rejected.problems[0])


def test_oversized_file_not_read(tmp_path, catalog):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_RESULT_BYTES + 1)

    (problem,) = validate_file(path, catalog).problems

    assert "over the limit of 20 MiB" in problem.message


def test_symbolic_link_not_followed(reference_results, tmp_path, catalog):  # noqa: F811
    link = tmp_path / "linked.json"
    link.symlink_to(reference_results.files["population"])

    (problem,) = validate_file(link, catalog).problems

    assert problem.message == "the file is a symbolic link; add the result file itself"


def test_private_files_never_read(reference_results, tmp_path, catalog):  # noqa: F811
    reference_results.copy_to(tmp_path, "population")
    private = tmp_path / "population.private.json"
    private.write_text("not json, and never parsed", encoding="utf-8")

    report = validate_folder(tmp_path, catalog)

    assert report.private_files == [private]
    assert [file.path.name for file in report.files] == ["population.json"]


def test_cli_rejects_with_file_and_field(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path, "population")
    document = reference_results.document("lookup")
    document["submission"] = {"name": "x", "url": "javascript:alert(1)"}
    write_document(document, tmp_path / "lookup.json")
    (tmp_path / "notes.private.json").write_text("{}")

    outcome = CliRunner().invoke(
        leaderboard_group, ["validate", str(tmp_path), "--specs", str(reference_results.specs_dir)]
    )

    assert outcome.exit_code == 1
    assert f"{tmp_path / 'lookup.json'}: submission/url: 'javascript:alert(1)'" in outcome.output
    assert "skipped 1 private file(s)" in outcome.output
    assert "1 of 2 result file(s) rejected" in outcome.output


def test_cli_accepts_valid_folder(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path)

    outcome = CliRunner().invoke(
        leaderboard_group, ["validate", str(tmp_path), "--specs", str(reference_results.specs_dir)]
    )

    assert outcome.exit_code == 0, outcome.output
    assert "2 result file(s) valid" in outcome.output


def test_cli_validates_one_file(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path)
    document = reference_results.document("lookup")
    document["submission"] = {"name": "x", "url": "javascript:alert(1)"}
    rejected = write_document(document, tmp_path / "rejected.json")
    specs = ["--specs", str(reference_results.specs_dir)]

    valid = CliRunner().invoke(
        leaderboard_group, ["validate", str(tmp_path / "lookup.json"), *specs]
    )
    invalid = CliRunner().invoke(leaderboard_group, ["validate", str(rejected), *specs])

    assert valid.exit_code == 0, valid.output
    assert "1 result file(s) valid" in valid.output
    assert invalid.exit_code == 1
    assert f"{rejected}: submission/url: 'javascript:alert(1)'" in invalid.output


def test_cli_default_folder(reference_results, tmp_path, monkeypatch):  # noqa: F811
    reference_results.copy_to(tmp_path / "leaderboard" / "results", "population")
    monkeypatch.chdir(tmp_path)

    outcome = CliRunner().invoke(leaderboard_group, ["validate"])

    assert outcome.exit_code == 1
    assert os.path.join("leaderboard", "results", "population.json") in outcome.output
    assert "suite/name: unknown suite" in outcome.output


def test_cli_missing_folder(tmp_path):
    outcome = CliRunner().invoke(leaderboard_group, ["validate", str(tmp_path / "nowhere")])

    assert outcome.exit_code == 1
    assert f"the results folder {tmp_path / 'nowhere'} was not found" in outcome.output


def test_cli_empty_folder(tmp_path):
    outcome = CliRunner().invoke(leaderboard_group, ["validate", str(tmp_path)])

    assert outcome.exit_code == 0
    assert f"no result files (*.json) in {tmp_path}" in outcome.output


def test_cli_broken_spec_folder(tmp_path):
    specs = tmp_path / "specs"
    (specs / "suites").mkdir(parents=True)
    (specs / "suites" / "bad.yaml").write_text("kind: suite\nid: bad\n")

    outcome = CliRunner().invoke(
        leaderboard_group, ["validate", str(tmp_path), "--specs", str(specs)]
    )

    assert outcome.exit_code == 1
    assert "bad.yaml" in outcome.output
    assert "Traceback" not in outcome.output


@pytest.mark.slow
def test_smoke_result_valid_with_default_specs(tmp_path):
    from benchmark.runner.run import RunOptions, run_suite

    options = RunOptions(cache_dir=tmp_path / "cache", progress=False)
    run_suite("population", "smoke", None, tmp_path / "results" / "population.json", options)

    outcome = CliRunner().invoke(leaderboard_group, ["validate", str(tmp_path / "results")])

    assert outcome.exit_code == 0, outcome.output
    assert "1 result file(s) valid" in outcome.output
