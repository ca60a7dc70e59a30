"""The results a site is built from: the accepted files of a folder, by suite.

Every file goes through ``benchmark.leaderboard.validation`` first. Rejected
files are reported by name and left out, and files whose name contains
``.private.`` are never read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmark.leaderboard.slugs import unique_slugs
from benchmark.leaderboard.validation import FileReport, SuiteCatalog, validate_folder
from benchmark.results.models import Result


@dataclass(frozen=True)
class LoadedResult:
    """An accepted result file and the slug of its page."""

    path: Path
    result: Result
    #: Name of the result's page, ``results/<slug>.html``, derived from the file name.
    slug: str

    @property
    def display_name(self) -> str:
        """The submission's name, or the model id for results submitted without one."""
        submission = self.result.submission or {}
        return submission.get("name") or self.result.model.id


@dataclass(frozen=True)
class SuiteGroup:
    """Results that may be ranked together: same suite name, version and digest."""

    name: str
    version: int
    digest: str
    #: Ranked by risk index, lowest first; results without one come last.
    rows: list[LoadedResult]


@dataclass(frozen=True)
class Collection:
    """The accepted, rejected and private files of a results folder."""

    results: list[LoadedResult]
    rejected: list[FileReport]
    private_files: list[Path]

    def groups(self) -> list[SuiteGroup]:
        return group_by_suite(self.results)


def collect_results(folder: Path, catalog: SuiteCatalog) -> Collection:
    """Validate every result file of ``folder`` and keep the accepted ones."""
    report = validate_folder(folder, catalog)
    accepted = report.accepted
    slugs = unique_slugs(file.path.stem for file in accepted)
    results = [
        LoadedResult(file.path, file.result, slug)  # type: ignore[arg-type]
        for file, slug in zip(accepted, slugs, strict=True)
    ]
    return Collection(results, report.rejected, report.private_files)


def group_by_suite(results: list[LoadedResult]) -> list[SuiteGroup]:
    """Group results by suite name, version and digest, each group ranked by risk index."""
    members: dict[tuple[str, int, str], list[LoadedResult]] = defaultdict(list)
    for loaded in results:
        suite = loaded.result.suite
        members[(suite.name, suite.version, suite.digest)].append(loaded)
    return [
        SuiteGroup(name, version, digest, sorted(rows, key=rank_key))
        for (name, version, digest), rows in sorted(members.items())
    ]


def rank_key(loaded: LoadedResult) -> tuple[float, float, str]:
    """Order by risk index, then by the upper end of its interval, then by name."""
    risk = loaded.result.summary.risk_index
    value = math.inf if risk.value is None else risk.value
    upper = math.inf if risk.ci_high is None else risk.ci_high
    return (value, upper, loaded.display_name.casefold())
