"""The site's downloads: every accepted result as one JSON list and one CSV table."""

from __future__ import annotations

import csv
import io
import json

from benchmark.leaderboard.collection import LoadedResult
from benchmark.results.models import Summary

#: Summary entries in CSV column order; each gives three columns: value, ci_low, ci_high.
SUMMARY_FIELDS = tuple(Summary.model_fields)

IDENTITY_COLUMNS = (
    "file",
    "page",
    "name",
    "url",
    "model_id",
    "model_digest",
    "suite",
    "suite_version",
    "suite_digest",
    "cohort",
    "cohort_fingerprint",
    "evaluated_members",
    "evaluated_non_members",
    "finished_at",
    "clinmem_version",
    "flags",
)

#: First characters that make a spreadsheet read a cell as a formula: those of
#: OWASP ASVS requirement 1.2.10 (4.0), plus the carriage return.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_columns() -> list[str]:
    """Return the header of ``results.csv``."""
    columns = list(IDENTITY_COLUMNS)
    for name in SUMMARY_FIELDS:
        columns += [name, f"{name}_ci_low", f"{name}_ci_high"]
    return columns


def results_json(results: list[LoadedResult]) -> str:
    """Return every result document as one JSON list, in the order given."""
    documents = [loaded.result.model_dump(mode="json") for loaded in results]
    return json.dumps(documents, indent=1, allow_nan=False) + "\n"


def results_csv(results: list[LoadedResult]) -> str:
    """Return one CSV row per result: its identity, then every summary interval.

    A text cell that a spreadsheet would run as a formula gets a leading
    apostrophe, as OWASP ASVS advises against CSV injection. Numbers are
    written as they are.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns())
    for loaded in results:
        writer.writerow(_row(loaded))
    return buffer.getvalue()


def _row(loaded: LoadedResult) -> list[object]:
    result = loaded.result
    submission = result.submission or {}
    identity = [
        loaded.path.name,
        f"results/{loaded.slug}.html",
        submission.get("name", ""),
        submission.get("url", ""),
        result.model.id,
        result.model.digest,
        result.suite.name,
        result.suite.version,
        result.suite.digest,
        result.cohort.name,
        result.cohort.fingerprint,
        result.cohort.evaluated_members,
        result.cohort.evaluated_non_members,
        result.provenance.finished_at,
        result.provenance.clinmem_version,
        ";".join(result.flags),
    ]
    row: list[object] = [_neutralize_formula(cell) for cell in identity]
    for name in SUMMARY_FIELDS:
        interval = getattr(result.summary, name)
        row += [_number(interval.value), _number(interval.ci_low), _number(interval.ci_high)]
    return row


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _neutralize_formula(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(_FORMULA_PREFIXES):
        return "'" + cell
    return cell
