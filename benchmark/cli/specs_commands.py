"""``clinmem specs``: validate, list and export the schema of YAML specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from benchmark.specs.errors import SpecError
from benchmark.specs.models import SPEC_MODELS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_PATH = click.Path(exists=True, path_type=Path)


@click.group("specs")
def specs_group() -> None:
    """Validate, list and describe the YAML specs (attributes, tiers, subgroups, suites)."""


@specs_group.command("validate")
@click.argument("paths", nargs=-1, type=_PATH)
def validate_command(paths: tuple[Path, ...]) -> None:
    """Validate spec files and folders (default: the bundled specs/ folder).

    Each file is checked against its kind's model, with the limits of the
    spec loader. Suites are checked against the bundled specs plus PATHS:
    every attribute, tier, subgroup and probe they name must exist, and
    probe parameters must be valid. Errors are printed as
    FILE:LINE:COLUMN: FIELD: MESSAGE. The exit code is 1 on any error.
    """
    from benchmark.specs.registry import validate_spec_paths
    from benchmark.specs.resources import default_specs_dir

    try:
        targets = list(paths) or [default_specs_dir()]
        report = validate_spec_paths(targets)
    except SpecError as error:
        raise click.ClickException(str(error)) from None

    for error in report.errors:
        click.echo(str(error))
    valid = _count(report.valid_specs, "spec")
    if report.errors:
        click.echo(f"{_count(len(report.errors), 'error')}; {valid} valid", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{valid} valid")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@specs_group.command("list")
@click.option(
    "--kind",
    type=click.Choice(list(SPEC_MODELS)),
    default=None,
    help="List only specs of this kind (default: every kind).",
)
@click.option(
    "--specs",
    "extra_paths",
    multiple=True,
    type=_PATH,
    help="A spec file or folder to list in addition to the bundled specs; repeatable.",
)
def list_command(kind: str | None, extra_paths: tuple[Path, ...]) -> None:
    """List the specs as a table: id, name and the main field of each kind."""
    from tabulate import tabulate

    from benchmark.specs.registry import SpecRegistry
    from benchmark.specs.resources import default_specs_dir

    try:
        registry = SpecRegistry.load([default_specs_dir(), *extra_paths])
    except SpecError as error:
        raise click.ClickException(f"the specs are invalid:\n{error}") from None

    kinds = [kind] if kind else list(SPEC_MODELS)
    tables = []
    for spec_kind in kinds:
        headers, rows = _table(spec_kind, registry.specs(spec_kind))
        tables.append(f"{spec_kind}s\n" + tabulate(rows, headers=headers))
    click.echo("\n\n".join(tables))


def _table(kind: str, specs: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Return the headers and rows of the table of one spec kind."""
    ordered = [specs[spec_id] for spec_id in sorted(specs)]
    if kind == "attribute":
        headers = ["id", "name", "category", "harm weight"]
        rows = [[s.id, s.name, s.category, s.harm_weight] for s in ordered]
    elif kind == "tier":
        headers = ["id", "name", "severity"]
        rows = [[s.id, s.name, s.severity] for s in ordered]
    elif kind == "subgroup":
        headers = ["id", "name", "rule"]
        rows = [[s.id, s.name, s.rule.kind] for s in ordered]
    else:
        headers = ["id", "name", "version"]
        rows = [[s.id, s.name, s.version] for s in ordered]
    return headers, rows


@specs_group.command("schema")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write one JSON Schema file per spec kind into, as <kind>.schema.json "
    "(created if missing). Without it, one combined schema is printed to stdout.",
)
def schema_command(out_dir: Path | None) -> None:
    """Write the JSON Schema (draft 2020-12) of each spec kind, made from the spec models."""
    if out_dir is None:
        click.echo(json.dumps(combined_schema(), indent=2, sort_keys=True))
        return

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"cannot create {out_dir}: {error.strerror or error}") from None
    for kind, schema in kind_schemas().items():
        target = out_dir / f"{kind}.schema.json"
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        click.echo(str(target))


def kind_schemas() -> dict[str, dict[str, Any]]:
    """Return one standalone JSON Schema per spec kind."""
    schemas = {}
    for kind, model in SPEC_MODELS.items():
        schema = model.model_json_schema()
        schemas[kind] = {"$schema": JSON_SCHEMA_DIALECT, **schema}
    return schemas


def combined_schema() -> dict[str, Any]:
    """Return one JSON Schema that accepts a spec of any kind."""
    from pydantic.json_schema import models_json_schema

    keyed, definitions = models_json_schema(
        [(model, "validation") for model in SPEC_MODELS.values()],
        ref_template="#/$defs/{model}",
    )
    references = [keyed[(model, "validation")] for model in SPEC_MODELS.values()]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "clinmem spec",
        "description": "One clinmem spec; its 'kind' key selects attribute, tier, subgroup "
        "or suite.",
        "oneOf": references,
        **definitions,
    }
