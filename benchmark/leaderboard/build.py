"""Building the static leaderboard site from a folder of results.

The site is plain HTML with inline CSS: it opens from ``file://`` and from any
static host and fetches nothing at view time. Every string from a result is
escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from benchmark.leaderboard.collection import group_by_suite, read_results
from benchmark.results.models import Interval

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    index: Path
    results: int
    rejected: list[tuple[Path, list[str]]]


def format_interval(interval: Interval, digits: int = 3) -> str:
    """Format a value with its interval, e.g. '0.712 [0.680, 0.745]'; '—' when missing."""
    if interval.value is None:
        return "—"
    text = f"{interval.value:.{digits}f}"
    if interval.ci_low is not None and interval.ci_high is not None:
        text += f" [{interval.ci_low:.{digits}f}, {interval.ci_high:.{digits}f}]"
    return text


def _sort_key(loaded) -> tuple[float, float]:
    summary = loaded.result.summary
    advantage = summary.attribute_member_advantage.value
    auroc = summary.membership_auroc.value
    return (
        math.inf if advantage is None else advantage,
        math.inf if auroc is None else abs(auroc - 0.5),
    )


def build_site(results_dir: Path, out_dir: Path) -> BuildReport:
    """Write ``index.html`` for every valid result of ``results_dir`` into ``out_dir``."""
    loaded, rejected = read_results(results_dir)
    for file in rejected:
        logger.warning("left out %s: %s", file.path, "; ".join(file.errors[:3]))

    groups = []
    for (name, version, digest), members in sorted(group_by_suite(loaded).items()):
        groups.append(
            {
                "name": name,
                "version": version,
                "digest": digest,
                "rows": sorted(members, key=_sort_key),
            }
        )

    environment = Environment(
        loader=PackageLoader("benchmark.leaderboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    environment.filters["interval"] = format_interval
    page = environment.get_template("index.html.j2").render(groups=groups)

    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return BuildReport(index, len(loaded), [(f.path, f.errors) for f in rejected])
