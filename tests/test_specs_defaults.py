"""The default specs under specs/: each is valid and matches what the docs promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data.loading import load_cohort
from benchmark.data.sequence import build_sequence
from benchmark.specs.loader import load_spec_file
from benchmark.specs.registry import SpecRegistry
from benchmark.specs.resources import default_specs_dir

DEFAULT_FILES = sorted(default_specs_dir().rglob("*.yaml"))

STANDARD_ATTRIBUTES = [
    "pregnancy_loss",
    "ectopic_pregnancy",
    "induced_abortion",
    "drug_overdose",
    "opioid_use_disorder",
    "alcohol_use_disorder",
    "depression",
    "ptsd_or_suicide_risk",
    "hiv",
    "age_over_89",
    "prenatal_rubella_screening",
]
STANDARD_TIERS = ["none", "demographics", "demographics_first_10", "half_history", "all_but_target"]
STANDARD_SUBGROUPS = [
    "all",
    "attribute_carriers",
    "age_80_plus",
    "rare_code_carriers",
    "unique_profile_10",
]

# (attribute, cohort code, whether it carries the attribute). ICD codes appear
# with and without the dot, as different sources write them.
CODE_EXAMPLES = [
    ("pregnancy_loss", "SNOMED//19169002", True),
    ("pregnancy_loss", "SNOMED//156073000", True),
    ("pregnancy_loss", "SNOMED//35999006", True),
    ("pregnancy_loss", "ICD10CM//O03.9", True),
    ("pregnancy_loss", "ICD10CM//O039", True),
    ("pregnancy_loss", "ICD10CM//O02.1", True),
    ("pregnancy_loss", "ICD9CM//634.91", True),
    ("pregnancy_loss", "ICD9CM//63491", True),
    ("pregnancy_loss", "ICD10CM//O04.5", False),
    ("pregnancy_loss", "SNOMED//72892002", False),
    ("ectopic_pregnancy", "SNOMED//79586000", True),
    ("ectopic_pregnancy", "SNOMED//445912000", True),
    ("ectopic_pregnancy", "ICD10CM//O00.101", True),
    ("ectopic_pregnancy", "ICD10CM//O00101", True),
    ("ectopic_pregnancy", "ICD9CM//633.10", True),
    ("ectopic_pregnancy", "ICD10CM//O01.9", False),
    ("induced_abortion", "SNOMED//714812005", True),
    ("induced_abortion", "ICD10CM//Z33.2", True),
    ("drug_overdose", "SNOMED//55680006", True),
    ("drug_overdose", "ICD10CM//T40.1X1A", True),
    ("drug_overdose", "ICD10CM//T401X1A", True),
    ("drug_overdose", "ICD9CM//965.01", True),
    ("drug_overdose", "ICD9CM//E850.0", True),
    ("drug_overdose", "ICD10CM//T39.1X1A", False),
    ("opioid_use_disorder", "SNOMED//5602001", True),
    ("opioid_use_disorder", "ICD10CM//F11.20", True),
    ("opioid_use_disorder", "ICD10CM//F1120", True),
    ("opioid_use_disorder", "ICD9CM//304.00", True),
    ("opioid_use_disorder", "ICD9CM//305.50", True),
    ("opioid_use_disorder", "ICD10CM//F12.20", False),
    ("opioid_use_disorder", "ICD9CM//304.30", False),
    ("alcohol_use_disorder", "SNOMED//7200002", True),
    ("alcohol_use_disorder", "ICD10CM//F10.20", True),
    ("alcohol_use_disorder", "ICD9CM//303.90", True),
    ("alcohol_use_disorder", "ICD9CM//305.00", True),
    ("alcohol_use_disorder", "ICD9CM//305.50", False),
    ("depression", "SNOMED//370143000", True),
    ("depression", "ICD10CM//F32.A", True),
    ("depression", "ICD10CM//F33.1", True),
    ("depression", "ICD10CM//F331", True),
    ("depression", "ICD9CM//296.20", True),
    ("depression", "ICD9CM//311", True),
    ("depression", "ICD9CM//296.40", False),
    ("depression", "SNOMED//171207006", False),
    ("ptsd_or_suicide_risk", "SNOMED//47505003", True),
    ("ptsd_or_suicide_risk", "SNOMED//225444004", True),
    ("ptsd_or_suicide_risk", "ICD10CM//F43.10", True),
    ("ptsd_or_suicide_risk", "ICD10CM//R45.851", True),
    ("ptsd_or_suicide_risk", "ICD10CM//T14.91XA", True),
    ("ptsd_or_suicide_risk", "ICD9CM//V62.84", True),
    ("ptsd_or_suicide_risk", "ICD9CM//E950.0", True),
    ("ptsd_or_suicide_risk", "ICD10CM//F43.20", False),
    ("hiv", "SNOMED//86406008", True),
    ("hiv", "ICD10CM//B20", True),
    ("hiv", "ICD10CM//Z21", True),
    ("hiv", "ICD9CM//042", True),
    ("hiv", "ICD9CM//V08", True),
    ("hiv", "ICD10CM//B200", False),
    ("hiv", "SNOMED//31676001", False),
    ("hiv", "LOINC//55277-8", False),
    ("age_over_89", "AGE//90+", True),
    ("age_over_89", "AGE//85-89", False),
    ("age_over_89", "SNOMED//90+", False),
]

# Attributes with carriers in the first 256 tokens of the bundled cohort,
# as docs/specs.md states.
BUNDLED_CARRIERS = {
    "pregnancy_loss",
    "ectopic_pregnancy",
    "induced_abortion",
    "drug_overdose",
    "opioid_use_disorder",
    "alcohol_use_disorder",
    "depression",
    "ptsd_or_suicide_risk",
    "age_over_89",
    "prenatal_rubella_screening",
}


@pytest.fixture(scope="module")
def registry() -> SpecRegistry:
    return SpecRegistry.load()


@pytest.mark.parametrize("path", DEFAULT_FILES, ids=lambda path: path.stem)
def test_default_spec_is_valid_and_named_by_id(path: Path):
    loaded = load_spec_file(path)

    assert loaded.id == path.stem
    assert path.parent.name == f"{loaded.kind}s"


def test_default_folder_has_every_kind():
    kinds = {load_spec_file(path).kind for path in DEFAULT_FILES}

    assert kinds == {"attribute", "tier", "subgroup", "suite"}


def test_attributes_cover_three_vocabularies(registry):
    for attribute in registry.attributes.values():
        if attribute.category == "quasi_identifier" or attribute.control:
            continue
        assert {"SNOMED", "ICD10CM", "ICD9CM"} <= set(attribute.codes), attribute.id
        assert 0 < attribute.harm_weight <= 10
        assert len(attribute.harm_rationale) > 80, attribute.id


def test_age_over_89_is_quasi_identifier(registry):
    attribute = registry.attributes["age_over_89"]

    assert attribute.category == "quasi_identifier"
    assert attribute.codes == {"AGE": [r"90\+"]}


@pytest.mark.parametrize(("attribute_id", "code", "expected"), CODE_EXAMPLES)
def test_attribute_pattern_examples(registry, attribute_id, code, expected):
    assert registry.attributes[attribute_id].matches(code) is expected


def test_tiers_rise_in_severity(registry):
    severities = [registry.tiers[tier_id].severity for tier_id in STANDARD_TIERS]
    histories = [registry.tiers[tier_id].reveals.history for tier_id in STANDARD_TIERS]

    assert severities == ["trivial", "low", "moderate", "high", "serious"]
    assert histories[0] == "none"
    assert histories[1] == "none"
    assert histories[2].first_events == 10
    assert histories[3].fraction == 0.5
    assert histories[4] == "all"
    assert [registry.tiers[t].reveals.demographics for t in STANDARD_TIERS] == [
        False,
        True,
        True,
        True,
        True,
    ]


def test_subgroup_rules(registry):
    rules = {
        subgroup_id: registry.subgroups[subgroup_id].rule for subgroup_id in STANDARD_SUBGROUPS
    }

    assert rules["all"].kind == "all"
    assert rules["attribute_carriers"].attribute is None
    assert rules["age_80_plus"].min_years == 80
    assert rules["age_80_plus"].max_years is None
    assert rules["rare_code_carriers"].max_patient_share == 0.01
    assert rules["unique_profile_10"].first_codes == 10


def test_standard_suite_parameters(registry):
    suite = registry.resolve_suite("standard")
    parameters = suite.probe_parameters

    assert suite.spec.version == 3
    assert list(suite.spec.attributes) == STANDARD_ATTRIBUTES
    assert list(suite.spec.tiers) == STANDARD_TIERS
    assert list(suite.spec.subgroups) == STANDARD_SUBGROUPS
    assert list(parameters) == [
        "membership", "attribute_inference", "reconstruction", "perturbation", "embedding",
        "utility", "canary",
    ]  # fmt: skip
    assert parameters["membership"].attacks == [
        "loss", "min_k", "min_k_plus_plus", "zlib", "reference",
    ]  # fmt: skip
    assert suite.spec.canaries is not None
    assert suite.spec.canaries.repetitions == [1, 2, 4, 8, 16]
    assert parameters["membership"].min_k_fraction == 0.2
    assert (
        parameters["attribute_inference"].samples,
        parameters["attribute_inference"].max_new_tokens,
    ) == (4, 32)
    assert parameters["attribute_inference"].temperature == 1.0
    assert parameters["attribute_inference"].attacks == ["likelihood", "sampling"]
    assert (parameters["reconstruction"].samples, parameters["reconstruction"].max_new_tokens) == (
        4,
        32,
    )
    assert suite.spec.cohort.max_sequence_length == 256
    assert suite.spec.cohort.max_patients_per_group == 1000
    assert suite.spec.bootstrap.resamples == 1000
    assert suite.spec.seed == 0


def test_smoke_suite_is_cheaper_standard(registry):
    standard = registry.resolve_suite("standard")
    smoke = registry.resolve_suite("smoke")

    assert smoke.spec.version == 3
    assert smoke.spec.attributes == standard.spec.attributes
    assert smoke.spec.tiers == standard.spec.tiers
    assert smoke.spec.subgroups == standard.spec.subgroups
    assert smoke.spec.cohort.max_patients_per_group == 150
    assert smoke.probe_parameters["attribute_inference"].samples == 4
    assert smoke.probe_parameters["attribute_inference"].max_new_tokens == 24
    assert smoke.probe_parameters["reconstruction"].max_new_tokens == 24
    assert smoke.spec.bootstrap.resamples == 200
    assert smoke.digest != standard.digest


def test_bundled_cohort_carriers_match_docs(registry):
    cohort = load_cohort(None)
    max_length = registry.suites["standard"].cohort.max_sequence_length
    windows = [set(build_sequence(patient, max_length).tokens) for patient in cohort]
    distinct = set().union(*windows)

    with_carriers = set()
    for attribute in registry.attributes.values():
        codes = {code for code in distinct if attribute.matches(code)}
        if any(window & codes for window in windows):
            with_carriers.add(attribute.id)

    assert with_carriers == BUNDLED_CARRIERS
