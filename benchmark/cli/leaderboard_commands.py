"""``clinmem leaderboard``: validate result files and build the static site."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_RESULTS_DIR = Path("leaderboard/results")

specs_option = click.option(
    "--specs",
    "spec_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder of spec YAML files (repeatable), read after the default specs; "
    "its suites become valid suites for results.",
)


@click.group("leaderboard")
def leaderboard_group() -> None:
    """Validate result files and build the leaderboard site from them."""


@leaderboard_group.command(
    "validate", short_help="Check result files: what a leaderboard's CI runs."
)
@click.argument(
    "results_dir",
    required=False,
    default=DEFAULT_RESULTS_DIR,
    type=click.Path(path_type=Path),
)
@specs_option
def validate_command(results_dir: Path, spec_dirs: tuple[Path, ...]) -> None:
    """Check every result file of RESULTS_DIR [default: leaderboard/results], or
    one result file given instead of the folder.

    \b
    A file is rejected, with its name and the JSON path of the field, when it
      - is not UTF-8 JSON, repeats a key, or contains NaN or Infinity;
      - has a key naming patient-level data (subject_id, patient_id,
        person_id, codes, sequence, events);
      - violates the result JSON Schema;
      - lacks a provenance field or leaves it empty, or a digest is malformed;
      - names a suite, version or digest that no spec folder has;
      - publishes a count of 1-10 patients, or does not suppress such a cell;
      - has a submission URL that is not http(s), or an unknown field;
      - repeats the model, suite and cohort of another file.
    Files named '*.private.*' are never read. Exits with status 1 when any
    file is rejected: the check a leaderboard repository's CI runs.
    """
    from benchmark.leaderboard.validation import FolderReport, validate_file, validate_folder

    if results_dir.is_file():
        # One file: every check but the duplicate check, which compares files of a folder.
        report = FolderReport(
            results_dir.parent, [validate_file(results_dir, _catalog(spec_dirs))], []
        )
    elif results_dir.is_dir():
        report = validate_folder(results_dir, _catalog(spec_dirs))
    else:
        raise click.ClickException(
            f"the results folder {results_dir} was not found; give the folder of result JSON "
            "files or one result file"
        )

    for file in report.rejected:
        for problem in file.problems:
            click.echo(f"{file.path}: {problem}", err=True)
    if report.private_files:
        click.echo(
            f"skipped {len(report.private_files)} private file(s): files named '*.private.*' "
            "are never read",
            err=True,
        )
    if not report.files:
        click.echo(f"no result files (*.json) in {results_dir}")
        return
    if report.rejected:
        click.echo(
            f"{len(report.rejected)} of {len(report.files)} result file(s) rejected", err=True
        )
        raise click.exceptions.Exit(1)
    click.echo(f"{len(report.files)} result file(s) valid")


@leaderboard_group.command("build", short_help="Build the static site from result files.")
@click.argument(
    "results_dir",
    required=False,
    default=DEFAULT_RESULTS_DIR,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=True, path_type=Path),
    help="Folder the site is written to: new, empty, or a site built before.",
)
@specs_option
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 1 when any result file was left out as invalid.",
)
def build_command(
    results_dir: Path, out_dir: Path, spec_dirs: tuple[Path, ...], strict: bool
) -> None:
    """Build the static site from the result files of RESULTS_DIR [default: leaderboard/results].

    Files that 'clinmem leaderboard validate' rejects are left out and
    listed; files named '*.private.*' are never read. The site opens from
    file:// and any static host and fetches nothing at view time.
    """
    from benchmark.leaderboard.build import SiteFolderError, build_site
    from benchmark.specs.errors import SpecError

    try:
        report = build_site(results_dir, out_dir, extra_spec_dirs=list(spec_dirs))
    except (SiteFolderError, SpecError) as error:
        raise click.ClickException(str(error)) from None

    for file in report.rejected:
        click.echo(f"left out {file.path}: {file.problems[0]}", err=True)
    click.echo(f"{report.index} ({report.results} results)")
    if strict and report.rejected:
        raise click.exceptions.Exit(1)


def _catalog(spec_dirs: tuple[Path, ...]):
    from benchmark.leaderboard.validation import SuiteCatalog
    from benchmark.specs.errors import SpecError

    try:
        return SuiteCatalog.load(list(spec_dirs))
    except SpecError as error:
        raise click.ClickException(str(error)) from None
