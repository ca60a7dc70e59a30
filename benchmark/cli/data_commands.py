"""``clinmem data``: convert OMOP CDM tables to MEDS and inspect cohorts.

The heavy modules (pyarrow, the readers) are imported inside the commands,
so that ``clinmem --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

SPLIT_SEED_HELP = (
    "Seed of the hash split, which assigns each subject_id to train (members), tuning or "
    "held_out (non-members). An integer."
)


@click.group(name="data")
def data_group() -> None:
    """Convert OMOP CDM tables to MEDS and inspect cohorts."""


@data_group.command("convert-omop")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--dataset-name",
    help="dataset_name written to metadata/dataset.json. Default: the name of DEST.",
)
@click.option(
    "--dataset-version",
    default="unknown",
    show_default=True,
    help="dataset_version written to metadata/dataset.json, e.g. the source release.",
)
@click.option(
    "--source",
    "source_description",
    help="Description of the source data recorded in metadata/dataset.json. Default: SRC as given.",
)
@click.option("--split-seed", type=int, default=0, show_default=True, help=SPLIT_SEED_HELP)
@click.option(
    "--train-fraction",
    type=float,
    default=0.6,
    show_default=True,
    help="Expected share of subjects in the train split (members), between 0 and 1.",
)
@click.option(
    "--tuning-fraction",
    type=float,
    default=0.1,
    show_default=True,
    help="Expected share of subjects in the tuning split, between 0 and 1. The rest is held_out.",
)
@click.option(
    "--keep-numeric-values",
    is_flag=True,
    help="Keep value_as_number of MEASUREMENT and OBSERVATION as numeric_value, in the units "
    "of the source. Off by default: numeric_value is null.",
)
def convert_omop_command(
    src: Path,
    dest: Path,
    dataset_name: str | None,
    dataset_version: str,
    source_description: str | None,
    split_seed: int,
    train_fraction: float,
    tuning_fraction: float,
    keep_numeric_values: bool,
) -> None:
    """Convert the OMOP CDM CSV tables in SRC into a MEDS dataset folder DEST.

    SRC contains PERSON.csv and any of VISIT_OCCURRENCE, CONDITION_OCCURRENCE,
    PROCEDURE_OCCURRENCE, DRUG_EXPOSURE, DEVICE_EXPOSURE, MEASUREMENT,
    OBSERVATION, DEATH and CONCEPT (file names in any case). DEST must not
    exist or must be empty. It is written all or nothing.
    """
    from pydantic import ValidationError
    from tabulate import tabulate

    from benchmark.data.errors import CohortError
    from benchmark.data.omop import convert_omop
    from benchmark.data.split import SplitFractions

    try:
        fractions = SplitFractions(train=train_fraction, tuning=tuning_fraction)
    except ValidationError as error:
        problems = "; ".join(problem["msg"] for problem in error.errors())
        raise click.UsageError(f"invalid --train-fraction/--tuning-fraction: {problems}") from error

    try:
        report = convert_omop(
            src,
            dest,
            dataset_name=dataset_name,
            dataset_version=dataset_version,
            split_seed=split_seed,
            fractions=fractions,
            keep_numeric_values=keep_numeric_values,
            source=source_description,
            progress=True,
        )
    except (CohortError, FileExistsError) as error:
        raise click.ClickException(str(error)) from error

    rows = []
    for stats in report.omop.tables:
        if stats.file is None:
            continue
        rows.append(
            [
                stats.table.upper(),
                stats.rows_read,
                sum(stats.skipped.values()),
                stats.events,
                stats.duplicates_dropped,
                stats.events_kept,
            ]
        )
    rows.append(
        [
            "total",
            sum(row[1] for row in rows),
            report.omop.rows_skipped,
            sum(row[3] for row in rows),
            report.omop.duplicates_dropped,
            report.omop.events.num_rows,
        ]
    )
    headers = ["table", "rows", "skipped", "events", "duplicates", "kept"]
    click.echo(tabulate(rows, headers=headers, intfmt=","))
    click.echo()
    for stats in report.omop.tables:
        for reason, count in stats.skipped.items():
            click.echo(f"skipped in {stats.table.upper()}: {count:,} rows ({reason})")
    splits = ", ".join(f"{split} {count:,}" for split, count in report.split_counts.items())
    click.echo(f"persons: {report.omop.persons:,}; subjects per split: {splits}")
    click.echo(f"wrote {report.dest}")


@data_group.command("info")
@click.argument("cohort", required=False)
@click.option("--split-seed", type=int, default=0, show_default=True, help=SPLIT_SEED_HELP)
def info_command(cohort: str | None, split_seed: int) -> None:
    """Print patients per split, events, distinct codes and the fingerprint of COHORT.

    COHORT is a bundled id (default: synthea-1k), a MEDS folder or a .jsonl
    file.
    """
    from tabulate import tabulate

    from benchmark.data.cohort import code_vocabulary
    from benchmark.data.errors import CohortError
    from benchmark.data.loading import load_cohort

    try:
        loaded = load_cohort(cohort, split_seed=split_seed)
    except CohortError as error:
        raise click.ClickException(str(error)) from error

    split_counts = loaded.split_counts()
    split_info = loaded.metadata.get("split", {})
    split_source = split_info.get("source", "unknown")
    if split_source == "hash":
        split_source = f"hash rule, seed {split_info.get('seed')}"
    rows = [
        ["name", loaded.name],
        ["source", loaded.source],
        ["patients", f"{len(loaded):,}"],
        *[[f"patients in {split}", f"{count:,}"] for split, count in split_counts.items()],
        ["events", f"{sum(len(patient.codes) for patient in loaded):,}"],
        ["distinct codes", f"{len(code_vocabulary(loaded.patients)):,}"],
        ["split from", split_source],
        ["fingerprint", loaded.fingerprint],
    ]
    click.echo(tabulate(rows, tablefmt="plain"))


@data_group.command("export-training-set")
@click.option(
    "--suite",
    default="standard",
    show_default=True,
    help="Suite id or suite YAML path whose training set (and canaries) to write.",
)
@click.option(
    "--cohort",
    default=None,
    help="Cohort: a bundled id, a MEDS folder or a JSONL file. [default: synthea-1k]",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New or empty folder the MEDS training set is written to.",
)
def export_training_set_command(suite: str, cohort: str | None, out_dir: Path) -> None:
    """Write the exact training set of a suite as MEDS: the members, each canary
    repeated as the suite says, and the 'tuning' split for early stopping.

    Train on split 'train' only, so scores stay comparable with the
    leaderboard's. Non-members are never written.
    """
    from benchmark.data.loading import load_cohort
    from benchmark.data.training_set import export_training_set
    from benchmark.specs.registry import SpecRegistry

    resolved = SpecRegistry.load().resolve_suite(suite)
    try:
        n_train, n_tuning = export_training_set(load_cohort(cohort), resolved, out_dir)
    except FileExistsError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"wrote {out_dir}: {n_train} training patients (members and canary copies) and "
        f"{n_tuning} tuning patients"
    )
