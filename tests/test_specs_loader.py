"""The spec loader: safe YAML, limits, and errors located at file, line, column, field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.specs.errors import SpecError, SpecErrors
from benchmark.specs.loader import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    load_spec_file,
)
from benchmark.specs.models import AttributeSpec, SubgroupSpec, TierSpec

TIER = """\
kind: tier
id: probe_tier
name: A tier
description: Knows the first events.
severity: moderate
reveals:
  demographics: true
  history:
    first_events: 5
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_errors(path: Path) -> list[SpecError]:
    with pytest.raises(SpecError) as caught:
        load_spec_file(path)
    return caught.value.errors


def only_error(path: Path) -> SpecError:
    errors = load_errors(path)
    assert len(errors) == 1, [str(error) for error in errors]
    return errors[0]


def test_valid_tier_loads(tmp_path):
    loaded = load_spec_file(write(tmp_path, TIER))

    assert isinstance(loaded.spec, TierSpec)
    assert loaded.kind == "tier"
    assert loaded.id == "probe_tier"
    assert loaded.spec.reveals.history.first_events == 5


def test_error_names_line_column_field(tmp_path):
    path = write(tmp_path, TIER.replace("first_events: 5", "first_events: 0"))

    error = only_error(path)

    assert error.path == path
    assert error.line == 9
    assert error.column == 19
    assert error.field == "reveals.history.first_events"
    assert error.message == "Input should be greater than or equal to 1"
    assert str(error).endswith(
        "spec.yaml:9:19: reveals.history.first_events: Input should be greater than or equal to 1"
    )


def test_union_value_of_wrong_type_lists_forms(tmp_path):
    path = write(tmp_path, TIER.replace("  history:\n    first_events: 5", "  history: some"))

    error = only_error(path)

    assert (error.line, error.column, error.field) == (8, 12, "reveals.history")
    assert "'none' or 'all'" in error.message
    assert "first_events" in error.message
    assert "fraction" in error.message


def test_union_reports_member_with_matching_keys(tmp_path):
    text = TIER.replace("    first_events: 5", "    fraction: 1.5")

    error = only_error(write(tmp_path, text))

    assert error.field == "reveals.history.fraction"
    assert error.line == 9
    assert "less than 1" in error.message


def test_unknown_key_points_at_key_with_suggestion(tmp_path):
    path = write(tmp_path, TIER.replace("severity: moderate", "severty: moderate"))

    errors = load_errors(path)
    unknown = [error for error in errors if error.field == "severty"]
    missing = [error for error in errors if error.field == "severity"]

    assert len(unknown) == 1
    assert (unknown[0].line, unknown[0].column) == (5, 1)
    assert "Did you mean 'severity'?" in unknown[0].message
    assert "Allowed keys:" in unknown[0].message
    assert len(missing) == 1
    assert missing[0].message == "Field required"


def test_missing_nested_key_points_at_parent_key(tmp_path):
    text = TIER.replace("  demographics: true\n", "")

    error = only_error(write(tmp_path, text))

    assert error.field == "reveals.demographics"
    assert (error.line, error.column) == (6, 1)


def test_several_errors_are_all_reported_in_order(tmp_path):
    text = TIER.replace("severity: moderate", "severity: extreme").replace(
        "first_events: 5", "first_events: -2"
    )

    errors = load_errors(write(tmp_path, text))

    assert [error.field for error in errors] == ["severity", "reveals.history.first_events"]
    assert [error.line for error in errors] == [5, 9]


def test_spec_errors_str_lists_every_error(tmp_path):
    text = TIER.replace("severity: moderate", "severity: extreme").replace(
        "first_events: 5", "first_events: -2"
    )

    with pytest.raises(SpecErrors) as caught:
        load_spec_file(write(tmp_path, text))

    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert ":5:11: severity: " in lines[0]
    assert ":9:19: reveals.history.first_events: " in lines[1]
    assert caught.value.line == 5


def test_spec_errors_rejects_empty_list():
    with pytest.raises(ValueError, match="at least one error"):
        SpecErrors([])


def test_invalid_regex_points_at_pattern(tmp_path):
    text = """\
    kind: attribute
    id: bad_regex
    name: Bad regex
    description: A pattern that does not compile.
    category: test
    harm_weight: 5
    harm_rationale: For the test.
    codes:
      SNOMED:
        - "1234"
        - "(unclosed"
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "codes.SNOMED[1]"
    assert (error.line, error.column) == (11, 7)
    assert "invalid regular expression '(unclosed'" in error.message


def test_empty_pattern_list_is_rejected(tmp_path):
    text = """\
    kind: attribute
    id: no_patterns
    name: No patterns
    description: A vocabulary without patterns.
    category: test
    harm_weight: 5
    harm_rationale: For the test.
    codes:
      SNOMED: []
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "codes.SNOMED"
    assert error.line == 9


