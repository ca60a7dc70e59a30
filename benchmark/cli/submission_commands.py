"""``clinmem submit`` and ``clinmem cite``: add a result to a leaderboard, cite a suite."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.cli.leaderboard_commands import DEFAULT_RESULTS_DIR, specs_option


@click.command("submit")
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Model name shown on the leaderboard.")
@click.option("--url", required=True, help="http:// or https:// page of the model, paper or code.")
@click.option("--description", default=None, help="One or two sentences about the model.")
@click.option(
    "--model-card",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="UTF-8 text or Markdown file with the model card, shown as plain text.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RESULTS_DIR,
    show_default=True,
    help="Leaderboard folder the submission is written to.",
)
@click.option("--overwrite", is_flag=True, help="Replace a submission of the same file name.")
@specs_option
def submit_command(
    result_file: Path,
    name: str,
    url: str,
    description: str | None,
    model_card: Path | None,
    results_dir: Path,
    overwrite: bool,
    spec_dirs: tuple[Path, ...],
) -> None:
    """Add RESULT_FILE to a leaderboard folder with the submitter's details.

    The result gets a 'submission' object (name, URL, description, model
    card), is checked with every rule of 'clinmem leaderboard validate',
    and is written atomically as RESULTS_DIR/<name>-<suite>-v<version>.json.
    """
    from benchmark.leaderboard.submission import (
        Submission,
        SubmissionError,
        prepare_submission,
        submission_file_name,
        write_submission,
    )
    from benchmark.leaderboard.validation import SuiteCatalog
    from benchmark.specs.errors import SpecError

    card_text = _read_model_card(model_card) if model_card is not None else None
    submission = Submission(name=name, url=url, description=description, model_card=card_text)
    try:
        catalog = SuiteCatalog.load(list(spec_dirs))
        document, result = prepare_submission(result_file, submission, catalog)
        target = results_dir / submission_file_name(result, submission)
        write_submission(document, result, target, overwrite=overwrite)
    except (SubmissionError, SpecError) as error:
        raise click.ClickException(str(error)) from None

    click.echo(f"wrote {target}")
    click.echo("Next: commit it to the leaderboard repository and open a pull request.")


@click.command("cite")
@click.argument("suite")
@specs_option
def cite_command(suite: str, spec_dirs: tuple[Path, ...]) -> None:
    """Print the BibTeX entry for SUITE (an id or a suite YAML file) with its digest."""
    from benchmark.leaderboard.citation import suite_bibtex
    from benchmark.specs.errors import SpecError
    from benchmark.specs.registry import SpecRegistry
    from benchmark.specs.resources import default_specs_dir

    try:
        registry = SpecRegistry.load([default_specs_dir(), *spec_dirs])
        resolved = registry.resolve_suite(suite)
    except SpecError as error:
        raise click.ClickException(str(error)) from None
    spec = resolved.spec
    click.echo(suite_bibtex(spec.id, spec.version, resolved.digest, title=spec.name))


def _read_model_card(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(
            f"the model card {path} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
