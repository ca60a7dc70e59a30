"""``clinmem train-reference``: train the reference GPT on a cohort's members."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from benchmark.models.training import DEFAULT_EPOCHS


@click.command("train-reference")
@click.option(
    "--cohort",
    "cohort_id",
    default="synthea-1k",
    show_default=True,
    help="Cohort to train on: a bundled cohort id, a MEDS folder or a JSONL file. "
    "The model trains on its 'train' split (the members) only.",
)
@click.option(
    "--suite",
    "suite",
    default="standard",
    show_default=True,
    help="Suite whose training set to train on: the members plus the suite's canary patients "
    "(see 'clinmem data export-training-set'). 'none' trains on the members alone.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write the model to. It must be missing or empty unless --overwrite is given.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Maximum number of passes over the members; early stopping may end training sooner.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the weight initialization, dropout and shuffling.",
)
@click.option(
    "--max-sequence-length",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Tokens of each patient's sequence the model trains on, demographics included. "
    "The model's context is this plus 2 (BOS and EOS).",
)
@click.option(
    "--early-stopping/--no-early-stopping",
    default=True,
    show_default=True,
    help="Stop once the loss on the 'tuning' split has not improved for 2 epochs and keep "
    "the weights of the best epoch. --no-early-stopping trains all --epochs and keeps the last.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the contents of a non-empty --out folder.",
)
def train_reference_command(
    cohort_id: str,
    suite: str,
    out_dir: Path,
    epochs: int,
    seed: int,
    max_sequence_length: int,
    early_stopping: bool,
    overwrite: bool,
) -> None:
    """Train a small GPT-2 on the members of a cohort, for use as hf:OUT."""
    from benchmark.data.loading import load_cohort
    from benchmark.models.tokenizer import InvalidCodeError
    from benchmark.models.training import TrainingSetupError, train_reference_gpt

    try:
        cohort = load_cohort(cohort_id)
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot load cohort {cohort_id!r}: {error}") from error
    if suite != "none":
        from benchmark.data.training_set import suite_training_cohort
        from benchmark.specs.registry import SpecRegistry

        cohort, _ = suite_training_cohort(cohort, SpecRegistry.load().resolve_suite(suite))

    try:
        report = train_reference_gpt(
            cohort,
            out_dir,
            epochs=epochs,
            seed=seed,
            max_sequence_length=max_sequence_length,
            early_stopping=early_stopping,
            overwrite=overwrite,
        )
    except (TrainingSetupError, InvalidCodeError) as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot write the model to {out_dir}: {error}") from error

    non_member_loss = "n/a" if report.non_member_loss is None else f"{report.non_member_loss:.3f}"
    click.echo(
        f"Saved the reference GPT to {out_dir} after {report.epochs_run} epochs "
        f"(weights of epoch {report.best_epoch}; member loss {report.member_loss:.3f}, "
        f"non-member loss {non_member_loss} nats per token)."
    )
    click.echo("Evaluate it on the same cohort with:")
    click.echo(
        f"  clinmem run --model {shlex.quote(f'hf:{out_dir}')} "
        f"--cohort {shlex.quote(cohort_id)} --output result.json"
    )
