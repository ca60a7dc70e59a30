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


def run_cli(*arguments: str) -> str:
    result = CliRunner().invoke(main, ["--log-level", "warning", *arguments])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, distinctive_cohort_path) -> dict[str, Path]:
    """Smoke results of population and lookup, and a site built from them."""
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
        )
    run_cli("leaderboard", "build", str(out / "results"), "--out", str(out / "site"))
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


def test_outputs_hold_no_subject_id(smoke_runs, distinctive_cohort_path):
    subject_ids = {
        str(json.loads(line)["subject_id"])
        for line in distinctive_cohort_path.read_text().splitlines()
    }
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
                    assert metric["ci_low"] is None and metric["ci_high"] is None
