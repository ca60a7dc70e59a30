"""The ``clinmem`` command line."""

from __future__ import annotations

import logging

import click

import benchmark
from benchmark.cli.data_commands import data_group
from benchmark.cli.demo_command import demo_command
from benchmark.cli.ladder_command import ladder_command
from benchmark.cli.leaderboard_commands import leaderboard_group
from benchmark.cli.logging_setup import configure_logging
from benchmark.cli.results_commands import results_group
from benchmark.cli.run_command import run_command
from benchmark.cli.specs_commands import specs_group
from benchmark.cli.submission_commands import cite_command, submit_command
from benchmark.cli.train_commands import train_reference_command

logger = logging.getLogger(__name__)


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input, shown as a message without a traceback."""
    from benchmark.data.errors import CohortError
    from benchmark.models.hf import ContextLengthError
    from benchmark.models.registry import ModelLoadError, UnknownModelError
    from benchmark.models.tokenizer import InvalidCodeError
    from benchmark.models.training import TrainingSetupError
    from benchmark.probes.registry import UnknownProbeError
    from benchmark.results.writer import InvalidResultError, ResultPathError
    from benchmark.runner.cache import CacheError
    from benchmark.runner.evaluation import EvaluationSetError
    from benchmark.runner.ladder import LadderError
    from benchmark.runner.model_checks import LowCoverageError
    from benchmark.specs.errors import SpecError

    return (
        CohortError,
        UnknownModelError,
        ModelLoadError,
        ContextLengthError,
        InvalidCodeError,
        TrainingSetupError,
        LadderError,
        UnknownProbeError,
        InvalidResultError,
        ResultPathError,
        CacheError,
        EvaluationSetError,
        LowCoverageError,
        SpecError,
        FileNotFoundError,
    )


class ClinmemGroup(click.Group):
    """Turns domain errors into one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _user_errors() as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=ClinmemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(benchmark.__version__, prog_name="clinmem")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Least severe log messages shown on standard error.",
)
def main(log_level: str) -> None:
    """clinmem: measure how much generative EHR models memorize their patients.

    \b
    Five-minute tour:
      clinmem specs list                      the attributes, tiers, subgroups, suites
      clinmem train-reference --out model/    train the small reference GPT
      clinmem run --model hf:model/ --suite smoke --output result.json
      clinmem leaderboard build leaderboard/results --out site/
      clinmem demo                            all of the above on the bundled cohort
    """
    configure_logging(log_level)


main.add_command(run_command)
main.add_command(demo_command)
main.add_command(data_group)
main.add_command(specs_group)
main.add_command(train_reference_command)
main.add_command(leaderboard_group)
main.add_command(results_group)
main.add_command(submit_command)
main.add_command(cite_command)
main.add_command(ladder_command)


if __name__ == "__main__":
    main()
