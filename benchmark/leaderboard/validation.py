"""Validation of submitted result files: what a leaderboard accepts.

``clinmem leaderboard validate``, ``clinmem submit`` and the site builder all
apply these rules, so the site shows only what validation accepts. A file is
rejected when:

- it is not UTF-8 JSON, repeats a key in one object, or contains ``NaN``,
  ``Infinity`` or a number too large for a float;
- a key anywhere in it names patient-level data (``subject_id``,
  ``patient_id``, ``person_id``, ``codes``, ``sequence``, ``events``, or
  their plurals);
- it violates the result JSON Schema;
- a provenance field is missing or empty, a timestamp is not ISO 8601, or a
  digest is not ``sha256:`` and 64 hex digits;
- its suite name, version or digest is not that of a suite in the spec
  folders (by default the specs shipped with this clinmem);
- a metric publishes a count of 1 to 10 patients, a cell of 1 to 10 patients
  is not marked suppressed, or a suppressed cell still shows a value;
- its ``submission`` has an unknown field, no name, or a URL that is not
  ``http://`` or ``https://``;
- it repeats the model digest, suite digest and cohort fingerprint of another
  file of the folder;
- it is a symbolic link, or larger than ``MAX_RESULT_BYTES``.

Files whose name contains ``.private.`` hold per-patient detail for the
investigator and are never opened.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchmark.leaderboard.links import url_problem
from benchmark.results.models import Metric, Result
from benchmark.results.schema import schema_errors
from benchmark.scoring.suppression import MIN_CELL_SIZE, is_small_cell
from benchmark.specs.errors import choices_text, did_you_mean
from benchmark.specs.registry import ResolvedSuite, SpecRegistry

logger = logging.getLogger(__name__)

#: Files with this in their name are per-patient detail and are never read.
PRIVATE_MARKER = ".private."

#: Result files larger than this are rejected unread (about 20 times the
#: size of a standard-suite result).
MAX_RESULT_BYTES = 20 * 1024 * 1024

#: Keys that only patient-level data would use, compared case-insensitively.
PATIENT_LEVEL_KEYS = frozenset(
    {
        "subject_id",
        "subject_ids",
        "patient_id",
        "patient_ids",
        "person_id",
        "person_ids",
        "codes",
        "sequence",
        "sequences",
        "events",
    }
)

#: Fields a ``submission`` object may hold, with their maximum length in
#: characters; the URL's limit is ``benchmark.leaderboard.links.MAX_URL_LENGTH``.
SUBMISSION_FIELDS = {"name": 200, "url": None, "description": 5000, "model_card": 100_000}

DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Problem:
    """One reason a result file is rejected, at a location inside the document.

    ``location`` is the JSON path with ``/`` between keys and list indexes,
    e.g. ``probes/1/metrics/12/n_members``, or ``(document)`` for the whole file.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class FileReport:
    """The outcome of validating one result file."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    #: The parsed result; None when the file is not schema-valid.
    result: Result | None = None

    @property
    def accepted(self) -> bool:
        return self.result is not None and not self.problems


@dataclass
class FolderReport:
    """The outcome of validating every result file of a folder."""

    folder: Path
    files: list[FileReport]
    #: Files skipped unread because their name marks them private.
    private_files: list[Path]

    @property
    def accepted(self) -> list[FileReport]:
        return [report for report in self.files if report.accepted]

    @property
    def rejected(self) -> list[FileReport]:
        return [report for report in self.files if not report.accepted]


class NonFiniteNumber:
    """Stands in for a ``NaN``, ``Infinity`` or overflowing literal while parsing."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


