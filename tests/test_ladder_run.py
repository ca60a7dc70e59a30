"""A reduced known-answer ladder: population, a small GPT, the same overtrained, and lookup.

The ladder runs once per module on a 300-patient slice of the bundled cohort
with a test-only suite (64-token sequences, 60 patients per group, 100
bootstrap resamples), and a 1-layer GPT. The tests assert the orderings that
so small a ladder can show, and trigger every failure path of the checks by
editing real results.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli.ladder_command import ladder_command
from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT
from benchmark.data.jsonl import write_jsonl
from benchmark.results.models import Interval
from benchmark.runner.ladder import (
    LadderError,
    LadderOptions,
    birth_year_split,
    check_rung_names,
    run_ladder,
    rung_training,
)
from benchmark.runner.validity import (
    check_canary_exposure_near_zero,
    check_canary_exposure_rises,
    check_generalization_control,
    check_leakage_rises_with_tier,
    check_lookup_separated,
    check_population_separated,
    check_risk_index_order,
    check_split_guard,
)
from benchmark.specs.registry import SpecRegistry
from benchmark.specs.resources import default_specs_dir

SUITE_ID = "ladder_ci"
SUITE_YAML = """
kind: suite
id: ladder_ci
name: ladder test suite
description: A small suite for the reduced ladder in the tests.
version: 1
attributes: [ladder_ci_obesity, ladder_ci_sinusitis, ladder_ci_hypertension,
             prenatal_rubella_screening]
tiers: [none, demographics_first_10, half_history, all_but_target]
subgroups: [all]
probes:
  membership:
    attacks: [loss]
  attribute_inference:
    samples: 4
    max_new_tokens: 16
    temperature: 1.0
  utility:
    top_k: 10
  canary: {}
cohort:
  max_sequence_length: 64
  max_patients_per_group: 60
bootstrap:
  resamples: 100
seed: 0
canaries:
  seed: 0
  repetitions: [1, 4, 16]
  per_repetition: 5
  references: 50
  length: 20
"""
# Conditions common enough in the first 64 tokens of the slice (27-45% of patients)
# that 60 members and 60 non-members hold more carriers than the small-cell rule hides.
TEST_ATTRIBUTES = {
    "ladder_ci_obesity": "162864005",
    "ladder_ci_sinusitis": "444814009",
    "ladder_ci_hypertension": "38341003",
}
ATTRIBUTE_YAML = """
kind: attribute
id: {id}
name: {id}
description: A common condition, so that the small test suite has a risk index.
category: test
harm_weight: 1
harm_rationale: Not sensitive; it exists only for the test suite.
codes:
  SNOMED: ["{code}"]
"""
TINY_GPT = {"n_layer": 1, "n_head": 2, "n_embd": 32, "batch_size": 16, "lr": 1e-2}
RUNGS = ["population", "gpt", "gpt-overtrained", "lookup"]


@pytest.fixture(scope="module")
def ladder_inputs(tmp_path_factory, bundled_cohort) -> dict[str, Path]:
    """A 300-patient slice of the bundled cohort as JSONL, and the test suite's folder."""
    root = tmp_path_factory.mktemp("ladder-inputs")
    subset = dataclasses.replace(bundled_cohort, patients=bundled_cohort.patients[:300])
    cohort_path = write_jsonl(subset, root / "cohort.jsonl")
    specs = root / "specs"
    specs.mkdir()
    (specs / f"{SUITE_ID}.yaml").write_text(SUITE_YAML, encoding="utf-8")
    for attribute_id, code in TEST_ATTRIBUTES.items():
        text = ATTRIBUTE_YAML.format(id=attribute_id, code=code)
        (specs / f"{attribute_id}.yaml").write_text(text, encoding="utf-8")
    return {"cohort": cohort_path, "specs": specs}


def _options(out_dir: Path, inputs: dict[str, Path], **changes) -> LadderOptions:
    settings = {
        "out_dir": out_dir,
        "suite": SUITE_ID,
        "rungs": RUNGS,
        "epochs": 2,
        "cohort": str(inputs["cohort"]),
        "training_settings": TINY_GPT,
        "split_guard_suite": SUITE_ID,
        "extra_spec_dirs": [inputs["specs"]],
        "progress": False,
    }
    return LadderOptions(**{**settings, **changes})


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, ladder_inputs):
    out_dir = tmp_path_factory.mktemp("ladder")
    return out_dir, run_ladder(_options(out_dir, ladder_inputs))


