"""Reading a folder of result files for the leaderboard.

Only files that validate against the result schema are used; a file that does
not is reported by name with its first errors and left out. Files whose name
marks them as private per-patient detail are never read.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmark.results.models import Result
from benchmark.results.schema import schema_errors

logger = logging.getLogger(__name__)

PRIVATE_MARKER = ".private."


@dataclass(frozen=True)
class LoadedResult:
    path: Path
    result: Result


@dataclass(frozen=True)
class RejectedFile:
    path: Path
    errors: list[str]


def read_results(directory: Path) -> tuple[list[LoadedResult], list[RejectedFile]]:
    """Return the valid results of a folder and the files rejected, with why."""
    loaded, rejected = [], []
    for path in sorted(directory.glob("*.json")):
        if PRIVATE_MARKER in path.name:
            logger.info("skipping private file %s", path)
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            rejected.append(RejectedFile(path, [f"not valid JSON: {error}"]))
            continue
        errors = schema_errors(document)
        if errors:
            rejected.append(RejectedFile(path, errors))
            continue
        loaded.append(LoadedResult(path, Result.model_validate(document)))
    return loaded, rejected


def group_by_suite(results: list[LoadedResult]) -> dict[tuple[str, int, str], list[LoadedResult]]:
    """Group results that may be ranked together: same suite name, version and digest."""
    groups: dict[tuple[str, int, str], list[LoadedResult]] = defaultdict(list)
    for loaded in results:
        suite = loaded.result.suite
        groups[(suite.name, suite.version, suite.digest)].append(loaded)
    return dict(groups)
