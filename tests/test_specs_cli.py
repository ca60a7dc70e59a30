"""``clinmem specs``: validate, list and schema, run through click's test runner."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

import benchmark
from benchmark.cli.specs_commands import specs_group
from benchmark.specs.resources import default_specs_dir

LOCATED_LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<field>[\w.\[\]-]+): .+"
)

ATTRIBUTE = """\
kind: attribute
id: {id}
name: Test attribute
description: An attribute for the test.
category: test
harm_weight: {weight}
harm_rationale: For the test.
codes:
  SNOMED: ["123"]
"""


def run(*args: str):
    return CliRunner().invoke(specs_group, list(args), catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_validate_defaults_succeeds():
    count = len(list(default_specs_dir().rglob("*.yaml")))

    result = run("validate")

    assert result.exit_code == 0, result.output
    assert result.output == f"{count} specs valid\n"


def test_validate_valid_file_counts_one(tmp_path):
    path = write(tmp_path / "extra.yaml", ATTRIBUTE.format(id="extra", weight=4))

    result = run("validate", str(path))

    assert result.exit_code == 0, result.output
    assert result.output == "1 spec valid\n"


def test_validate_lists_every_error_located(tmp_path):
    write(tmp_path / "a.yaml", ATTRIBUTE.format(id="first", weight=11))
    write(tmp_path / "b.yaml", ATTRIBUTE.format(id="second", weight=0))
    write(tmp_path / "c.yaml", ATTRIBUTE.format(id="third", weight=5))

    result = run("validate", str(tmp_path))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    matches = [LOCATED_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [Path(m["path"]).name for m in matches] == ["a.yaml", "b.yaml"]
    assert [m["line"] for m in matches] == ["6", "6"]
    assert [m["column"] for m in matches] == ["14", "14"]
    assert [m["field"] for m in matches] == ["harm_weight", "harm_weight"]
    assert "2 errors; 1 spec valid" in result.stderr


def test_validate_reports_unknown_reference(tmp_path):
    suite = (default_specs_dir() / "suites" / "smoke.yaml").read_text(encoding="utf-8")
    suite = suite.replace("id: smoke", "id: mine").replace("  - depression\n", "  - depresion\n")
    write(tmp_path / "mine.yaml", suite)

    result = run("validate", str(tmp_path))

    assert result.exit_code == 1
    assert "attributes[6]: Unknown attribute 'depresion'. Did you mean 'depression'?" in (
        result.stdout
    )


def test_validate_suite_may_use_given_specs(tmp_path):
    write(tmp_path / "attributes" / "extra.yaml", ATTRIBUTE.format(id="extra", weight=4))
    suite = (default_specs_dir() / "suites" / "smoke.yaml").read_text(encoding="utf-8")
    suite = suite.replace("id: smoke", "id: mine").replace("  - hiv\n", "  - extra\n")
    write(tmp_path / "suites" / "mine.yaml", suite)

    result = run("validate", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert result.output == "2 specs valid\n"


def test_validate_folder_without_specs_fails(tmp_path):
    result = run("validate", str(tmp_path))

    assert result.exit_code == 1
    assert "contains no spec files" in result.stdout


def test_validate_missing_path_is_usage_error(tmp_path):
    result = run("validate", str(tmp_path / "absent"))

    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_validate_without_default_folder_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "__file__", str(tmp_path / "site" / "benchmark" / "x.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))

    result = run("validate")

    assert result.exit_code == 1
    assert "default spec folder was not found" in result.output


def test_list_shows_every_kind():
    result = run("list")

    assert result.exit_code == 0, result.output
    for heading in ("attributes", "tiers", "subgroups", "suites"):
        assert re.search(rf"^{heading}$", result.output, re.MULTILINE)
    assert "standard" in result.output


def test_list_attributes_shows_harm_weight():
    result = run("list", "--kind", "attribute")

    assert result.exit_code == 0, result.output
    assert "harm weight" in result.output
    assert re.search(r"^hiv\s+HIV infection\s+infectious_disease\s+9", result.output, re.MULTILINE)
    assert "severity" not in result.output


@pytest.mark.parametrize(
    ("kind", "header", "row"),
    [
        ("tier", "severity", r"^half_history\s+.+\s+high$"),
        ("subgroup", "rule", r"^age_80_plus\s+.+\s+age$"),
        ("suite", "version", r"^standard\s+.+\s+3$"),
    ],
)
def test_list_kind_columns(kind, header, row):
    result = run("list", "--kind", kind)

    assert result.exit_code == 0, result.output
    assert header in result.output.splitlines()[1]
    assert re.search(row, result.output, re.MULTILINE)


def test_list_includes_extra_specs(tmp_path):
    write(tmp_path / "extra.yaml", ATTRIBUTE.format(id="extra_attribute", weight=4))

    result = run("list", "--kind", "attribute", "--specs", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert "extra_attribute" in result.output


def test_list_with_invalid_extra_spec_fails(tmp_path):
    write(tmp_path / "bad.yaml", ATTRIBUTE.format(id="bad", weight=20))

    result = run("list", "--specs", str(tmp_path))

    assert result.exit_code == 1
    assert "bad.yaml:6:14: harm_weight:" in result.output


def test_list_rejects_unknown_kind():
    result = run("list", "--kind", "tiers")

    assert result.exit_code == 2
    assert "'attribute', 'tier', 'subgroup', 'suite'" in result.output


def default_spec_documents() -> list[dict]:
    return [
        yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(default_specs_dir().rglob("*.yaml"))
    ]


def test_schema_stdout_is_valid_json_schema():
    result = run("schema")

    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for document in default_spec_documents():
        errors = list(validator.iter_errors(document))
        assert errors == [], (document["id"], errors[0].message if errors else None)


def test_schema_rejects_invalid_spec():
    schema = json.loads(run("schema").output)
    tier = yaml.safe_load((default_specs_dir() / "tiers" / "none.yaml").read_text(encoding="utf-8"))
    tier["severity"] = "extreme"

    assert not Draft202012Validator(schema).is_valid(tier)


def test_schema_out_writes_one_file_per_kind(tmp_path):
    out = tmp_path / "schemas"

    result = run("schema", "--out", str(out))

    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "attribute.schema.json",
        "subgroup.schema.json",
        "suite.schema.json",
        "tier.schema.json",
    ]
    documents = default_spec_documents()
    for path in out.iterdir():
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        kind = path.name.split(".")[0]
        validator = Draft202012Validator(schema)
        for document in documents:
            assert validator.is_valid(document) is (document["kind"] == kind), (path, document)


def test_schema_out_under_a_file_fails(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")

    result = run("schema", "--out", str(blocker / "schemas"))

    assert result.exit_code == 1
    assert "cannot create" in result.output


@pytest.mark.parametrize(
    ("command", "option", "phrase"),
    [
        ("list", "--kind", "List only specs of this kind"),
        ("list", "--specs", "in addition to the bundled specs"),
        ("schema", "--out", "Folder to write one JSON Schema file per spec kind"),
    ],
)
def test_option_help_says_what_it_sets(command, option, phrase):
    result = run(command, "--help")

    assert result.exit_code == 0
    assert option in result.output
    assert phrase in " ".join(result.output.split())
