"""``clinmem leaderboard``: build the static site from result files."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("leaderboard")
def leaderboard_group() -> None:
    """Build the leaderboard site from a folder of result files."""


@leaderboard_group.command("build")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the site is written to (created if missing).",
)
def build_command(results_dir: Path, out_dir: Path) -> None:
    """Write a static index.html ranking the results of RESULTS_DIR.

    Files that do not validate against the result schema are left out and
    listed; files named '*.private.*' are never read.
    """
    from benchmark.leaderboard.build import build_site

    report = build_site(results_dir, out_dir)
    for path, errors in report.rejected:
        click.echo(f"left out {path}: {errors[0]}", err=True)
    click.echo(f"{report.index} ({report.results} results)")
