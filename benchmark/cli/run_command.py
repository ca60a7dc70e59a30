"""``clinmem run``: one model, one suite, one cohort, one result file."""

from __future__ import annotations

from pathlib import Path

import click
from platformdirs import user_cache_dir

DEFAULT_CACHE_DIR = Path(user_cache_dir("clinmem"))


@click.command("run")
@click.option(
    "--model",
    "model_id",
    required=True,
    help="Model id: 'population', 'lookup', "
    "'hf:PATH' (a Hugging Face causal LM folder) or a plugin's id.",
)
@click.option(
    "--suite",
    "suite",
    default="standard",
    show_default=True,
    help="Suite id from the spec folders, or a path to a suite YAML file.",
)
@click.option(
    "--cohort",
    "cohort",
    default=None,
    help="Cohort: a bundled id ('synthea-1k'), a MEDS folder or a JSONL file. "
    "[default: synthea-1k]",
)
@click.option(
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the result JSON (written atomically).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    help="Folder of the model-answer cache; reruns and resumed runs reuse it.",
)
@click.option("--no-cache", is_flag=True, help="Compute every model answer anew and store none.")
@click.option(
    "--specs",
    "spec_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder of spec YAML files (repeatable), read after the defaults.",
)
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Sequences per model call for scoring (generation batches hold up to 256 sampled rows).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Torch device for Hugging Face models, e.g. 'cpu' or 'cuda:0'.",
)
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a Hugging Face model folder to run its own Python code. Off by default: "
    "only turn it on for models you trust.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress bars on standard error.",
)
def run_command(
    model_id,
    suite,
    cohort,
    output,
    cache_dir,
    no_cache,
    spec_dirs,
    batch_size,
    device,
    trust_remote_code,
    progress,
) -> None:
    """Run a suite on a model and write one schema-valid result JSON.

    The result holds aggregate metrics with 95% bootstrap intervals and full
    provenance, and no patient-level data. An interrupted run resumes from the
    cache when started again with the same arguments.
    """
    from benchmark.runner.run import RunOptions, run_suite

    options = RunOptions(
        cache_dir=None if no_cache else cache_dir,
        batch_size=batch_size,
        device=device,
        trust_remote_code=trust_remote_code,
        progress=progress,
        extra_spec_dirs=list(spec_dirs),
    )
    try:
        result = run_suite(model_id, suite, cohort, output, options)
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted; finished model answers are in the cache. Run the same command "
            "again to resume."
        ) from None
    summary = result.summary
    click.echo(f"wrote {output}")
    for name, interval in summary:
        click.echo(f"  {name}: {_format(interval)}")


def _format(interval) -> str:
    from benchmark.leaderboard.build import format_interval

    return format_interval(interval)