class SuiteCatalog:
    """The suites a result may name, resolved from spec folders on first use."""

    def __init__(self, registry: SpecRegistry) -> None:
        self.registry = registry
        self._resolved: dict[str, ResolvedSuite] = {}

    @classmethod
    def load(cls, extra_spec_dirs: Sequence[Path] = ()) -> SuiteCatalog:
        """Load the default spec folder and ``extra_spec_dirs`` (raises ``SpecError``)."""
        from benchmark.specs.resources import default_specs_dir

        return cls(SpecRegistry.load([default_specs_dir(), *extra_spec_dirs]))

    def names(self) -> list[str]:
        return sorted(self.registry.suites)

    def resolve(self, name: str) -> ResolvedSuite | None:
        """Return the suite with id ``name``, or None when no spec folder has it."""
        if name not in self.registry.suites:
            return None
        if name not in self._resolved:
            self._resolved[name] = self.registry.resolve_suite(name)
        return self._resolved[name]


def is_private(path: Path) -> bool:
    """Return whether a file name marks per-patient detail, which is never read."""
    return PRIVATE_MARKER in path.name


def result_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Return the result files of ``folder`` (``*.json``, sorted) and the private ones skipped."""
    files, private = [], []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(".") or not path.is_file():
            continue
        if is_private(path):
            logger.info("skipping %s: files named '*%s*' are never read", path, PRIVATE_MARKER)
            private.append(path)
            continue
        files.append(path)
    return files, private


def validate_folder(folder: Path, catalog: SuiteCatalog) -> FolderReport:
    """Validate every result file of ``folder``, duplicates across files included."""
    paths, private = result_files(folder)
    reports = [validate_file(path, catalog) for path in paths]
    _mark_duplicates(reports)
    for report in reports:
        if report.problems:
            logger.warning("rejected %s: %s", report.path, report.problems[0])
    return FolderReport(folder, reports, private)


def validate_file(path: Path, catalog: SuiteCatalog) -> FileReport:
    """Validate one result file on its own (without the duplicate check)."""
    report = FileReport(path)
    if path.is_symlink():
        # A link could point a pull request's file at any file of the CI machine.
        report.problems.append(
            Problem("(document)", "the file is a symbolic link; add the result file itself")
        )
        return report
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        limit = MAX_RESULT_BYTES // (1024 * 1024)
        report.problems.append(
            Problem("(document)", f"the file is {size} bytes, over the limit of {limit} MiB")
        )
        return report
    try:
        document, problems = parse_result_json(path.read_bytes())
    except ValueError as error:
        report.problems.append(Problem("(document)", str(error)))
        return report
    report.problems.extend(problems)
    report.result = validate_document(document, catalog, report.problems)
    return report


def parse_result_json(data: bytes) -> tuple[object, list[Problem]]:
    """Parse strict JSON: return the document and a problem per non-finite number.

    Raises ``ValueError`` with the line and column of a syntax error, for
    text that is not UTF-8, and for a key repeated in one object.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start}); save the file as UTF-8") from None

    def finite_float(literal: str) -> float | NonFiniteNumber:
        number = float(literal)
        return number if math.isfinite(number) else NonFiniteNumber(literal)

    try:
        document = json.loads(
            text,
            parse_constant=NonFiniteNumber,
            parse_float=finite_float,
            object_pairs_hook=_object_without_repeated_keys,
        )
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None

    problems = []
    for location, literal in _non_finite_numbers(document, []):
        problems.append(
            Problem(
                location,
                f"{literal} is not a finite number; JSON results use null for a value "
                "that was not computed",
            )
        )
    if problems:
        document = _replace_non_finite(document)
    return document, problems


def validate_document(
    document: object, catalog: SuiteCatalog, problems: list[Problem]
) -> Result | None:
    """Append every problem of a parsed document to ``problems``; return the result.

    The semantic checks need the schema's shape, so they run only on a
    schema-valid document; the result is returned whenever the schema is met.
    """
    problems.extend(_patient_level_keys(document, []))

    schema_problems = [_schema_problem(text) for text in schema_errors(document)]
    if schema_problems:
        problems.extend(schema_problems)
        return None

    result = Result.model_validate(document)
    problems.extend(_provenance_problems(result))
    problems.extend(_suite_problems(result, catalog))
    problems.extend(_cohort_count_problems(result))
    problems.extend(_cell_problems(result))
    problems.extend(_submission_problems(result.submission))
    return result


