"""End-to-end runs of the smoke suite on the two reference models that need no
training, and the privacy of everything they write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli.main import main
from benchmark.data.loading import load_cohort
from benchmark.data.sequence import build_sequence
from benchmark.results.schema import render_schema, repository_schema_path, schema_errors
from benchmark.scoring.suppression import is_small_cell


def run_cli(*arguments: str, log: Path | None = None) -> str:
    """Run clinmem; with ``log``, at debug level with standard error written to that file."""
    level = "warning" if log is None else "debug"
    result = CliRunner().invoke(main, ["--log-level", level, *arguments])
    assert result.exit_code == 0, result.output
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stderr)
    return result.output


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, distinctive_cohort_path) -> dict[str, Path]:
    """Smoke results of population and lookup, a site built from them, and the debug
    logs of every command."""
    out = tmp_path_factory.mktemp("runs")
    paths = {}
    for model in ("population", "lookup"):
        paths[model] = out / "results" / f"{model}.json"
        run_cli(
            "run",
            "--model", model,
            "--suite", "smoke",
            "--cohort", str(distinctive_cohort_path),
            "--output", str(paths[model]),
            "--cache-dir", str(out / "cache"),
            "--no-progress",
            log=out / "logs" / f"run-{model}.log",
        )  # fmt: skip
    site_log = out / "logs" / "leaderboard-build.log"
    run_cli("leaderboard", "build", str(out / "results"), "--out", str(out / "site"), log=site_log)
    paths["root"] = out
    return paths


def test_result_is_schema_valid(smoke_runs):
    for model in ("population", "lookup"):
        document = json.loads(smoke_runs[model].read_text())
        assert schema_errors(document) == []


def test_committed_schema_matches_model():
    assert repository_schema_path().read_text() == render_schema()


def test_lookup_memorizes_population_does_not(smoke_runs):
    lookup = json.loads(smoke_runs["lookup"].read_text())["summary"]
    population = json.loads(smoke_runs["population"].read_text())["summary"]
    assert lookup["membership_auroc"]["value"] > 0.9
    assert lookup["membership_auroc"]["ci_low"] > population["membership_auroc"]["ci_high"]
    assert lookup["attribute_member_advantage"]["value"] > 0.1
    assert abs(population["attribute_member_advantage"]["value"]) < 0.1
    assert lookup["risk_index"]["value"] > population["risk_index"]["value"]


def _written_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "cache" not in p.parts]


def _subject_ids(cohort_path: Path) -> set[str]:
    return {str(json.loads(line)["subject_id"]) for line in cohort_path.read_text().splitlines()}


def test_debug_logs_are_scanned(smoke_runs):
    logs = {p.name: p.read_text() for p in (smoke_runs["root"] / "logs").iterdir()}

    assert sorted(logs) == ["leaderboard-build.log", "run-lookup.log", "run-population.log"]
    for model in ("population", "lookup"):
        assert "INFO benchmark.runner.run: suite smoke" in logs[f"run-{model}.log"]
        assert "served from cache" in logs[f"run-{model}.log"]
    assert {p.parent.name for p in _written_files(smoke_runs["root"])} >= {"logs", "results"}


def test_runs_write_no_per_patient_file(smoke_runs):
    # The runner writes no private per-patient file; a scan of one would go here.
    names = [p.relative_to(smoke_runs["root"]) for p in _written_files(smoke_runs["root"])]

    assert not [name for name in names if "private" in str(name)]
    assert sorted(str(n) for n in names if n.parts[0] == "results") == [
        "results/lookup.json",
        "results/population.json",
    ]


def test_cache_holds_no_subject_id(smoke_runs, distinctive_cohort_path):
    # The cache holds model answers, which for 'lookup' copy member records; it is
    # as private as the cohort, but subject ids never reach a model.
    subject_ids = _subject_ids(distinctive_cohort_path)
    for path in (smoke_runs["root"] / "cache").iterdir():
        numbers = set(re.findall(rb"\d{9}", path.read_bytes()))
        assert not {n.decode() for n in numbers} & subject_ids, f"{path} contains a subject_id"


def test_outputs_hold_no_subject_id(smoke_runs, distinctive_cohort_path):
    subject_ids = _subject_ids(distinctive_cohort_path)
    files = _written_files(smoke_runs["root"])
    assert any(f.suffix == ".html" for f in files)
    for path in files:
        numbers = set(re.findall(r"\d{9}", path.read_text(errors="replace")))
        assert not numbers & subject_ids, f"{path} contains a subject_id"


def test_outputs_hold_no_code_sequence(smoke_runs, distinctive_cohort_path):
    cohort = load_cohort(str(distinctive_cohort_path))
    codes = {code for patient in cohort for code in build_sequence(patient, 256).tokens}
    for path in _written_files(smoke_runs["root"]):
        text = path.read_text(errors="replace")
        found = {code for code in re.findall(r"[A-Za-z]+//[^\s\"'<,\]]+", text) if code in codes}
        assert not found, f"{path} contains cohort codes such as {sorted(found)[:3]}"


def test_outputs_hold_no_small_cell(smoke_runs):
    for model in ("population", "lookup"):
        document = json.loads(smoke_runs[model].read_text())
        for probe in document["probes"]:
            for metric in probe["metrics"]:
                for count in (metric["n_members"], metric["n_non_members"]):
                    assert count is None or not is_small_cell(count), metric
                if metric["suppressed"]:
                    assert metric["value"] is None
                    assert metric["ci_low"] is None
                    assert metric["ci_high"] is None