def test_unknown_spec_kind_suggests_closest(tmp_path):
    error = only_error(write(tmp_path, TIER.replace("kind: tier", "kind: teir")))

    assert (error.line, error.column, error.field) == (1, 7, "kind")
    assert "Unknown spec kind 'teir'" in error.message
    assert "Did you mean 'tier'?" in error.message
    assert "'attribute', 'subgroup', 'suite', 'tier'" in error.message


def test_non_string_kind_is_unknown_kind(tmp_path):
    error = only_error(write(tmp_path, TIER.replace("kind: tier", "kind: [tier]")))

    assert error.field == "kind"
    assert "Unknown spec kind ['tier']" in error.message


def test_missing_kind_lists_kinds(tmp_path):
    error = only_error(write(tmp_path, TIER.replace("kind: tier\n", "")))

    assert error.field == "kind"
    assert error.line == 1
    assert "'attribute', 'subgroup', 'suite', 'tier'" in error.message


def test_unknown_subgroup_rule_kind_suggests(tmp_path):
    text = """\
    kind: subgroup
    id: old
    name: Old
    description: Old patients.
    rule:
      kind: ages
      min_years: 80
    """

    error = only_error(write(tmp_path, text))

    assert (error.line, error.column, error.field) == (6, 9, "rule.kind")
    assert "Did you mean 'age'?" in error.message


def test_subgroup_rule_without_kind_lists_kinds(tmp_path):
    text = """\
    kind: subgroup
    id: old
    name: Old
    description: Old patients.
    rule:
      min_years: 80
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "rule.kind"
    assert error.line == 5
    assert "'age'" in error.message
    assert "'unique_profile'" in error.message


def test_subgroup_rule_field_error_skips_tag(tmp_path):
    text = """\
    kind: subgroup
    id: old
    name: Old
    description: Old patients.
    rule:
      kind: age
      min_years: -1
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "rule.min_years"
    assert error.line == 7


def test_valid_subgroup_loads(tmp_path):
    text = """\
    kind: subgroup
    id: old
    name: Old
    description: Old patients.
    rule: {kind: age, min_years: 80}
    """

    loaded = load_spec_file(write(tmp_path, text))

    assert isinstance(loaded.spec, SubgroupSpec)
    assert loaded.spec.rule.min_years == 80


