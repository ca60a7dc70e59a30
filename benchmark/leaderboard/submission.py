"""Submissions: a validated result with its ``submission`` object, added to a results folder.

``clinmem submit`` reads a result written by ``clinmem run``, fills in who
submits it (name, URL, optional description and model card), checks the
outcome with every rule of ``clinmem leaderboard validate`` and writes it
atomically as ``<results dir>/<name>-<suite>-v<version>.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from benchmark.leaderboard.slugs import slugify
from benchmark.leaderboard.validation import (
    Problem,
    SuiteCatalog,
    duplicate_key,
    is_private,
    parse_result_json,
    result_files,
    validate_document,
)
from benchmark.results.models import Result
from benchmark.results.writer import write_json_atomically

logger = logging.getLogger(__name__)


class SubmissionError(Exception):
    """Raised when a result cannot be submitted; the message gives the reason and the fix."""


@dataclass(frozen=True)
class Submission:
    """Submitter details, as written into a result's ``submission`` object."""

    name: str
    url: str
    description: str | None = None
    model_card: str | None = None

    def as_dict(self) -> dict[str, str]:
        fields = {"name": self.name, "url": self.url}
        if self.description:
            fields["description"] = self.description
        if self.model_card:
            fields["model_card"] = self.model_card
        return fields


def prepare_submission(
    result_path: Path, submission: Submission, catalog: SuiteCatalog
) -> tuple[dict, Result]:
    """Return the result document with ``submission`` filled in, after validating it.

    Raises ``SubmissionError`` listing every problem validation finds.
    """
    if is_private(result_path):
        raise SubmissionError(
            f"{result_path} is named as a private file of per-patient detail, which is never "
            "submitted; submit the result JSON written by 'clinmem run --output'"
        )
    try:
        document, problems = parse_result_json(result_path.read_bytes())
    except ValueError as error:
        raise SubmissionError(f"{result_path}: {error}") from None
    if not isinstance(document, dict):
        raise SubmissionError(
            f"{result_path}: a result is a JSON object, not {type(document).__name__}"
        )

    document["submission"] = submission.as_dict()
    result = validate_document(document, catalog, problems)
    if problems or result is None:
        raise SubmissionError(_problem_list(result_path, problems))
    return document, result


def submission_file_name(result: Result, submission: Submission) -> str:
    """Return ``<name>-<suite>-v<version>.json``, every part a slug.

    Raises ``SubmissionError`` when the name has no letter or digit to build it from.
    """
    name = slugify(submission.name)
    if not name:
        raise SubmissionError(
            f"the name {submission.name!r} has no letter or digit to name the file after; "
            "give a name such as 'My model v2'"
        )
    return f"{name}-{slugify(result.suite.name) or 'suite'}-v{result.suite.version}.json"


def write_submission(
    document: dict, result: Result, path: Path, *, overwrite: bool = False
) -> None:
    """Write the submission to ``path`` atomically.

    Raises ``SubmissionError`` when ``path`` exists and ``overwrite`` is off, or
    when another file of the folder contains the same run.
    """
    if path.exists() and not overwrite:
        raise SubmissionError(
            f"{path} already exists; pass --overwrite to replace it, or choose another --name"
        )
    if path.parent.is_dir():
        other = _file_with_same_run(path.parent, result, exclude=path)
        if other is not None:
            raise SubmissionError(
                f"{other} already contains this run (same model digest, suite digest and cohort "
                "fingerprint); update that file instead of adding a second one"
            )
    write_json_atomically(document, path)
    logger.info("wrote submission %s", path)


def _file_with_same_run(folder: Path, result: Result, exclude: Path) -> Path | None:
    key = duplicate_key(result)
    files, _ = result_files(folder)
    for path in files:
        if path.resolve() == exclude.resolve():
            continue
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
            other_key = (
                existing["model"]["digest"],
                existing["suite"]["digest"],
                existing["cohort"]["fingerprint"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            # An unreadable neighbour is validate's to report, not a reason to refuse this one.
            continue
        if other_key == key:
            return path
    return None


def _problem_list(path: Path, problems: list[Problem]) -> str:
    lines = [f"{path} cannot be submitted:"]
    lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)