def duplicate_key(result: Result) -> tuple[str, str, str]:
    """Return what identifies a run: model digest, suite digest, cohort fingerprint."""
    return (result.model.digest, result.suite.digest, result.cohort.fingerprint)


def _mark_duplicates(reports: list[FileReport]) -> None:
    first_with_key: dict[tuple[str, str, str], Path] = {}
    for report in reports:
        if report.result is None:
            continue
        key = duplicate_key(report.result)
        if key not in first_with_key:
            first_with_key[key] = report.path
            continue
        report.problems.append(
            Problem(
                "(document)",
                f"{report.path.name} and {first_with_key[key].name} hold the same run (model "
                "digest, suite digest and cohort fingerprint); keep one of the two files",
            )
        )


def _object_without_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    document: dict = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(
                f"the key {key!r} appears twice in one JSON object; keep one of the two"
            )
        document[key] = value
    return document


def _non_finite_numbers(value: object, path: list[str]) -> Iterator[tuple[str, str]]:
    if isinstance(value, NonFiniteNumber):
        yield _location(path), value.literal
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite_numbers(item, [*path, str(index)])


def _replace_non_finite(value: object) -> object:
    if isinstance(value, NonFiniteNumber):
        return None
    if isinstance(value, dict):
        return {key: _replace_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_non_finite(item) for item in value]
    return value


