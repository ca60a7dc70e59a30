"""``clinmem results``: the result format."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("results")
def results_group() -> None:
    """Inspect the result format."""


@results_group.command("schema")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write the JSON Schema to [default: standard output].",
)
def schema_command(out: Path | None) -> None:
    """Print or write the JSON Schema every result file validates against."""
    from benchmark.results.schema import render_schema

    text = render_schema()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


@results_group.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def validate_command(files: tuple[Path, ...]) -> None:
    """Check result files against the JSON Schema; exit 1 on any violation."""
    import json

    from benchmark.results.schema import schema_errors

    failed = 0
    for path in files:
        try:
            errors = schema_errors(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            errors = [f"not valid JSON: {error}"]
        for error in errors:
            click.echo(f"{path}: {error}", err=True)
        failed += bool(errors)
    if failed:
        raise click.exceptions.Exit(1)
    click.echo(f"{len(files)} result file(s) valid")