def test_duplicate_suite_list_item_is_located(tmp_path):
    text = """\
    kind: suite
    id: twice
    name: Twice
    description: Lists a tier twice.
    version: 1
    attributes: [hiv]
    tiers: [none, none]
    probes:
      membership:
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "tiers"
    assert error.line == 7
    assert "['none'] more than once" in error.message


def test_probe_name_pattern_error_points_at_key(tmp_path):
    text = """\
    kind: suite
    id: bad_probe_key
    name: Bad probe key
    description: A probe name with capitals.
    version: 1
    attributes: [hiv]
    tiers: [none]
    probes:
      Membership: {}
    """

    error = only_error(write(tmp_path, text))

    assert error.field == "probes.Membership"
    assert (error.line, error.column) == (9, 3)


def test_empty_probe_parameters_mean_defaults(tmp_path):
    text = """\
    kind: suite
    id: defaults
    name: Defaults
    description: Probe parameters left empty.
    version: 1
    attributes: [hiv]
    tiers: [none]
    probes:
      membership:
    """

    loaded = load_spec_file(write(tmp_path, text))

    assert loaded.spec.probes == {"membership": {}}


def test_alias_bomb_is_rejected(tmp_path):
    # Eleven levels of ten aliases each would expand to 10**11 strings.
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 12):
        aliases = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    path = write(tmp_path, "\n".join(lines) + "\n")

    error = only_error(path)

    assert f"more than {MAX_ALIASES} YAML aliases" in error.message
    assert error.line == 12


def test_few_aliases_expanding_past_node_limit_rejected(tmp_path):
    # 4 levels of 25 aliases = 100 aliases, expanding to 25**4 = 390,625 nodes.
    lines = [f"l0: &l0 [{', '.join(['x'] * 25)}]"]
    for level in range(1, 5):
        aliases = ", ".join([f"*l{level - 1}"] * 25)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    path = write(tmp_path, "\n".join(lines) + "\n")

    error = only_error(path)

    assert f"more than {MAX_NODES} nodes" in error.message


def test_aliases_within_limit_are_allowed(tmp_path):
    text = """\
    kind: attribute
    id: aliased
    name: Aliased
    description: Uses an alias for a repeated pattern list.
    category: test
    harm_weight: 5
    harm_rationale: For the test.
    codes:
      ICD10CM: &patterns ['B20']
      ICD9CM: *patterns
    """

    loaded = load_spec_file(write(tmp_path, text))

    assert isinstance(loaded.spec, AttributeSpec)
    assert loaded.spec.codes["ICD9CM"] == ["B20"]


def test_recursive_alias_is_rejected(tmp_path):
    error = only_error(write(tmp_path, "a: &a [*a]\n"))

    assert "recursive" in error.message
    assert error.line == 1


def test_nesting_deeper_than_limit_is_rejected(tmp_path):
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)

    error = only_error(write(tmp_path, f"kind: tier\nx: {deep}\n"))

    assert f"deeper than {MAX_DEPTH} levels" in error.message
    assert error.line == 2


def test_very_deep_nesting_is_rejected_without_recursion_error(tmp_path):
    deep = "[" * 50_000 + "]" * 50_000

    error = only_error(write(tmp_path, f"x: {deep}\n"))

    assert f"deeper than {MAX_DEPTH} levels" in error.message


def test_alias_nesting_past_limit_is_rejected(tmp_path):
    half = MAX_DEPTH // 2 + 2
    inner = "[" * half + "]" * half
    text = f"a: &deep {inner}\nb: {'[' * half}*deep{']' * half}\n"

    error = only_error(write(tmp_path, text))

    assert "once aliases are expanded" in error.message


def test_oversize_file_is_rejected(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(TIER.encode() + b"#" * MAX_FILE_BYTES)

    error = only_error(path)

    assert error.path == path
    assert error.line is None
    assert str(MAX_FILE_BYTES) in error.message


def test_non_utf8_bytes_name_offset_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: tier\nname: Caf\xe9\n")

    error = only_error(path)

    assert (error.line, error.column) == (2, 10)
    assert "byte offset 20" in error.message
    assert "0xe9" in error.message
    assert "UTF-8" in error.message


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + TIER.encode())

    assert load_spec_file(path).id == "probe_tier"


def test_empty_file_is_located(tmp_path):
    error = only_error(write(tmp_path, ""))

    assert (error.line, error.column) == (1, 1)
    assert "no YAML document" in error.message


def test_comment_only_file_is_empty(tmp_path):
    error = only_error(write(tmp_path, "# nothing here\n\n"))

    assert "no YAML document" in error.message


def test_list_instead_of_mapping_is_rejected(tmp_path):
    error = only_error(write(tmp_path, "- kind: tier\n- id: x\n"))

    assert (error.line, error.column) == (1, 1)
    assert "contains a list" in error.message


def test_scalar_document_is_rejected(tmp_path):
    error = only_error(write(tmp_path, "just text\n"))

    assert "the scalar 'just text'" in error.message


def test_null_document_is_rejected(tmp_path):
    error = only_error(write(tmp_path, "null\n"))

    assert "only null" in error.message


def test_several_documents_are_rejected(tmp_path):
    error = only_error(write(tmp_path, TIER + "---\n" + TIER))

    assert error.line == 10
    assert "more than one YAML document" in error.message


def test_duplicate_yaml_key_is_rejected(tmp_path):
    error = only_error(write(tmp_path, TIER + "severity: high\n"))

    assert error.line == 10
    assert "Duplicate key 'severity'" in error.message
    assert "line 5" in error.message


def test_python_tag_is_rejected_not_executed(tmp_path):
    marker = tmp_path / "executed"
    text = f"kind: !!python/object/apply:os.system ['touch {marker}']\n"

    error = only_error(write(tmp_path, text))

    assert not marker.exists()
    assert error.line == 1
    assert "constructor" in error.message


def test_yaml_syntax_error_is_located(tmp_path):
    error = only_error(write(tmp_path, "kind: tier\nreveals: [1, 2\nid: x\n"))

    assert error.line == 3
    assert error.message.startswith("While parsing a flow sequence")


def test_forbidden_control_character_is_located(tmp_path):
    error = only_error(write(tmp_path, 'kind: tier\nname: "a\x07"\n'))

    assert (error.line, error.column) == (2, 9)
    assert "U+0007" in error.message


def test_unreadable_path_is_an_error(tmp_path):
    error = only_error(tmp_path)

    assert error.path == tmp_path
    assert error.message.startswith("Cannot read the file")


def test_non_string_key_is_located(tmp_path):
    errors = load_errors(write(tmp_path, TIER + "7: seven\n"))

    assert [error.line for error in errors if error.field == "7"] == [10]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(
        alphabet=st.sampled_from(list("kindtier:- []{}&*!#'\"\n\t\\x01é|>%@`,?")),
        max_size=80,
    )
)
def test_arbitrary_text_raises_only_spec_error(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")

    try:
        load_spec_file(path)
    except SpecError as error:
        assert error.path == path
        assert str(error)