@pytest.fixture(scope="module")
def suite(ladder_inputs):
    registry = SpecRegistry.load([default_specs_dir(), ladder_inputs["specs"]])
    return registry.resolve_suite(SUITE_ID)


def _with_risk_index(result, value: float, low: float, high: float):
    summary = result.summary.model_copy(
        update={"risk_index": Interval(value=value, ci_low=low, ci_high=high)}
    )
    return result.model_copy(update={"summary": summary})


@pytest.mark.slow
def test_ladder_writes_every_output(ladder):
    out_dir, report = ladder

    for rung in RUNGS:
        document = json.loads((out_dir / "results" / f"{rung}.json").read_text())
        assert document["suite"]["name"] == SUITE_ID
    assert (out_dir / "models" / "gpt" / "config.json").exists()
    assert (out_dir / "split-guard" / "birth-year-split.json").exists()
    report_text = (out_dir / "validity.md").read_text()
    for check in report.checks:
        assert f"{check.status}: {check.name}" in report_text
    chart = ElementTree.fromstring((out_dir / "validity.svg").read_text())
    assert chart.tag.endswith("svg")
    assert len(chart.findall(".//{http://www.w3.org/2000/svg}circle")) == len(RUNGS)


@pytest.mark.slow
def test_ladder_risk_index_order(ladder):
    _, report = ladder
    risk = {rung: report.results[rung].summary.risk_index for rung in RUNGS}

    assert check_risk_index_order(report.results).status == "PASS"
    assert risk["population"].value < risk["lookup"].value
    assert risk["gpt-overtrained"].value <= risk["lookup"].value


@pytest.mark.slow
def test_ladder_membership_auroc_order(ladder):
    _, report = ladder
    auroc = {rung: report.results[rung].summary.membership_auroc.value for rung in RUNGS}

    assert auroc["population"] < auroc["gpt-overtrained"]
    assert auroc["gpt-overtrained"] <= auroc["lookup"]


@pytest.mark.slow
def test_overtrained_canary_exposure_rises(ladder):
    _, report = ladder

    check = check_canary_exposure_rises(report.results, "gpt-overtrained")

    assert check.status == "PASS", check.evidence


@pytest.mark.slow
def test_population_canary_exposure_near_zero(ladder):
    _, report = ladder

    check = check_canary_exposure_near_zero(report.results, "population")

    assert check.status == "PASS", check.evidence


@pytest.mark.slow
def test_split_guard_flags_birth_year_split(ladder):
    _, report = ladder

    [check] = [c for c in report.checks if c.name.startswith("split guard")]

    assert check.status == "PASS", check.evidence


@pytest.mark.slow
def test_absent_rungs_skip_their_checks(ladder):
    _, report = ladder
    by_name = {check.name: check for check in report.checks}

    assert by_name["canary exposure near zero on gpt-dp"].status == "SKIP"
    # The slice has fewer than 11 control carriers per group, so the small-cell rule hides them.
    assert by_name["generalization control on gpt"].status == "SKIP"
    assert "small-cell rule" in by_name["generalization control on gpt"].evidence[0]


@pytest.mark.slow
def test_risk_order_fails_when_swapped(ladder):
    _, report = ladder
    results = dict(report.results)
    results["population"] = _with_risk_index(results["population"], 90.0, 85.0, 95.0)
    results["lookup"] = _with_risk_index(results["lookup"], 1.0, 0.0, 2.0)

    check = check_risk_index_order(results)

    assert check.status == "FAIL"
    assert any("population lies above lookup" in line for line in check.evidence)


@pytest.mark.slow
def test_lookup_overlap_fails(ladder):
    _, report = ladder
    results = dict(report.results)
    results["lookup"] = _with_risk_index(results["lookup"], 5.0, 0.0, 100.0)

    check = check_lookup_separated(results)

    assert check.status == "FAIL"
    assert "gpt-overtrained" in check.evidence[-1]


@pytest.mark.slow
def test_population_overlap_fails(ladder):
    _, report = ladder
    results = dict(report.results)
    results["population"] = _with_risk_index(results["population"], 50.0, 0.0, 100.0)

    assert check_population_separated(results).status == "FAIL"


@pytest.mark.slow
def test_exposure_checks_fail_on_swapped_rungs(ladder):
    _, report = ladder
    swapped = {
        "gpt-overtrained": report.results["population"],
        "population": report.results["gpt-overtrained"],
    }

    assert check_canary_exposure_rises(swapped, "gpt-overtrained").status == "FAIL"
    assert check_canary_exposure_near_zero(swapped, "population").status == "FAIL"


