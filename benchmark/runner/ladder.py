"""The known-answer ladder: models whose memorization is known by construction.

A benchmark whose scores do not move when memorization truly changes measures
something else. The ladder trains GPTs that memorize more and more on the
suite's training set (members plus canaries), runs the suite on each and on
the two built-in extremes, and checks that the scores follow the known order
(``benchmark.runner.validity``)::

    population < gpt-dp < gpt < gpt-duplicated < gpt-overtrained < lookup

Output folder layout::

    DIR/models/<rung>/         trained GPTs, reused when config.json exists
    DIR/results/<rung>.json    one result per rung
    DIR/split-guard/*.json     population on the hash split and on a birth-year split
    DIR/cache/                 the answer cache of every run
    DIR/validity.md, .svg      the report and the risk index chart
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT, Cohort
from benchmark.results.models import Result
from benchmark.runner.validity import (
    LADDER_ORDER,
    Check,
    check_split_guard,
    ladder_checks,
)

logger = logging.getLogger(__name__)

#: The DP rung's privacy target; delta defaults to 1 / training sequences.
DP_EPSILON = 8.0
#: The duplicated rung shows this share of the real members this many times per epoch.
DUPLICATE_FRACTION = 0.1
DUPLICATE_TIMES = 8
#: The overtrained rung trains this many times the epochs, without early stopping
#: and without dropout, so that it fits its members far past the best tuning loss.
OVERTRAINING_FACTOR = 6
#: Suite of the split guard check; it needs only the population model.
SPLIT_GUARD_SUITE = "smoke"
#: Share of patients, latest-born first, that the shifted split makes non-members.
SHIFTED_NON_MEMBER_SHARE = 0.3

BUILT_IN_RUNGS = ("population", "lookup")


class LadderError(ValueError):
    """Raised for a ladder request that cannot run, such as an unknown rung name."""


@dataclass
class LadderOptions:
    """Settings of a ladder run: the rungs to train and evaluate, and the output folder."""

    out_dir: Path
    suite: str = "standard"
    #: Rung names to run, in any order; they run and report in ladder order.
    rungs: Sequence[str] = LADDER_ORDER
    #: Maximum epochs of the early-stopped GPTs. The overtrained GPT trains 6 times as many.
    epochs: int | None = None
    #: Cohort reference as ``load_cohort`` accepts it; None for the bundled cohort.
    cohort: str | None = None
    #: Keyword arguments passed to every ``train_reference_gpt`` call, e.g. a smaller model.
    training_settings: Mapping[str, Any] = field(default_factory=dict)
    split_guard: bool = True
    split_guard_suite: str = SPLIT_GUARD_SUITE
    extra_spec_dirs: list[Path] = field(default_factory=list)
    progress: bool = True
    #: The command that started the run, quoted in the report.
    command_line: str | None = None


@dataclass
class LadderReport:
    """Everything one ladder run produced."""

    suite_id: str
    suite_version: int
    suite_digest: str
    results: dict[str, Result]
    #: Rung name to the reason it was not run.
    skipped: dict[str, str]
    #: Rung name to its ``clinmem_training.json`` record, for trained rungs.
    training: dict[str, dict[str, Any]]
    checks: list[Check]
    wall_time_s: float

    @property
    def passed(self) -> bool:
        """Whether no check failed and at least one ran: a run that checked nothing fails."""
        ran = any(check.status == "PASS" for check in self.checks)
        return ran and not any(check.failed for check in self.checks)

    @property
    def verdict(self) -> str:
        """One line for the report: passed, failed, or nothing checked."""
        skipped = sum(check.status == "SKIP" for check in self.checks)
        if any(check.failed for check in self.checks):
            return "at least one check FAILED"
        if not self.passed:
            return "no check ran, because the rungs they need were not run"
        if skipped:
            return f"every check that ran passed ({skipped} skipped)"
        return "every check passed"


def check_rung_names(rungs: Sequence[str]) -> list[str]:
    """Return the rungs in ladder order; raise ``LadderError`` for an unknown or repeated name."""
    import difflib

    for rung in rungs:
        if rung not in LADDER_ORDER:
            close = difflib.get_close_matches(rung, LADDER_ORDER, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise LadderError(
                f"unknown ladder rung {rung!r}; the rungs are {', '.join(LADDER_ORDER)}.{hint}"
            )
    repeated = sorted({rung for rung in rungs if list(rungs).count(rung) > 1})
    if repeated:
        raise LadderError(f"rungs listed more than once: {', '.join(repeated)}")
    if not rungs:
        raise LadderError(f"no rung selected; choose from {', '.join(LADDER_ORDER)}")
    return [rung for rung in LADDER_ORDER if rung in rungs]


def rung_training(rung: str, epochs: int) -> dict[str, Any] | None:
    """Return the ``train_reference_gpt`` arguments that make a rung; None for a built-in."""
    if rung in BUILT_IN_RUNGS:
        return None
    arguments: dict[str, dict[str, Any]] = {
        "gpt-dp": {"epochs": epochs, "early_stopping": True, "dp_epsilon": DP_EPSILON},
        "gpt": {"epochs": epochs, "early_stopping": True},
        "gpt-duplicated": {
            "epochs": epochs,
            "early_stopping": True,
            "duplicate_fraction": DUPLICATE_FRACTION,
            "duplicate_times": DUPLICATE_TIMES,
        },
        "gpt-overtrained": {
            "epochs": OVERTRAINING_FACTOR * epochs,
            "early_stopping": False,
            "dropout": 0.0,
        },
    }
    return arguments[rung]


def birth_year_split(cohort: Cohort, non_member_share: float = SHIFTED_NON_MEMBER_SHARE) -> Cohort:
    """Return the cohort re-split so that the latest-born patients are the non-members.

    The latest-born ``non_member_share`` of the patients become non-members;
    former non-members born earlier become members, and the tuning split keeps
    its earlier-born patients. Members and non-members then differ in birth
    year, a shift the split guard must flag. Patients without a birth time
    count as born first.
    """
    ordered = sorted(
        cohort.patients,
        key=lambda p: (p.birth_time if p.birth_time is not None else float("-inf"), p.subject_id),
    )
    count = round(non_member_share * len(ordered))
    latest = {patient.subject_id for patient in ordered[len(ordered) - count :]}

    patients = []
    for patient in cohort.patients:
        if patient.subject_id in latest:
            split = NON_MEMBER_SPLIT
        elif patient.split == NON_MEMBER_SPLIT:
            split = MEMBER_SPLIT
        else:
            split = patient.split
        patients.append(dataclasses.replace(patient, split=split))
    fingerprint = hashlib.sha256(f"{cohort.fingerprint}\nbirth-year-split".encode()).hexdigest()
    return Cohort(
        name=f"{cohort.name}-birth-year-split",
        patients=patients,
        fingerprint=f"sha256:{fingerprint}",
        source=cohort.source,
        metadata={**cohort.metadata, "split": "birth year"},
    )


def run_ladder(options: LadderOptions) -> LadderReport:
    """Train or reuse every selected rung, run the suite on each, and write the report.

    Raises ``LadderError`` for an unknown rung, and whatever ``run_suite`` and
    ``train_reference_gpt`` raise for bad specs, cohorts or settings.
    """
    from benchmark.data.loading import load_cohort
    from benchmark.data.training_set import suite_training_cohort
    from benchmark.models.training import DEFAULT_EPOCHS
    from benchmark.runner.run import RunOptions, run_suite
    from benchmark.runner.validity import write_chart, write_report
    from benchmark.specs.registry import SpecRegistry
    from benchmark.specs.resources import default_specs_dir

    started = time.perf_counter()
    rungs = check_rung_names(options.rungs)
    epochs = options.epochs if options.epochs is not None else DEFAULT_EPOCHS
    out_dir = options.out_dir

    # 1. The suite and the training set every trained rung shares.
    registry = SpecRegistry.load([default_specs_dir(), *options.extra_spec_dirs])
    suite = registry.resolve_suite(options.suite)
    cohort = load_cohort(options.cohort)
    training_cohort, _ = suite_training_cohort(cohort, suite)
    logger.info(
        "ladder on suite %s v%d (%s): %s", suite.spec.id, suite.spec.version, suite.digest,
        ", ".join(rungs),
    )  # fmt: skip

    # 2. Each rung: train or reuse the model, then run the suite on it.
    run_options = RunOptions(
        cache_dir=out_dir / "cache",
        progress=options.progress,
        extra_spec_dirs=list(options.extra_spec_dirs),
    )
    results: dict[str, Result] = {}
    skipped: dict[str, str] = {}
    training: dict[str, dict[str, Any]] = {}
    for rung in rungs:
        arguments = rung_training(rung, epochs)
        model_id = rung
        if arguments is not None:
            model_dir = out_dir / "models" / rung
            reason = _train_or_reuse(training_cohort, model_dir, arguments, suite, options)
            if reason is not None:
                logger.warning("skipping rung %s: %s", rung, reason)
                skipped[rung] = reason
                continue
            training[rung] = _training_record(model_dir)
            model_id = f"hf:{model_dir}"
        logger.info("running suite %s on rung %s (%s)", options.suite, rung, model_id)
        results[rung] = run_suite(
            model_id, options.suite, options.cohort, out_dir / "results" / f"{rung}.json",
            run_options,
        )  # fmt: skip

    # 3. The checks, the split guard's included.
    checks = ladder_checks(
        results, suite.tiers, [attribute for attribute in suite.attributes if attribute.control]
    )
    if options.split_guard:
        checks.append(_split_guard_check(cohort, options, run_options))

    # 4. The report and the chart.
    report = LadderReport(
        suite_id=suite.spec.id,
        suite_version=suite.spec.version,
        suite_digest=suite.digest,
        results=results,
        skipped=skipped,
        training=training,
        checks=checks,
        wall_time_s=round(time.perf_counter() - started, 1),
    )
    controls = [attribute.id for attribute in suite.attributes if attribute.control]
    write_chart(report, out_dir / "validity.svg")
    write_report(report, out_dir / "validity.md", suite.tiers, controls, options.command_line)
    for check in checks:
        logger.info("%s: %s", check.status, check.name)
    return report


def _train_or_reuse(
    training_cohort: Cohort,
    model_dir: Path,
    arguments: dict[str, Any],
    suite: Any,
    options: LadderOptions,
) -> str | None:
    """Train a rung's GPT into ``model_dir`` unless a model of its recipe is there.

    Return why the rung was skipped, or None. A model whose training record
    differs from the rung's recipe (its settings or the training set) is
    trained anew, so a changed recipe never reuses a stale model.
    """
    from benchmark.models.training import train_reference_gpt

    settings = {
        "seed": suite.spec.seed,
        "max_sequence_length": suite.spec.cohort.max_sequence_length,
        **arguments,
        **options.training_settings,
    }
    if (model_dir / "config.json").exists():
        differences = _recipe_differences(model_dir, settings, training_cohort)
        if not differences:
            logger.info("reusing the model in %s", model_dir)
            return None
        logger.warning(
            "training %s anew: the model there was trained with %s", model_dir,
            "; ".join(differences),
        )  # fmt: skip
    if arguments.get("dp_epsilon") is not None:
        try:
            import opacus  # noqa: F401
        except ImportError:
            return (
                "DP-SGD needs the opacus package, which is not installed "
                "(pip install 'clinmem[dp]')"
            )

    logger.info("training %s with %s", model_dir, settings)
    # The folder contains no model of this recipe, so it may be replaced.
    train_reference_gpt(
        training_cohort, model_dir, overwrite=True, progress=options.progress, **settings
    )
    return None


#: Recipe settings whose training record key differs from the argument name.
_RECORD_KEYS = {"dp_epsilon": "dp_target_epsilon"}


def _recipe_differences(
    model_dir: Path, settings: Mapping[str, Any], training_cohort: Cohort
) -> list[str]:
    """Return how the model in ``model_dir`` was trained unlike ``settings``, one line each.

    A folder without a training record (a model put there by hand) is reused
    as it is. Settings the record lacks take ``train_reference_gpt``'s
    defaults, which is what a model trained before they existed used.
    """
    import inspect

    from benchmark.models.training import train_reference_gpt

    try:
        record = _training_record(model_dir)
    except UnreadableRecordError as error:
        return [f"an unknown recipe ({error})"]
    if not record:
        return []
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(train_reference_gpt).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    trained = {**record.get("config", {}), "seed": record.get("seed")}
    differences = []
    for name, expected in settings.items():
        key = _RECORD_KEYS.get(name, name)
        used = trained[key] if key in trained else defaults.get(name)
        if used != expected:
            differences.append(f"{name}={used!r}, the rung needs {expected!r}")
    if record.get("cohort_fingerprint") != training_cohort.fingerprint:
        differences.append("another training set (its cohort fingerprint differs)")
    return differences


class UnreadableRecordError(ValueError):
    """Raised for a training record that exists but is not a JSON object."""


def _training_record(model_dir: Path) -> dict[str, Any]:
    """Return the model's ``clinmem_training.json``, or {} when the folder has none.

    Raises ``UnreadableRecordError`` when the file cannot be read as a JSON object.
    """
    from benchmark.models.training import TRAINING_RECORD

    path = model_dir / TRAINING_RECORD
    if not path.exists():
        logger.warning("%s has no %s; its training is not reported", model_dir, TRAINING_RECORD)
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnreadableRecordError(f"{path} cannot be read: {error}") from error
    if not isinstance(record, dict):
        raise UnreadableRecordError(f"{path} is not a JSON object")
    return record


def _split_guard_check(cohort: Cohort, options: LadderOptions, run_options: Any) -> Check:
    """Run ``population`` on the hash split and on a birth-year split; compare the guard."""
    from benchmark.data.jsonl import write_jsonl
    from benchmark.runner.run import run_suite

    folder = options.out_dir / "split-guard"
    logger.info(
        "split guard check: running population on suite %s with the hash split, then with a "
        "birth-year split that the guard should flag (its warning there is expected)",
        options.split_guard_suite,
    )
    hash_split = run_suite(
        "population", options.split_guard_suite, options.cohort, folder / "hash-split.json",
        run_options,
    )  # fmt: skip
    # The re-split cohort holds patient records, so it lives in a temporary folder
    # and never in the output.
    with tempfile.TemporaryDirectory(prefix="clinmem-split-guard-") as scratch:
        shifted_path = write_jsonl(birth_year_split(cohort), Path(scratch) / "shifted.jsonl")
        shifted_split = run_suite(
            "population", options.split_guard_suite, str(shifted_path),
            folder / "birth-year-split.json", run_options,
        )  # fmt: skip
    return check_split_guard(hash_split, shifted_split)
