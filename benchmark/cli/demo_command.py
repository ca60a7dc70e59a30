"""``clinmem demo``: the whole path on the bundled cohort, end to end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

logger = logging.getLogger(__name__)

REFERENCE_MODEL_DIR = "reference-gpt"


@click.command("demo")
@click.option("--suite", default="standard", show_default=True, help="Suite to run.")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the trained reference model and the answer cache; a model "
    "already trained there is reused.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("leaderboard/results"),
    show_default=True,
    help="Folder the three result JSON files are written to.",
)
@click.option(
    "--site-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
    help="Folder of the built leaderboard site.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Most training epochs of the reference GPT [default: the trainer's].",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress bars on standard error.",
)
def demo_command(suite, work_dir, results_dir, site_dir, epochs, progress) -> None:
    """Train the reference GPT, run a suite on it, 'population' and 'lookup',
    and build the leaderboard site from the three results."""
    from benchmark.data.loading import load_cohort
    from benchmark.data.training_set import suite_training_cohort
    from benchmark.leaderboard.build import build_site
    from benchmark.models.training import train_reference_gpt
    from benchmark.runner.run import RunOptions, run_suite
    from benchmark.specs.registry import SpecRegistry

    started = time.perf_counter()
    model_dir = work_dir / REFERENCE_MODEL_DIR

    if (model_dir / "config.json").exists():
        click.echo(f"reusing the reference GPT in {model_dir}")
    else:
        click.echo(f"training the reference GPT into {model_dir}")
        arguments = {} if epochs is None else {"epochs": epochs}
        # The reference GPT trains on the suite's training set: members and canaries.
        training, _ = suite_training_cohort(
            load_cohort(None), SpecRegistry.load().resolve_suite(suite)
        )
        train_reference_gpt(training, model_dir, progress=progress, **arguments)

    options = RunOptions(cache_dir=work_dir / "cache", progress=progress)
    models = {
        "population": "population",
        "lookup": "lookup",
        "reference-gpt": f"hf:{model_dir}",
    }
    for name, model_id in models.items():
        click.echo(f"running suite {suite!r} on {model_id}")
        run_suite(model_id, suite, None, results_dir / f"{name}.json", options)

    report = build_site(results_dir, site_dir)
    elapsed = time.perf_counter() - started
    click.echo(f"leaderboard: {report.index.resolve()} ({report.results} results)")
    click.echo(f"total time: {elapsed / 60:.1f} min")
