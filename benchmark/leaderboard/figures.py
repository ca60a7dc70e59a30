"""The figures of a result page, drawn from the result's aggregate numbers.

Each function picks the metrics one chart shows and hands them to its chart
module in ``benchmark.leaderboard.charts``. The page then shows the chart,
its text alternative and the same numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.leaderboard.charts.heatmap import HeatmapCell, advantage_heatmap
from benchmark.leaderboard.charts.roc import RocSeries, roc_chart
from benchmark.leaderboard.charts.subgroups import SubgroupBar, subgroup_chart
from benchmark.leaderboard.charts.svg import Chart
from benchmark.leaderboard.charts.tiers import TierPoint, tier_risk_chart
from benchmark.leaderboard.citation import format_interval_text
from benchmark.results.models import Metric, ProbeResult, Result

ALL_PATIENTS = "all"
#: The membership attack whose AUROC is the summary's headline.
HEADLINE_ATTACK = "loss"


@dataclass(frozen=True)
class Figure:
    """A chart with its heading and a table of the numbers it draws."""

    key: str
    heading: str
    explanation: str
    chart: Chart
    table_header: list[str]
    table_rows: list[list[str]]


def result_figures(result: Result) -> list[Figure]:
    """Return the figures a result has data for, in page order."""
    figures = [tier_figure(result), heatmap_figure(result), subgroup_figure(result)]
    figures.append(roc_figure(result))
    return [figure for figure in figures if figure is not None]


def tier_figure(result: Result) -> Figure | None:
    if not result.risk_by_tier:
        return None
    points = [
        TierPoint(
            tier.tier,
            tier.severity,
            tier.risk_index.value,
            tier.risk_index.ci_low,
            tier.risk_index.ci_high,
        )
        for tier in result.risk_by_tier
    ]
    rows = [
        [tier.tier, tier.severity, format_interval_text(tier.risk_index, digits=1)]
        for tier in result.risk_by_tier
    ]
    return Figure(
        "risk-by-tier",
        "Risk by attack tier",
        "The risk index restricted to each attack tier, from an attacker who knows nothing "
        "about the patient to one who knows the whole record but the target attribute. "
        "The band is the 95% bootstrap interval.",
        tier_risk_chart(points, "chart-risk-by-tier"),
        ["Tier", "Severity", "Risk index [95% interval]"],
        rows,
    )


def heatmap_figure(result: Result) -> Figure | None:
    metrics = [
        metric
        for metric in _probe_metrics(result, "attribute_inference")
        if metric.name == "member_advantage" and metric.subgroup == ALL_PATIENTS
    ]
    if not metrics:
        return None
    attributes = _ordered(metric.attribute for metric in metrics)
    tiers = _tier_order(result, metrics)
    cells = {(m.attribute or "", m.tier or ""): _heatmap_cell(m) for m in metrics}
    rows = [
        [m.attribute or "", m.tier or "", _cell_text(m)]
        for m in sorted(
            metrics, key=lambda m: (attributes.index(m.attribute or ""), tiers.index(m.tier or ""))
        )
    ]
    return Figure(
        "attribute-advantage",
        "Member advantage per sensitive attribute",
        "Attribute-inference AUROC on members minus the same on non-members, on all evaluated "
        "patients, for each sensitive attribute and attack tier. Above 0, the model reveals the "
        "attribute more for its training patients than it can infer for unseen ones. Cells of "
        "fewer than 11 patients are suppressed.",
        advantage_heatmap(attributes, tiers, cells, "chart-attribute-advantage"),
        ["Attribute", "Tier", "Member advantage [95% interval]"],
        rows,
    )


def subgroup_figure(result: Result) -> Figure | None:
    metrics = [
        metric
        for metric in _probe_metrics(result, "membership")
        if metric.name == "auroc" and metric.attack == HEADLINE_ATTACK
    ]
    if not metrics:
        return None
    bars = [_subgroup_bar(metric) for metric in metrics]
    rows = [[bar.subgroup, _cell_text(metric)] for bar, metric in zip(bars, metrics, strict=True)]
    return Figure(
        "subgroups",
        "Membership AUROC by subgroup",
        f"AUROC of the {HEADLINE_ATTACK} attack telling members from non-members, per subgroup, "
        "with 95% bootstrap intervals; 0.5 is chance. Patients with rare or unique records "
        "can be more exposed than the cohort as a whole.",
        subgroup_chart(
            bars,
            "chart-subgroups",
            title="Membership AUROC by subgroup",
            axis_label=f"membership AUROC ({HEADLINE_ATTACK} attack)",
        ),
        ["Subgroup", "AUROC [95% interval]"],
        rows,
    )


def roc_figure(result: Result) -> Figure | None:
    membership = _probe(result, "membership")
    if membership is None:
        return None
    curves = [curve for curve in membership.roc_curves if curve.subgroup == ALL_PATIENTS]
    if not curves:
        return None
    aurocs = {
        metric.attack: metric
        for metric in membership.metrics
        if metric.name == "auroc" and metric.subgroup == ALL_PATIENTS
    }
    series = []
    for curve in curves:
        auroc = aurocs.get(curve.attack)
        label = "AUROC " + (format_interval_text(auroc, digits=2) if auroc else "not reported")
        series.append(RocSeries(curve.attack, label, [tuple(point) for point in curve.points]))
    rows = [
        [metric.attack or "", f"{metric.fpr:g}", _cell_text(metric)]
        for metric in membership.metrics
        if metric.name == "tpr_at_fpr" and metric.subgroup == ALL_PATIENTS and metric.fpr
    ]
    return Figure(
        "roc",
        "ROC of the membership attacks",
        "True-positive rate against false-positive rate on all evaluated patients, with the "
        "false-positive rate on a log scale: the left end shows whether an attacker can name "
        "some members with near certainty. The dashed curve is chance.",
        roc_chart(series, "chart-roc"),
        ["Attack", "FPR", "TPR [95% interval]"],
        rows,
    )


def _probe(result: Result, name: str) -> ProbeResult | None:
    return next((probe for probe in result.probes if probe.probe == name), None)


def _probe_metrics(result: Result, name: str) -> list[Metric]:
    probe = _probe(result, name)
    # A probe with several attacks is drawn with its headline attack's metrics.
    return [] if probe is None or probe.status != "ok" else probe.headline_metrics()


def _ordered(values) -> list[str]:
    return list(dict.fromkeys(value or "" for value in values))


def _tier_order(result: Result, metrics: list[Metric]) -> list[str]:
    """Tiers in the result's order (least known first), then any others as they appear."""
    seen = _ordered(metric.tier for metric in metrics)
    known = [tier.tier for tier in result.risk_by_tier if tier.tier in seen]
    return known + [tier for tier in seen if tier not in known]


def _heatmap_cell(metric: Metric) -> HeatmapCell:
    if metric.suppressed:
        return HeatmapCell("suppressed")
    if metric.value is None:
        return HeatmapCell("not_estimable")
    return HeatmapCell("value", metric.value, metric.ci_low, metric.ci_high)


def _subgroup_bar(metric: Metric) -> SubgroupBar:
    if metric.suppressed:
        return SubgroupBar(metric.subgroup, "suppressed")
    if metric.value is None:
        return SubgroupBar(metric.subgroup, "not_estimable")
    return SubgroupBar(metric.subgroup, "value", metric.value, metric.ci_low, metric.ci_high)


def _cell_text(metric: Metric) -> str:
    if metric.suppressed:
        return "suppressed (n<11)"
    if metric.value is None:
        return metric.note or "not estimable"
    return format_interval_text(metric)
