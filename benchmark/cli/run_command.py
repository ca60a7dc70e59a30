"""``clinmem run``: one model, one suite, one cohort, one result file."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from platformdirs import user_cache_dir

DEFAULT_CACHE_DIR = Path(user_cache_dir("clinmem"))


@contextmanager
def _termination_as_interrupt() -> Iterator[None]:
    """Raise KeyboardInterrupt on SIGTERM while the run lasts, so that a job scheduler's
    stop or a plain ``kill`` ends the run like Ctrl-C: with a message and no partial file."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python accepts signal handlers in the main thread only.
        return

    def interrupt(signal_number, frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    help="Folder of the model-answer cache; reruns and resumed runs reuse it. A damaged cache "
    "file is moved aside with a warning and an empty one is started.",
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
    "--reference-model",
    "reference_model",
    default=None,
    metavar="MODEL",
    help="Model id of a reference model for the membership probe's 'reference' attack "
    "(target log-probability minus the reference's); e.g. a model trained on other patients.",
)
@click.option(
    "--executor",
    "executor",
    default="local",
    show_default=True,
    type=click.Choice(["local", "ray"]),
    help="Where model batches run: 'local' in this process, or 'ray' on Ray actors holding "
    "one model replica each (needs: pip install 'clinmem[ray]'). Results are the same.",
)
@click.option(
    "--ray-address",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Address of a running Ray cluster: 'auto' on one of its nodes, or HOST:PORT of its "
    "head. Without it, --executor ray starts a Ray runtime on this machine (127.0.0.1 only) "
    "and stops it at the end.",
)
@click.option(
    "--workers",
    "workers",
    default=None,
    type=click.IntRange(1),
    metavar="N",
    help="Ray actors, each holding one model replica on one GPU (when the cluster has GPUs "
    "or --device is cuda) or one CPU. [default: one per GPU of the cluster, else one per CPU]",
)
@click.option(
    "--min-code-coverage",
    "min_code_coverage",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Minimum share (0-1) of the evaluated patients' tokens that the model's vocabulary "
    "must contain; below it the run stops before any probe, because scores of unknown codes "
    "would measure the vocabulary mismatch.",
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
    reference_model,
    executor,
    ray_address,
    workers,
    min_code_coverage,
    progress,
) -> None:
    """Run a suite on a model and write one schema-valid result JSON.

    The result holds aggregate metrics with 95% bootstrap intervals and full
    provenance, and no patient-level data. An interrupted run resumes from the
    cache when started again with the same arguments.
    """
    from benchmark.runner.ray_executor import ExecutorSetupError, check_executor_options
    from benchmark.runner.run import RunOptions, run_suite

    # Option errors show before the cohort and the model load.
    try:
        check_executor_options(executor, ray_address, workers)
    except ExecutorSetupError as error:
        raise click.ClickException(str(error)) from None

    options = RunOptions(
        cache_dir=None if no_cache else cache_dir,
        batch_size=batch_size,
        device=device,
        trust_remote_code=trust_remote_code,
        progress=progress,
        extra_spec_dirs=list(spec_dirs),
        executor=executor,
        ray_address=ray_address,
        workers=workers,
        reference_model=reference_model,
        min_code_coverage=min_code_coverage,
    )
    try:
        with _termination_as_interrupt():
            result = run_suite(model_id, suite, cohort, output, options)
    except ExecutorSetupError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        if no_cache:
            message = "interrupted; no result was written and, with --no-cache, nothing was kept."
        else:
            message = (
                f"interrupted; no result was written. Finished model answers are in the cache "
                f"{cache_dir}: run the same command again to resume."
            )
        raise click.ClickException(message) from None
    summary = result.summary
    click.echo(f"wrote {output}")
    for name, interval in summary:
        click.echo(f"  {name}: {interval.formatted()}")
    click.echo(f"  flags: {', '.join(result.flags) if result.flags else 'none'}")
