"""The spec registry: references between specs, suite resolution and digests."""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest

import benchmark
from benchmark.probes.parameters import AttributeInferenceParameters, MembershipParameters
from benchmark.specs.errors import SpecError
from benchmark.specs.registry import SpecRegistry, content_digest, validate_spec_paths
from benchmark.specs.resources import default_specs_dir, is_spec_folder

ATTRIBUTE = """\
kind: attribute
id: {id}
name: Test attribute
description: An attribute for the test.
category: test
harm_weight: 5
harm_rationale: For the test.
codes:
  SNOMED: ["{code}"]
"""

SUITE = """\
kind: suite
id: {id}
name: Test suite
description: A suite for the test.
version: 1
attributes:
  - hiv
  - {attribute}
tiers:
  - none
  - {tier}
subgroups:
  - all
  - {subgroup}
probes:
  membership:
    min_k_fraction: 0.1
  {probe}:
    samples: 2
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def suite_text(
    suite_id: str = "mine",
    attribute: str = "depression",
    tier: str = "demographics",
    subgroup: str = "age_80_plus",
    probe: str = "attribute_inference",
) -> str:
    return SUITE.format(id=suite_id, attribute=attribute, tier=tier, subgroup=subgroup, probe=probe)


def collect_errors(*paths: Path) -> list[SpecError]:
    _, errors = SpecRegistry.collect([default_specs_dir(), *paths])
    return errors


@pytest.fixture
def specs_copy(tmp_path: Path) -> Path:
    """A copy of the default specs that a test may edit."""
    target = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), target)
    return target


def test_default_registry_has_every_kind():
    registry = SpecRegistry.load()

    assert "hiv" in registry.attributes
    assert "all_but_target" in registry.tiers
    assert "unique_profile_10" in registry.subgroups
    assert {"standard", "smoke"} <= set(registry.suites)
    assert registry.specs("tier") == registry.tiers
    assert registry.source("attribute", "hiv") == default_specs_dir() / "attributes" / "hiv.yaml"


def test_default_specs_load_fast():
    SpecRegistry.load()  # warm the imports and the file cache

    started = time.perf_counter()
    SpecRegistry.load()
    elapsed = time.perf_counter() - started

    assert elapsed < 0.3


def test_resolve_suite_by_id():
    suite = SpecRegistry.load().resolve_suite("standard")

    assert suite.spec.id == "standard"
    assert [a.id for a in suite.attributes] == list(suite.spec.attributes)
    assert [t.id for t in suite.tiers] == list(suite.spec.tiers)
    assert [s.id for s in suite.subgroups] == list(suite.spec.subgroups)
    assert isinstance(suite.probe_parameters["membership"], MembershipParameters)
    assert isinstance(suite.probe_parameters["attribute_inference"], AttributeInferenceParameters)
    assert suite.digest.startswith("sha256:")
    assert len(suite.digest) == len("sha256:") + 64


def test_spec_digests_cover_suite_and_references():
    suite = SpecRegistry.load().resolve_suite("standard")

    expected = {"suite/standard"}
    expected |= {f"attribute/{a}" for a in suite.spec.attributes}
    expected |= {f"tier/{t}" for t in suite.spec.tiers}
    expected |= {f"subgroup/{s}" for s in suite.spec.subgroups}
    assert set(suite.spec_digests) == expected
    assert suite.spec_digests["attribute/hiv"] == content_digest(
        suite.attributes[suite.spec.attributes.index("hiv")].model_dump(mode="json")
    )


def test_unknown_suite_id_suggests_and_lists():
    registry = SpecRegistry.load()

    with pytest.raises(SpecError) as caught:
        registry.resolve_suite("standrad")

    message = str(caught.value)
    assert "Unknown suite 'standrad'" in message
    assert "Did you mean 'standard'?" in message
    assert "'smoke', 'standard'" in message


def test_digest_is_stable_across_loads(specs_copy):
    first = SpecRegistry.load().resolve_suite("standard")
    second = SpecRegistry.load([specs_copy]).resolve_suite("standard")

    assert first.digest == second.digest
    assert first.spec_digests == second.spec_digests


def test_digest_ignores_comments_and_key_order(specs_copy):
    before = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest
    path = specs_copy / "tiers" / "demographics.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    # Move the first line (kind) to the end and add a comment.
    path.write_text("\n".join(["# reordered", *lines[1:], lines[0]]) + "\n", encoding="utf-8")

    after = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest

    assert after == before


def test_digest_changes_with_referenced_spec(specs_copy):
    before = SpecRegistry.load([specs_copy]).resolve_suite("standard")
    path = specs_copy / "attributes" / "hiv.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("harm_weight: 9", "harm_weight: 8"), encoding="utf-8")

    after = SpecRegistry.load([specs_copy]).resolve_suite("standard")

    assert after.digest != before.digest
    assert after.spec_digests["attribute/hiv"] != before.spec_digests["attribute/hiv"]
    unchanged = {key for key in before.spec_digests if key != "attribute/hiv"}
    assert all(after.spec_digests[key] == before.spec_digests[key] for key in unchanged)


def test_digest_changes_with_probe_parameters(specs_copy):
    before = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest
    path = specs_copy / "suites" / "standard.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("min_k_fraction: 0.2", "min_k_fraction: 0.3"), encoding="utf-8")

    after = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest

    assert after != before


def test_digest_ignores_unrelated_spec(specs_copy):
    before = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest
    # An attribute and a tier that the standard suite does not list.
    write(
        specs_copy / "attributes" / "extra.yaml",
        (specs_copy / "attributes" / "induced_abortion.yaml")
        .read_text(encoding="utf-8")
        .replace("id: induced_abortion", "id: extra")
        .replace("harm_weight: 9", "harm_weight: 2"),
    )
    write(
        specs_copy / "tiers" / "extra.yaml",
        (specs_copy / "tiers" / "none.yaml")
        .read_text(encoding="utf-8")
        .replace("id: none", "id: extra"),
    )

    after = SpecRegistry.load([specs_copy]).resolve_suite("standard").digest

    assert after == before


def test_resolve_suite_file_in_spec_folder(tmp_path):
    folder = tmp_path / "myspecs"
    write(
        folder / "attributes" / "rare_disease.yaml", ATTRIBUTE.format(id="rare_disease", code="1")
    )
    suite_path = write(folder / "suites" / "mine.yaml", suite_text(attribute="rare_disease"))

    suite = SpecRegistry.load().resolve_suite(str(suite_path))

    assert suite.spec.id == "mine"
    assert [a.id for a in suite.attributes] == ["hiv", "rare_disease"]
    assert suite.probe_parameters["attribute_inference"].samples == 2
    assert "attribute/rare_disease" in suite.spec_digests


def test_resolve_standalone_suite_file(tmp_path):
    suite_path = write(tmp_path / "mine.yaml", suite_text())

    suite = SpecRegistry.load().resolve_suite(str(suite_path))

    assert [t.id for t in suite.tiers] == ["none", "demographics"]


def test_resolve_default_suite_by_path_has_no_duplicates():
    path = default_specs_dir() / "suites" / "smoke.yaml"

    suite = SpecRegistry.load().resolve_suite(str(path))

    assert suite.spec.id == "smoke"
    assert suite.digest == SpecRegistry.load().resolve_suite("smoke").digest


def test_resolve_missing_suite_file(tmp_path):
    missing = tmp_path / "absent.yaml"

    with pytest.raises(SpecError) as caught:
        SpecRegistry.load().resolve_suite(str(missing))

    assert "was not found" in str(caught.value)
    assert "'standard'" in str(caught.value)


def test_resolve_file_of_other_kind(tmp_path):
    path = write(tmp_path / "attr.yaml", ATTRIBUTE.format(id="other", code="1"))

    with pytest.raises(SpecError) as caught:
        SpecRegistry.load().resolve_suite(str(path))

    assert caught.value.field == "kind"
    assert caught.value.line == 1
    assert "spec of kind 'attribute', not a suite" in caught.value.message


def test_unknown_attribute_in_suite_points_at_item(tmp_path):
    path = write(tmp_path / "mine.yaml", suite_text(attribute="depresion"))

    errors = collect_errors(path)

    assert len(errors) == 1
    error = errors[0]
    assert error.path == path
    assert (error.line, error.column) == (8, 5)
    assert error.field == "attributes[1]"
    assert "Unknown attribute 'depresion'" in error.message
    assert "Did you mean 'depression'?" in error.message
    assert "'hiv'" in error.message


def test_unknown_tier_and_subgroup_are_both_reported(tmp_path):
    path = write(tmp_path / "mine.yaml", suite_text(tier="demographic", subgroup="age_80"))

    errors = collect_errors(path)

    assert [(e.field, e.line) for e in errors] == [("tiers[1]", 11), ("subgroups[1]", 14)]
    assert "Did you mean 'demographics'?" in errors[0].message
    assert "Did you mean 'age_80_plus'?" in errors[1].message


def test_unknown_probe_points_at_key(tmp_path):
    path = write(tmp_path / "mine.yaml", suite_text(probe="reconstrution"))

    errors = collect_errors(path)

    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (18, 3)
    assert errors[0].field == "probes.reconstrution"
    assert "Unknown probe 'reconstrution'" in errors[0].message
    assert "Did you mean 'reconstruction'?" in errors[0].message


def test_invalid_probe_parameter_points_at_parameter(tmp_path):
    text = suite_text().replace("min_k_fraction: 0.1", "min_k_fraction: 2")
    path = write(tmp_path / "mine.yaml", text)

    errors = collect_errors(path)

    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (17, 21)
    assert errors[0].field == "probes.membership.min_k_fraction"
    assert "less than or equal to 1" in errors[0].message


def test_unknown_probe_parameter_suggests(tmp_path):
    text = suite_text().replace("samples: 2", "sample: 2")
    path = write(tmp_path / "mine.yaml", text)

    errors = collect_errors(path)

    assert len(errors) == 1
    assert errors[0].field == "probes.attribute_inference.sample"
    assert errors[0].line == 19
    assert "Did you mean 'samples'?" in errors[0].message


def test_probe_parameter_of_wrong_type(tmp_path):
    text = suite_text().replace("    samples: 2", "    samples: many")
    path = write(tmp_path / "mine.yaml", text)

    errors = collect_errors(path)

    assert [error.field for error in errors] == ["probes.attribute_inference.samples"]


def test_subgroup_with_unknown_attribute_points_at_it(tmp_path):
    text = """\
    kind: subgroup
    id: hiv_carrier
    name: HIV carriers
    description: Carriers of one attribute.
    rule:
      kind: attribute_carriers
      attribute: hvi
    """
    path = write(tmp_path / "subgroup.yaml", text)

    errors = collect_errors(path)

    assert len(errors) == 1
    assert (errors[0].line, errors[0].column, errors[0].field) == (7, 14, "rule.attribute")
    assert "Did you mean 'hiv'?" in errors[0].message


def test_subgroup_attribute_outside_suite_is_resolved(tmp_path):
    folder = tmp_path / "myspecs"
    write(
        folder / "subgroups" / "overdose_carriers.yaml",
        """\
        kind: subgroup
        id: overdose_carriers
        name: Overdose carriers
        description: Carriers of drug overdose.
        rule: {kind: attribute_carriers, attribute: drug_overdose}
        """,
    )
    suite_path = write(folder / "suites" / "mine.yaml", suite_text(subgroup="overdose_carriers"))

    suite = SpecRegistry.load().resolve_suite(str(suite_path))

    assert list(suite.subgroup_attributes) == ["drug_overdose"]
    assert "attribute/drug_overdose" in suite.spec_digests


def test_duplicate_id_names_both_files(tmp_path):
    path = write(tmp_path / "hiv_copy.yaml", ATTRIBUTE.format(id="hiv", code="1"))

    errors = collect_errors(path)

    assert len(errors) == 1
    assert errors[0].path == path
    assert (errors[0].line, errors[0].field) == (2, "id")
    assert "Duplicate attribute id 'hiv'" in errors[0].message
    assert "hiv.yaml" in errors[0].message


def test_same_id_in_different_kinds_is_allowed(tmp_path):
    path = write(
        tmp_path / "tier_hiv.yaml",
        (default_specs_dir() / "tiers" / "none.yaml")
        .read_text(encoding="utf-8")
        .replace("id: none", "id: hiv"),
    )

    assert collect_errors(path) == []


def test_load_raises_all_errors(tmp_path):
    write(tmp_path / "a.yaml", suite_text(attribute="nope"))
    write(tmp_path / "b.yaml", "- not a mapping\n")

    with pytest.raises(SpecError) as caught:
        SpecRegistry.load([default_specs_dir(), tmp_path])

    assert len(caught.value.errors) == 2
    assert [error.path.name for error in caught.value.errors] == ["a.yaml", "b.yaml"]


def test_collected_suite_with_errors_cannot_resolve(tmp_path):
    write(tmp_path / "a.yaml", suite_text(suite_id="broken", attribute="nope"))
    registry, errors = SpecRegistry.collect([default_specs_dir(), tmp_path])

    with pytest.raises(SpecError) as caught:
        registry.resolve_suite("broken")

    assert len(errors) == 1
    assert "has errors" in str(caught.value)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "nothing.txt").write_text("not a spec", encoding="utf-8")

    with pytest.raises(SpecError) as caught:
        SpecRegistry.load([tmp_path])

    assert caught.value.path == tmp_path
    assert "no spec files" in caught.value.message


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        SpecRegistry.load([tmp_path / "absent"])

    assert "No such file or folder" in caught.value.message


def test_hidden_folders_are_skipped(specs_copy):
    write(specs_copy / ".git" / "broken.yaml", "- not a spec\n")

    assert "standard" in SpecRegistry.load([specs_copy]).suites


def test_yml_suffix_is_read(tmp_path):
    write(tmp_path / "extra.yml", ATTRIBUTE.format(id="extra_attribute", code="1"))

    registry = SpecRegistry.load([default_specs_dir(), tmp_path])

    assert "extra_attribute" in registry.attributes


def test_source_of_unknown_id_suggests():
    with pytest.raises(SpecError) as caught:
        SpecRegistry.load().source("tier", "demographic")

    assert "Did you mean 'demographics'?" in str(caught.value)


def test_unknown_kind_is_rejected():
    with pytest.raises(SpecError) as caught:
        SpecRegistry.load().specs("tiers")

    assert "Did you mean 'tier'?" in str(caught.value)


def test_validate_report_counts_requested_files(tmp_path):
    write(tmp_path / "good.yaml", ATTRIBUTE.format(id="good_one", code="1"))
    write(tmp_path / "bad.yaml", ATTRIBUTE.format(id="Bad", code="1"))

    report = validate_spec_paths([tmp_path])

    assert [path.name for path in report.files] == ["bad.yaml", "good.yaml"]
    assert report.valid_specs == 1
    assert [(error.path.name, error.field) for error in report.errors] == [("bad.yaml", "id")]


def test_default_specs_dir_is_repository_specs():
    folder = default_specs_dir()

    assert folder == Path(benchmark.__file__).resolve().parent.parent / "specs"
    assert is_spec_folder(folder)
    assert not is_spec_folder(folder / "suites")


def test_default_specs_dir_falls_back_to_prefix(tmp_path, monkeypatch, specs_copy):
    installed = tmp_path / "prefix" / "share" / "clinmem" / "specs"
    installed.parent.mkdir(parents=True)
    shutil.move(str(specs_copy), installed)
    monkeypatch.setattr(benchmark, "__file__", str(tmp_path / "site" / "benchmark" / "x.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))

    assert default_specs_dir() == installed


def test_default_specs_dir_missing_names_places(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "__file__", str(tmp_path / "site" / "benchmark" / "x.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))

    with pytest.raises(SpecError) as caught:
        default_specs_dir()

    assert "default spec folder was not found" in str(caught.value)
    assert str(tmp_path / "prefix" / "share" / "clinmem" / "specs") in str(caught.value)