def _patient_level_keys(value: object, path: list[str]) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.lower() in PATIENT_LEVEL_KEYS:
                yield Problem(
                    _location([*path, key]),
                    f"the key {key!r} names patient-level data, which a published result "
                    "never contains; remove it",
                )
            yield from _patient_level_keys(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _patient_level_keys(item, [*path, str(index)])


def _schema_problem(text: str) -> Problem:
    location, _, message = text.partition(": ")
    if location == "provenance" and message.endswith("is a required property"):
        missing = message.split("'")[1] if "'" in message else message
        return Problem(
            f"provenance/{missing}",
            "missing; a result carries its full provenance (versions, hardware, times, "
            "seeds): rerun 'clinmem run' to produce it",
        )
    return Problem(location, f"{message} (result JSON Schema)")


def _provenance_problems(result: Result) -> Iterator[Problem]:
    provenance = result.provenance
    for name in ("clinmem_version", "python_version"):
        if not getattr(provenance, name).strip():
            yield Problem(f"provenance/{name}", "empty; give the version the run used")
    for name in ("library_versions", "hardware", "seeds", "requests"):
        if not getattr(provenance, name):
            yield Problem(f"provenance/{name}", "empty; the run records at least one entry")

    times = {}
    for name in ("started_at", "finished_at"):
        text = getattr(provenance, name)
        try:
            times[name] = datetime.fromisoformat(text)
        except ValueError:
            yield Problem(f"provenance/{name}", f"{text!r} is not an ISO 8601 date and time")
    if len(times) == 2:
        started, finished = times["started_at"], times["finished_at"]
        if (started.tzinfo is None) != (finished.tzinfo is None):
            yield Problem("provenance/finished_at", "give both times with a UTC offset")
        elif finished < started:
            yield Problem("provenance/finished_at", "is earlier than provenance/started_at")

    if provenance.duration_seconds < 0:
        yield Problem("provenance/duration_seconds", "is negative")
    if provenance.bootstrap_resamples < 1:
        yield Problem("provenance/bootstrap_resamples", "must be at least 1")
    if not 0 < provenance.confidence < 1:
        yield Problem("provenance/confidence", "must lie between 0 and 1, e.g. 0.95")

    digests = {
        "model/digest": result.model.digest,
        "suite/digest": result.suite.digest,
        "cohort/fingerprint": result.cohort.fingerprint,
    }
    for location, digest in digests.items():
        if not DIGEST_PATTERN.match(digest):
            yield Problem(location, f"{digest!r} is not 'sha256:' followed by 64 hex digits")


def _suite_problems(result: Result, catalog: SuiteCatalog) -> Iterator[Problem]:
    suite = result.suite
    resolved = catalog.resolve(suite.name)
    if resolved is None:
        names = catalog.names()
        yield Problem(
            "suite/name",
            f"unknown suite {suite.name!r}.{did_you_mean(suite.name, names)} "
            f"Known suites: {choices_text(names) or 'none'}.",
        )
        return
    if suite.version != resolved.spec.version:
        yield Problem(
            "suite/version",
            f"suite {suite.name!r} is at version {resolved.spec.version} in "
            f"{catalog.registry.source('suite', suite.name)}, not {suite.version}; rerun the "
            "model with the current suite",
        )
        return
    if suite.digest != resolved.digest:
        yield Problem(
            "suite/digest",
            f"{suite.digest} is not the digest of suite {suite.name!r} v{suite.version} "
            f"({resolved.digest}); the run used other specs than this clinmem's, so rerun it",
        )


def _cohort_count_problems(result: Result) -> Iterator[Problem]:
    for name in ("members", "non_members", "evaluated_members", "evaluated_non_members"):
        count = getattr(result.cohort, name)
        if is_small_cell(count):
            yield Problem(
                f"cohort/{name}",
                f"{count} patients is fewer than {MIN_CELL_SIZE}; a result of so few patients "
                "is patient-level data and cannot be published",
            )


def _cell_problems(result: Result) -> Iterator[Problem]:
    for probe_index, probe in enumerate(result.probes):
        for metric_index, metric in enumerate(probe.metrics):
            location = f"probes/{probe_index}/metrics/{metric_index}"
            yield from _metric_problems(metric, location)


def _metric_problems(metric: Metric, location: str) -> Iterator[Problem]:
    counts = {"n_members": metric.n_members, "n_non_members": metric.n_non_members}
    small = {name: count for name, count in counts.items() if count and is_small_cell(count)}

    if metric.suppressed:
        for name, count in small.items():
            yield Problem(
                f"{location}/{name}",
                f"a suppressed cell publishes its count ({count}); counts of 1 to "
                f"{MIN_CELL_SIZE - 1} patients are written as null",
            )
        published = [
            name for name in ("value", "ci_low", "ci_high") if getattr(metric, name) is not None
        ]
        if published:
            yield Problem(
                location,
                f"a suppressed cell shows {', '.join(published)}; a suppressed cell's value and "
                "interval are null",
            )
    elif small:
        described = ", ".join(f"{name} = {count}" for name, count in small.items())
        yield Problem(
            location,
            f"subgroup cell {metric.subgroup!r} has {described}, fewer than {MIN_CELL_SIZE} "
            "patients, but is not marked suppressed; set suppressed to true and the value, "
            "interval and counts to null",
        )


def _submission_problems(submission: dict[str, str] | None) -> Iterator[Problem]:
    if submission is None:
        return
    for key, text in submission.items():
        if key not in SUBMISSION_FIELDS:
            yield Problem(
                f"submission/{key}",
                f"unknown submission field; allowed: {', '.join(SUBMISSION_FIELDS)}",
            )
            continue
        limit = SUBMISSION_FIELDS[key]
        if limit is not None and len(text) > limit:
            yield Problem(f"submission/{key}", f"{len(text)} characters, over the limit of {limit}")
    if not submission.get("name", "").strip():
        yield Problem("submission/name", "missing; a submission names the model it shows")
    url = submission.get("url")
    if url is None:
        yield Problem("submission/url", "missing; a submission links to the model or paper")
    else:
        reason = url_problem(url)
        if reason is not None:
            yield Problem("submission/url", f"{url!r} is rejected: {reason}")


def _location(path: list[str]) -> str:
    return "/".join(path) or "(document)"
