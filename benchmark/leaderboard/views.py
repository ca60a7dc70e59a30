"""The contents of the site's pages: table columns, table rows and result pages.

The templates only lay these out. This module decides what each number means,
how many decimals it gets and which flags a reader must see.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.leaderboard.charts.scales import signed_minus
from benchmark.leaderboard.charts.scatter import ScatterPoint, privacy_utility_scatter
from benchmark.leaderboard.charts.svg import Chart
from benchmark.leaderboard.citation import result_bibtex, suite_bibtex
from benchmark.leaderboard.collection import LoadedResult, SuiteGroup
from benchmark.leaderboard.figures import Figure, result_figures
from benchmark.leaderboard.links import link_url
from benchmark.leaderboard.slugs import slugify
from benchmark.leaderboard.validation import SuiteCatalog
from benchmark.results.models import Interval, ProbeResult, Result, Summary
from benchmark.scoring.split_guard import SPLIT_SHIFT_FLAG


def summary_description(key: str) -> str:
    """Return the result format's description of a summary entry."""
    return Summary.model_fields[key].description or ""


@dataclass(frozen=True)
class Column:
    """A column of the leaderboard table."""

    key: str
    label: str
    unit: str = ""
    numeric: bool = True
    digits: int = 3
    signed: bool = False
    #: Whether a suspected split shift makes the column's numbers invalid.
    membership: bool = False

    @property
    def description(self) -> str:
        return summary_description(self.key) if self.key in Summary.model_fields else ""


COLUMNS = (
    Column("model", "Model", numeric=False),
    Column("risk_index", "Risk index", "0–100", digits=1),
    Column("membership_auroc", "Membership AUROC", "0.5 is chance", membership=True),
    Column("membership_tpr_at_1pct_fpr", "TPR at 1% FPR", "membership", membership=True),
    Column("attribute_member_advantage", "Attribute member advantage", "AUROC gap", signed=True),
    Column("canary_exposure", "Canary exposure", "bits", digits=2),
    Column("utility_loss", "Utility loss", "nats per code"),
    Column("utility_top10_accuracy", "Top-10 accuracy", "next code"),
    Column("date", "Date", "finished", numeric=False),
)


@dataclass(frozen=True)
class SummaryEntry:
    """One summary number as the result page shows it."""

    key: str
    label: str
    interval: Interval
    digits: int
    signed: bool

    @property
    def description(self) -> str:
        return summary_description(self.key)


#: Result-page label, decimals and sign display of every summary entry, in page order.
SUMMARY_FORMATS = {
    "risk_index": ("Risk index", 1, False),
    "risk_index_unweighted": ("Risk index, unweighted", 1, False),
    "membership_auroc": ("Membership AUROC", 3, False),
    "membership_tpr_at_1pct_fpr": ("Membership TPR at 1% FPR", 3, False),
    "attribute_member_advantage": ("Attribute member advantage", 3, True),
    "reconstruction_member_advantage": ("Reconstruction member advantage", 3, True),
    "canary_exposure": ("Canary exposure (bits)", 2, False),
    "utility_loss": ("Utility loss (nats per code)", 3, False),
    "utility_top10_accuracy": ("Top-10 next-code accuracy", 3, False),
    "split_guard_auroc": ("Split-guard AUROC", 3, False),
}
HEADLINE_KEYS = ("risk_index", "membership_auroc", "attribute_member_advantage", "utility_loss")


@dataclass(frozen=True)
class RowView:
    """A result as one row of the leaderboard table and as the head of its page."""

    loaded: LoadedResult
    rank: int
    name: str
    #: The submission's URL when it may be linked (http or https), else None.
    link: str | None
    split_shift: bool
    unavailable_probes: list[ProbeResult]
    other_flags: list[str]

    @property
    def result(self) -> Result:
        return self.loaded.result

    @property
    def slug(self) -> str:
        return self.loaded.slug


