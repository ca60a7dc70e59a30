"""``clinmem ladder``: the known-answer ladder and its validity report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from benchmark.runner.validity import LADDER_ORDER


def _split_rungs(ctx: click.Context, parameter: click.Parameter, value: str | None):
    if value is None:
        return list(LADDER_ORDER)
    return [rung.strip() for rung in value.split(",") if rung.strip()]


@click.command("ladder")
@click.option("--suite", default="standard", show_default=True, help="Suite to run on each rung.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the models, results, answer cache, validity.md and validity.svg. "
    "A model already in a rung's folder is reused when its training record matches the "
    "rung's recipe, and trained anew otherwise.",
)
@click.option(
    "--rungs",
    callback=_split_rungs,
    default=None,
    help=f"Comma-separated rungs to run [default: all: {','.join(LADDER_ORDER)}].",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Maximum epochs of the early-stopped GPTs. The overtrained GPT trains 6 times as "
    "many, without dropout [default: the trainer's, 12].",
)
@click.option(
    "--cohort",
    default=None,
    help="Cohort: a bundled id, a MEDS folder or a JSONL file [default: the bundled cohort].",
)
@click.option(
    "--specs",
    "spec_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder of spec YAML files (repeatable), read after the defaults.",
)
@click.option(
    "--split-guard-suite",
    default="smoke",
    show_default=True,
    help="Suite of the split guard check.",
)
@click.option(
    "--split-guard/--no-split-guard",
    default=True,
    show_default=True,
    help="Also check that the split guard flags a birth-year split (runs 'population' on "
    "--split-guard-suite twice).",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress bars on standard error.",
)
def ladder_command(
    suite, out_dir, rungs, epochs, cohort, spec_dirs, split_guard_suite, split_guard, progress
) -> None:
    """Train the known-answer ladder of models, run a suite on each rung, and check that
    the scores follow the known order of memorization.

    Writes DIR/results/<rung>.json, DIR/validity.md and DIR/validity.svg, and
    exits with status 1 when a check fails.
    """
    from benchmark.models.training import TrainingSetupError
    from benchmark.runner.ladder import LadderError, LadderOptions, run_ladder

    options = LadderOptions(
        out_dir=out_dir,
        suite=suite,
        rungs=rungs,
        epochs=epochs,
        cohort=cohort,
        split_guard=split_guard,
        split_guard_suite=split_guard_suite,
        extra_spec_dirs=list(spec_dirs),
        progress=progress,
        command_line=shlex.join(["clinmem", *sys.argv[1:]]),
    )
    try:
        report = run_ladder(options)
    except (LadderError, TrainingSetupError) as error:
        raise click.ClickException(str(error)) from None

    for check in report.checks:
        click.echo(f"{check.status}: {check.name}")
    click.echo(f"report: {out_dir / 'validity.md'}")
    click.echo(f"chart: {out_dir / 'validity.svg'}")
    click.echo(f"total time: {report.wall_time_s / 60:.1f} min")
    if not report.passed:
        failed = sum(check.failed for check in report.checks)
        if failed:
            raise click.ClickException(
                f"{failed} validity check(s) failed; see {out_dir / 'validity.md'}"
            )
        raise click.ClickException(
            "no validity check ran, because the rungs they need were not run or were skipped; "
            f"see {out_dir / 'validity.md'}"
        )