@pytest.mark.slow
def test_exposure_checks_fail_without_canary_probe(ladder):
    _, report = ladder
    result = report.results["population"]
    stripped = result.model_copy(
        update={"probes": [p for p in result.probes if p.probe != "canary"]}
    )

    assert (
        check_canary_exposure_rises({"gpt-overtrained": stripped}, "gpt-overtrained").status
        == "FAIL"
    )
    assert check_canary_exposure_near_zero({"population": stripped}, "population").status == "FAIL"


@pytest.mark.slow
def test_tier_check_fails_on_falling_leakage(ladder, suite):
    _, report = ladder
    result = report.results["lookup"]
    falling = [
        entry.model_copy(
            update={
                "risk_index": Interval(
                    value=100.0 - 30 * i, ci_low=99.0 - 30 * i, ci_high=100.0 - 30 * i
                )
            }
        )
        for i, entry in enumerate(result.risk_by_tier)
    ]
    changed = {"lookup": result.model_copy(update={"risk_by_tier": falling})}

    check = check_leakage_rises_with_tier(changed, "lookup", suite.tiers)

    assert check.status == "FAIL"
    assert check.evidence[0].startswith("demographics_first_10")


@pytest.mark.slow
def test_control_check_fails_on_low_auroc(ladder, suite):
    _, report = ladder
    controls = [a for a in suite.attributes if a.control]
    result = report.results["population"]
    probes = []
    for probe in result.probes:
        if probe.probe == "attribute_inference":
            # Give the control cells estimates that a model without the panel would get.
            metrics = [
                m.model_copy(
                    update={"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "suppressed": False}
                )
                if m.attribute == "prenatal_rubella_screening"
                else m
                for m in probe.metrics
            ]
            probe = probe.model_copy(update={"metrics": metrics})
        probes.append(probe)
    changed = {"gpt": result.model_copy(update={"probes": probes})}

    check = check_generalization_control(changed, "gpt", controls, suite.tiers)

    assert check.status == "FAIL"
    assert check.evidence[0].startswith("prenatal_rubella_screening at all_but_target: AUROC")


@pytest.mark.slow
def test_control_check_skips_without_controls(ladder, suite):
    _, report = ladder

    check = check_generalization_control(report.results, "gpt", [], suite.tiers)

    assert check.status == "SKIP"


@pytest.mark.slow
def test_split_guard_check_fails_on_swapped_splits(ladder, tmp_path):
    out_dir, _ = ladder
    from benchmark.results.models import Result

    hash_split = Result.model_validate_json(
        (out_dir / "split-guard" / "hash-split.json").read_text()
    )
    shifted = Result.model_validate_json(
        (out_dir / "split-guard" / "birth-year-split.json").read_text()
    )

    assert check_split_guard(shifted, hash_split).status == "FAIL"


@pytest.mark.slow
def test_ladder_reuses_trained_models(ladder, ladder_inputs, caplog):
    out_dir, _ = ladder
    weights = out_dir / "models" / "gpt" / "model.safetensors"
    modified = weights.stat().st_mtime_ns

    with caplog.at_level(logging.INFO, logger="benchmark.runner.ladder"):
        report = run_ladder(_options(out_dir, ladder_inputs, rungs=["gpt"], split_guard=False))

    assert weights.stat().st_mtime_ns == modified
    assert "reusing the model" in caplog.text
    assert list(report.results) == ["gpt"]


@pytest.mark.slow
def test_ladder_retrains_changed_recipe(ladder, ladder_inputs, tmp_path, caplog):
    # A model trained for 2 epochs does not serve a ladder that requests 1 epoch.
    out_dir, _ = ladder
    shutil.copytree(out_dir / "models" / "gpt", tmp_path / "models" / "gpt")
    options = _options(tmp_path, ladder_inputs, rungs=["gpt"], split_guard=False, epochs=1)

    with caplog.at_level(logging.INFO, logger="benchmark.runner.ladder"):
        report = run_ladder(options)

    assert "anew" in caplog.text
    assert "epochs=2, the rung needs 1" in caplog.text
    assert report.training["gpt"]["config"]["epochs"] == 1


@pytest.mark.slow
def test_ladder_retrains_unreadable_record(ladder, ladder_inputs, tmp_path, caplog):
    out_dir, _ = ladder
    model_dir = tmp_path / "models" / "gpt"
    shutil.copytree(out_dir / "models" / "gpt", model_dir)
    (model_dir / "clinmem_training.json").write_text("{not json", encoding="utf-8")
    options = _options(tmp_path, ladder_inputs, rungs=["gpt"], split_guard=False)

    with caplog.at_level(logging.INFO, logger="benchmark.runner.ladder"):
        report = run_ladder(options)

    assert "an unknown recipe" in caplog.text
    assert report.training["gpt"]["config"]["epochs"] == 2


def test_overtrained_recipe_drops_dropout():
    gpt = rung_training("gpt", 12)
    overtrained = rung_training("gpt-overtrained", 12)

    assert overtrained["epochs"] > gpt["epochs"]
    assert overtrained["early_stopping"] is False
    assert overtrained["dropout"] == 0.0
    assert "dropout" not in gpt


def test_birth_year_split_takes_latest_born(bundled_cohort):
    shifted = birth_year_split(bundled_cohort, 0.3)

    non_members = shifted.non_members
    births = [p.birth_time for p in shifted if p.birth_time is not None]
    cutoff = sorted(births)[len(births) - len(non_members)]
    assert len(non_members) == round(0.3 * len(bundled_cohort))
    assert all(p.birth_time >= cutoff for p in non_members)
    assert {p.split for p in shifted} <= {MEMBER_SPLIT, NON_MEMBER_SPLIT, "tuning"}
    assert shifted.fingerprint != bundled_cohort.fingerprint


@pytest.mark.parametrize(
    ("rungs", "message"),
    [
        (["populaton"], "Did you mean 'population'?"),
        (["gpt", "gpt"], "more than once: gpt"),
        ([], "no rung selected"),
    ],
)
def test_rung_names_rejected(rungs, message):
    with pytest.raises(LadderError, match=message):
        check_rung_names(rungs)


def test_rung_names_in_ladder_order():
    assert check_rung_names(["lookup", "gpt", "population"]) == ["population", "gpt", "lookup"]


def test_cli_fails_when_no_check_ran(tmp_path, ladder_inputs, monkeypatch):
    # A None entry in sys.modules makes 'import opacus' raise ImportError.
    monkeypatch.setitem(__import__("sys").modules, "opacus", None)
    arguments = [
        "--out", str(tmp_path), "--suite", SUITE_ID, "--rungs", "gpt-dp", "--no-split-guard",
        "--cohort", str(ladder_inputs["cohort"]), "--specs", str(ladder_inputs["specs"]),
        "--no-progress",
    ]  # fmt: skip

    result = CliRunner().invoke(ladder_command, arguments)

    assert result.exit_code == 1
    assert "no validity check ran" in result.output


def test_cli_rejects_unknown_rung(tmp_path):
    result = CliRunner().invoke(
        ladder_command, ["--out", str(tmp_path), "--rungs", "population,lokup", "--no-progress"]
    )

    assert result.exit_code == 1
    assert "unknown ladder rung 'lokup'" in result.output
    assert "Did you mean 'lookup'?" in result.output


def test_dp_rung_skipped_without_opacus(tmp_path, ladder_inputs, monkeypatch, caplog):
    # A None entry in sys.modules makes 'import opacus' raise ImportError.
    monkeypatch.setitem(__import__("sys").modules, "opacus", None)
    options = _options(tmp_path, ladder_inputs, rungs=["gpt-dp"], split_guard=False)

    with caplog.at_level(logging.WARNING, logger="benchmark.runner.ladder"):
        report = run_ladder(options)

    assert "gpt-dp" in report.skipped
    assert "clinmem[dp]" in report.skipped["gpt-dp"]
    assert "skipping rung gpt-dp" in caplog.text
    assert "`gpt-dp` was not run" in (tmp_path / "validity.md").read_text()

    # Every check was skipped, so nothing was measured: the run must not pass.
    assert not report.passed
    assert "Verdict: no check ran" in (tmp_path / "validity.md").read_text()


@pytest.mark.slow
def test_near_zero_check_can_skip_repeated_canaries(ladder):
    _, report = ladder
    result = report.results["population"]
    most = max(m.repetitions for p in result.probes for m in p.metrics if m.repetitions)
    probes = [
        probe.model_copy(
            update={
                "metrics": [
                    m.model_copy(update={"value": 100.0, "ci_low": 90.0, "ci_high": 110.0})
                    if m.repetitions == most
                    else m
                    for m in probe.metrics
                ]
            }
        )
        for probe in result.probes
    ]
    exposed = {"gpt-dp": result.model_copy(update={"probes": probes})}

    assert check_canary_exposure_near_zero(exposed, "gpt-dp").status == "FAIL"
    single = check_canary_exposure_near_zero(exposed, "gpt-dp", max_repetitions=1)
    assert single.status == "PASS"
    assert any("(not checked)" in line for line in single.evidence)