@dataclass(frozen=True)
class GroupView:
    """A suite version's section of the index page."""

    name: str
    #: The suite's descriptive name from its spec, e.g. 'clinmem smoke suite'.
    title: str | None
    version: int
    digest: str
    anchor: str
    rows: list[RowView]
    scatter: Chart
    #: Rows the scatter plot can show: those with a risk index and a utility loss.
    plotted: int
    bibtex: str


@dataclass(frozen=True)
class ResultPage:
    """The contents of one result's page."""

    row: RowView
    group: GroupView
    figures: list[Figure]
    bibtex: str

    @property
    def description(self) -> str | None:
        return (self.row.result.submission or {}).get("description")

    @property
    def model_card(self) -> str | None:
        return (self.row.result.submission or {}).get("model_card")

    @property
    def summary_entries(self) -> list[SummaryEntry]:
        summary = self.row.result.summary
        return [
            SummaryEntry(key, label, getattr(summary, key), digits, signed)
            for key, (label, digits, signed) in SUMMARY_FORMATS.items()
        ]

    @property
    def headline(self) -> list[SummaryEntry]:
        return [entry for entry in self.summary_entries if entry.key in HEADLINE_KEYS]

    @property
    def duration(self) -> str:
        seconds = self.row.result.provenance.duration_seconds
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    @staticmethod
    def request_text(counts: dict) -> str:
        """Describe one model method's request counts, e.g. '120 requested, 120 from cache'."""
        parts = []
        for name, value in counts.items():
            formatted = f"{value:.2f}" if isinstance(value, float) else str(value)
            parts.append(f"{formatted} {name.replace('_', ' ')}")
        return ", ".join(parts)


def group_view(group: SuiteGroup, catalog: SuiteCatalog) -> GroupView:
    """Return a suite version's section: ranked rows, scatter plot and citation."""
    rows = [row_view(loaded, rank) for rank, loaded in enumerate(group.rows, start=1)]
    points = [
        ScatterPoint(
            row.rank, row.name, row.result.summary.risk_index, row.result.summary.utility_loss
        )
        for row in rows
    ]
    anchor = f"suite-{slugify(group.name) or 'suite'}-v{group.version}"
    resolved = catalog.resolve(group.name)
    title = resolved.spec.name if resolved is not None else None
    return GroupView(
        name=group.name,
        title=title,
        version=group.version,
        digest=group.digest,
        anchor=anchor,
        rows=rows,
        scatter=privacy_utility_scatter(points, f"{anchor}-scatter"),
        plotted=sum(
            point.risk_index.value is not None and point.utility_loss.value is not None
            for point in points
        ),
        bibtex=suite_bibtex(group.name, group.version, group.digest, title=title),
    )


def row_view(loaded: LoadedResult, rank: int) -> RowView:
    """Return a result's row: display name, safe link and the flags a reader must see."""
    result = loaded.result
    submission = result.submission or {}
    probe_flags = {f"probe_{probe.status}:{probe.probe}" for probe in result.probes}
    return RowView(
        loaded=loaded,
        rank=rank,
        name=loaded.display_name,
        link=link_url(submission.get("url")),
        split_shift=SPLIT_SHIFT_FLAG in result.flags,
        unavailable_probes=[probe for probe in result.probes if probe.status != "ok"],
        other_flags=[
            flag for flag in result.flags if flag != SPLIT_SHIFT_FLAG and flag not in probe_flags
        ],
    )


def result_page(row: RowView, group: GroupView) -> ResultPage:
    """Return the contents of a result's page: figures and citations."""
    return ResultPage(
        row=row,
        group=group,
        figures=result_figures(row.result),
        bibtex=result_bibtex(row.result, row.slug),
    )


def format_number(value: float, digits: int = 3, signed: bool = False) -> str:
    """Format a number for the site: fixed decimals, a true minus sign, '+' when ``signed``.

    >>> format_number(-0.0123, 3, signed=True), format_number(0.5, 1)
    ('−0.012', '0.5')
    """
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if float(text) == 0:
        text = f"{0.0:.{digits}f}"
    return signed_minus(text)
