"""The validity checks of the known-answer ladder, and the report they go into.

Each check takes result documents of ladder rungs and returns a ``Check``: a
name, PASS / FAIL / SKIP and the numbers behind the verdict. A check is
skipped, never failed, when a rung it needs is not in the run. Thresholds are
module constants so that ``docs/validity.md`` and the code name the same
numbers.

Interval comparisons use the bootstrap intervals of the results: "above"
means the lower bound of one interval exceeds the upper bound of the other,
and two estimates whose intervals overlap count as tied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from benchmark.results.models import Interval, Metric, Result
from benchmark.scoring.split_guard import SPLIT_SHIFT_FLAG
from benchmark.specs.models import AttributeSpec, TierSpec

if TYPE_CHECKING:
    from benchmark.runner.ladder import LadderReport

#: Ladder rungs from least to most memorization by construction, with what each memorizes.
RUNG_MEMORIZATION: dict[str, str] = {
    "population": "none",
    "gpt-dp": "bounded",
    "gpt": "some",
    "gpt-duplicated": "more, on the duplicated",
    "gpt-overtrained": "much",
    "lookup": "total",
}
LADDER_ORDER: tuple[str, ...] = tuple(RUNG_MEMORIZATION)
GPT_RUNGS: tuple[str, ...] = ("gpt-dp", "gpt", "gpt-duplicated", "gpt-overtrained")

#: An unmemorized canary lands at a uniformly random rank among the references,
#: an expected exposure of about log2(e) = 1.44 bits; below this counts as near zero.
NEAR_ZERO_EXPOSURE_BITS = 3.0
#: Attribute-inference AUROC that counts as "high" for the generalization control.
CONTROL_MIN_AUROC = 0.8

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Check:
    """One validity check: its verdict, one sentence on what it tests, and the numbers."""

    name: str
    status: Status
    explanation: str
    evidence: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def _above(high: Interval, low: Interval) -> bool:
    """Return whether ``high``'s interval lies wholly above ``low``'s."""
    if high.ci_low is None or low.ci_high is None:
        return False
    return high.ci_low > low.ci_high


def _skip(name: str, explanation: str, missing: Sequence[str]) -> Check:
    return Check(name, "SKIP", explanation, [f"rungs not in this run: {', '.join(missing)}"])


def _missing(results: Mapping[str, Result], rungs: Sequence[str]) -> list[str]:
    return [rung for rung in rungs if rung not in results]


def check_risk_index_order(results: Mapping[str, Result]) -> Check:
    """Check that the risk index never ranks a rung above a rung that memorizes more.

    A pair in the wrong order passes only when the two intervals overlap.
    """
    name = "risk index follows the ladder order"
    explanation = (
        "For every pair of rungs, the rung that memorizes more by construction has the "
        "higher risk index, or the two intervals overlap."
    )
    present = [rung for rung in LADDER_ORDER if rung in results]
    if len(present) < 2:
        return _skip(name, explanation, _missing(results, LADDER_ORDER))

    evidence = [f"{rung}: {results[rung].summary.risk_index.formatted(2)}" for rung in present]
    violations = []
    for index, lower in enumerate(present):
        for higher in present[index + 1 :]:
            low_estimate = results[lower].summary.risk_index
            high_estimate = results[higher].summary.risk_index
            if low_estimate.value is None or high_estimate.value is None:
                violations.append(f"{lower} or {higher} has no risk index")
            elif _above(low_estimate, high_estimate):
                violations.append(f"{lower} lies above {higher} with disjoint intervals")
    evidence.extend(violations)
    return Check(name, "FAIL" if violations else "PASS", explanation, evidence)


def check_lookup_separated(results: Mapping[str, Result]) -> Check:
    """Check that ``lookup``'s risk index interval lies above every GPT rung's."""
    name = "lookup lies above every GPT"
    explanation = "The lookup model's risk index interval lies wholly above each GPT's."
    gpts = [rung for rung in GPT_RUNGS if rung in results]
    if "lookup" not in results or not gpts:
        return _skip(name, explanation, _missing(results, ("lookup", *GPT_RUNGS)))

    lookup = results["lookup"].summary.risk_index
    evidence = [f"lookup: {lookup.formatted(2)}"]
    failures = []
    for rung in gpts:
        estimate = results[rung].summary.risk_index
        evidence.append(f"{rung}: {estimate.formatted(2)}")
        if not _above(lookup, estimate):
            failures.append(rung)
    if failures:
        evidence.append(f"intervals overlap with: {', '.join(failures)}")
    return Check(name, "FAIL" if failures else "PASS", explanation, evidence)


def check_population_separated(results: Mapping[str, Result]) -> Check:
    """Check that the overtrained GPT's risk index interval lies above ``population``'s.

    The DP, early-stopped and duplicated GPTs may memorize too little for any
    attack to see, so their overlap with ``population`` is reported, not failed.
    """
    name = "population lies below the overtrained GPT"
    explanation = (
        "The population model's risk index interval lies wholly below the overtrained "
        "GPT's; overlaps with the other GPTs are listed for information."
    )
    if "population" not in results or "gpt-overtrained" not in results:
        return _skip(name, explanation, _missing(results, ("population", "gpt-overtrained")))

    population = results["population"].summary.risk_index
    evidence = [f"population: {population.formatted(2)}"]
    for rung in GPT_RUNGS:
        if rung in results:
            estimate = results[rung].summary.risk_index
            relation = "above" if _above(estimate, population) else "overlaps"
            evidence.append(f"{rung}: {estimate.formatted(2)} ({relation})")
    passed = _above(results["gpt-overtrained"].summary.risk_index, population)
    return Check(name, "PASS" if passed else "FAIL", explanation, evidence)


def canary_exposures(result: Result) -> list[Metric]:
    """Return the canary probe's exposure metrics, one per repetition count, in count order."""
    for probe in result.probes:
        if probe.probe == "canary" and probe.status == "ok":
            metrics = [m for m in probe.metrics if m.repetitions is not None]
            return sorted(metrics, key=lambda m: m.repetitions or 0)
    return []


def check_canary_exposure_rises(results: Mapping[str, Result], rung: str) -> Check:
    """Check that exposure grows with the repetition count on a memorizing rung.

    Rule: the interval at the highest count lies wholly above the interval at
    the lowest count. The Spearman correlation of mean exposure with the count
    is reported beside it.
    """
    name = f"canary exposure rises with repetitions on {rung}"
    explanation = (
        "The exposure interval of the canaries inserted most often lies wholly above that "
        "of the canaries inserted once."
    )
    if rung not in results:
        return _skip(name, explanation, [rung])
    metrics = [m for m in canary_exposures(results[rung]) if m.value is not None]
    if len(metrics) < 2:
        return Check(name, "FAIL", explanation, ["the result has fewer than two exposure cells"])

    from scipy.stats import spearmanr

    evidence = [f"{m.repetitions}x: {m.formatted(2)} bits" for m in metrics]
    correlation = spearmanr([m.repetitions for m in metrics], [m.value for m in metrics])
    evidence.append(f"Spearman correlation with the count: {correlation.statistic:.2f}")
    passed = _above(metrics[-1], metrics[0])
    return Check(name, "PASS" if passed else "FAIL", explanation, evidence)


def check_canary_exposure_near_zero(
    results: Mapping[str, Result], rung: str, max_repetitions: int | None = None
) -> Check:
    """Check that no checked repetition count shows exposure above the near-zero threshold.

    A count passes when its interval's lower bound is below the threshold. With
    5 canaries per count, one canary that happens to rank high among the
    references can lift the mean above 3 bits. The point estimate alone would
    then fail a model that memorizes nothing, by chance.
    ``max_repetitions`` limits the check to canaries inserted at most that many
    times; the other counts are listed.
    """
    name = f"canary exposure near zero on {rung}"
    if max_repetitions is None:
        counts = "every repetition count"
    elif max_repetitions == 1:
        counts = "canaries inserted once"
    else:
        counts = f"canaries inserted at most {max_repetitions} times"
    explanation = (
        f"For {counts}, the exposure interval does not lie above {NEAR_ZERO_EXPOSURE_BITS:g} "
        "bits (an unmemorized canary's expected exposure is about 1.44 bits)."
    )
    if rung not in results:
        return _skip(name, explanation, [rung])
    metrics = [m for m in canary_exposures(results[rung]) if m.value is not None]
    checked = [m for m in metrics if max_repetitions is None or m.repetitions <= max_repetitions]
    if not checked:
        return Check(name, "FAIL", explanation, ["the result has no exposure cell"])

    evidence = [
        f"{m.repetitions}x: {m.formatted(2)} bits" + ("" if m in checked else " (not checked)")
        for m in metrics
    ]
    passed = all(
        (m.ci_low if m.ci_low is not None else m.value) < NEAR_ZERO_EXPOSURE_BITS for m in checked
    )
    return Check(name, "PASS" if passed else "FAIL", explanation, evidence)


def patient_specific_tiers(tiers: Sequence[TierSpec]) -> list[str]:
    """Return the ids of the tiers that reveal some of the patient's own events, in order."""
    return [tier.id for tier in tiers if tier.reveals.history != "none"]


def check_leakage_rises_with_tier(
    results: Mapping[str, Result], rung: str, tiers: Sequence[TierSpec]
) -> Check:
    """Check that the risk index by tier never falls from one patient-specific tier to the next.

    A fall passes only when the two tiers' intervals overlap.
    """
    name = f"leakage rises with attacker tier on {rung}"
    explanation = (
        "From the least-known tier that reveals some of the patient's events upward, the "
        "risk index by tier does not fall, or the intervals of the two tiers overlap."
    )
    if rung not in results:
        return _skip(name, explanation, [rung])
    by_tier = {entry.tier: entry.risk_index for entry in results[rung].risk_by_tier}
    ordered = [tier for tier in patient_specific_tiers(tiers) if tier in by_tier]
    if len(ordered) < 2:
        return Check(name, "SKIP", explanation, ["fewer than two tiers reveal patient events"])

    evidence = [f"{tier}: {by_tier[tier].formatted(2)}" for tier in ordered]
    falls = []
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        if by_tier[lower].value is None or by_tier[higher].value is None:
            falls.append(f"{lower} or {higher} has no risk index")
        elif _above(by_tier[lower], by_tier[higher]):
            falls.append(f"{lower} lies above {higher} with disjoint intervals")
    evidence.extend(falls)
    return Check(name, "FAIL" if falls else "PASS", explanation, evidence)


def _attribute_metric(result: Result, name: str, tier: str, attribute: str) -> Metric | None:
    for probe in result.probes:
        if probe.probe != "attribute_inference" or probe.status != "ok":
            continue
        for metric in probe.headline_metrics():
            if (
                metric.name == name
                and metric.tier == tier
                and metric.attribute == attribute
                and metric.subgroup == "all"
            ):
                return metric
    return None


def check_generalization_control(
    results: Mapping[str, Result],
    rung: str,
    controls: Sequence[AttributeSpec],
    tiers: Sequence[TierSpec],
) -> Check:
    """Check that a generalizing model infers each control attribute for anyone, members or not.

    At the most-known tier, the control's attribute-inference AUROC is at
    least ``CONTROL_MIN_AUROC`` on members and on non-members, and the
    member-advantage interval contains 0.
    """
    name = f"generalization control on {rung}"
    explanation = (
        f"At the most-known tier, each control attribute's AUROC is at least "
        f"{CONTROL_MIN_AUROC:g} on members and on non-members, and its member-advantage "
        "interval contains 0."
    )
    if rung not in results:
        return _skip(name, explanation, [rung])
    if not controls:
        return Check(name, "SKIP", explanation, ["the suite has no control attribute"])

    tier = tiers[-1].id
    evidence, passed, unestimable = [], True, 0
    for control in controls:
        members = _attribute_metric(results[rung], "auroc_members", tier, control.id)
        non_members = _attribute_metric(results[rung], "auroc_non_members", tier, control.id)
        advantage = _attribute_metric(results[rung], "member_advantage", tier, control.id)
        if members is None or non_members is None or advantage is None:
            evidence.append(f"{control.id} at {tier}: no attribute-inference cell")
            passed = False
            continue
        if advantage.value is None:
            # A suppressed or not estimable cell can neither pass nor fail the check.
            evidence.append(f"{control.id} at {tier}: {advantage.note or 'not estimable'}")
            unestimable += 1
            continue
        evidence.append(
            f"{control.id} at {tier}: AUROC members {members.formatted(3)}, non-members "
            f"{non_members.formatted(3)}, member advantage {advantage.formatted(3)}"
        )
        high = all(
            m.value is not None and m.value >= CONTROL_MIN_AUROC for m in (members, non_members)
        )
        contains_zero = (
            advantage.ci_low is not None
            and advantage.ci_high is not None
            and advantage.ci_low <= 0 <= advantage.ci_high
        )
        passed = passed and high and contains_zero
    if unestimable == len(controls):
        return Check(name, "SKIP", explanation, evidence)
    return Check(name, "PASS" if passed else "FAIL", explanation, evidence)


def check_split_guard(hash_split: Result, shifted_split: Result) -> Check:
    """Check that the split guard flags a birth-year split and passes the hash split."""
    name = "split guard flags a shifted split"
    explanation = (
        "On the standard hash split the guard raises no flag; on a split whose non-members "
        f"are the latest-born patients it flags '{SPLIT_SHIFT_FLAG}' (interval above 0.5)."
    )
    hash_flagged = SPLIT_SHIFT_FLAG in hash_split.flags
    shifted_flagged = SPLIT_SHIFT_FLAG in shifted_split.flags
    evidence = [
        f"hash split: guard AUROC {hash_split.summary.split_guard_auroc.formatted(3)}, "
        f"{'flagged' if hash_flagged else 'not flagged'}",
        f"shifted split: guard AUROC {shifted_split.summary.split_guard_auroc.formatted(3)}, "
        f"{'flagged' if shifted_flagged else 'not flagged'}",
    ]
    passed = shifted_flagged and not hash_flagged
    return Check(name, "PASS" if passed else "FAIL", explanation, evidence)


def ladder_checks(
    results: Mapping[str, Result],
    tiers: Sequence[TierSpec],
    controls: Sequence[AttributeSpec],
) -> list[Check]:
    """Run every check that compares ladder rungs (all but the split guard)."""
    return [
        check_risk_index_order(results),
        check_lookup_separated(results),
        check_population_separated(results),
        check_canary_exposure_rises(results, "gpt-overtrained"),
        check_canary_exposure_near_zero(results, "population"),
        # DP-SGD bounds each training sequence at epsilon. Group privacy covers a canary
        # inserted r times only at about r * epsilon, so only single canaries count.
        check_canary_exposure_near_zero(results, "gpt-dp", max_repetitions=1),
        check_leakage_rises_with_tier(results, "lookup", tiers),
        check_leakage_rises_with_tier(results, "gpt-overtrained", tiers),
        check_generalization_control(results, "gpt", controls, tiers),
    ]


def mean_member_advantage_by_tier(
    result: Result, tier_ids: Sequence[str], controls: Sequence[str]
) -> dict[str, tuple[float, int] | None]:
    """Return per tier the unweighted mean member advantage and its number of attributes.

    Only cells on all patients count, and control attributes and suppressed or
    not estimable cells are left out. The mean has no interval, because a
    result keeps no bootstrap draws.
    """
    values: dict[str, list[float]] = {tier: [] for tier in tier_ids}
    for probe in result.probes:
        if probe.probe != "attribute_inference" or probe.status != "ok":
            continue
        for metric in probe.headline_metrics():
            if (
                metric.name == "member_advantage"
                and metric.subgroup == "all"
                and metric.value is not None
                and metric.tier in values
                and metric.attribute not in controls
            ):
                values[metric.tier].append(metric.value)
    return {
        tier: (sum(cell) / len(cell), len(cell)) if cell else None for tier, cell in values.items()
    }


def _training_summary(record: Mapping[str, Any]) -> str:
    if not record:
        return "—"
    parts = [f"{record['epochs_run']} epochs (kept {record['best_epoch']})"]
    parts.append(f"member loss {record['member_loss']:.3f}")
    if record.get("non_member_loss") is not None:
        parts.append(f"non-member loss {record['non_member_loss']:.3f}")
    if record.get("duplicated_members"):
        config = record.get("config", {})
        parts.append(f"{record['duplicated_members']} members x{config.get('duplicate_times')}")
    if record.get("dp_epsilon") is not None:
        parts.append(
            f"DP-SGD epsilon {record['dp_epsilon']:.2f} at delta {record['dp_delta']:.1e}, "
            f"noise multiplier {record['dp_noise_multiplier']:.2f}"
        )
    parts.append(f"{record['wall_time_s'] / 60:.1f} min")
    return ", ".join(parts)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def render_report(
    report: LadderReport,
    tiers: Sequence[TierSpec],
    controls: Sequence[str],
    command_line: str | None = None,
) -> str:
    """Render the ladder report as Markdown: the rungs' numbers, then every check."""
    rungs = [rung for rung in LADDER_ORDER if rung in report.results]
    tier_ids = [tier.id for tier in tiers]
    lines = [
        "# clinmem known-answer ladder",
        "",
        f"Suite `{report.suite_id}` v{report.suite_version}, digest `{report.suite_digest}`.",
    ]
    if rungs:
        first = report.results[rungs[0]]
        hardware = first.provenance.hardware
        lines.append(
            f"Cohort `{first.cohort.name}` ({first.cohort.evaluated_members} members and "
            f"{first.cohort.evaluated_non_members} non-members evaluated). Machine: "
            f"{hardware.get('cpu_count', '?')} CPU cores, device {hardware.get('device', '?')}, "
            f"clinmem {first.provenance.clinmem_version}."
        )
    lines.append(f"Wall time of the whole ladder: {report.wall_time_s / 60:.1f} min.")
    if command_line:
        lines += ["", "```", command_line, "```"]
    lines += ["", f"**Verdict: {report.verdict}.**", "", "![risk index per rung](validity.svg)", ""]

    lines += ["## Rungs", ""]
    rows = []
    for rung in rungs:
        summary = report.results[rung].summary
        rows.append(
            [
                f"`{rung}`",
                RUNG_MEMORIZATION[rung],
                summary.risk_index.formatted(2),
                summary.membership_auroc.formatted(3),
                summary.membership_tpr_at_1pct_fpr.formatted(3),
                summary.utility_loss.formatted(3),
                summary.utility_top10_accuracy.formatted(3),
            ]
        )
    header = [
        "rung", "memorization", "risk index", "membership AUROC", "TPR at 1% FPR",
        "utility loss (nats)", "top-10 accuracy",
    ]  # fmt: skip
    lines += _markdown_table(header, rows)
    for rung, reason in report.skipped.items():
        lines.append(f"\n`{rung}` was not run: {reason}.")

    lines += ["", "### Risk index by attack tier", ""]
    rows = []
    for rung in rungs:
        by_tier = {entry.tier: entry.risk_index for entry in report.results[rung].risk_by_tier}
        rows.append(
            [f"`{rung}`"] + [by_tier[t].formatted(2) if t in by_tier else "—" for t in tier_ids]
        )
    lines += _markdown_table(["rung", *tier_ids], rows)

    lines += [
        "",
        "### Attribute member advantage by attack tier",
        "",
        "Unweighted mean of AUROC on members minus AUROC on non-members over the "
        "non-control attributes with an estimable cell (their number in brackets).",
        "",
    ]
    rows = []
    for rung in rungs:
        means = mean_member_advantage_by_tier(report.results[rung], tier_ids, controls)
        rows.append(
            [f"`{rung}`"]
            + ["—" if means[t] is None else f"{means[t][0]:.3f} ({means[t][1]})" for t in tier_ids]
        )
    lines += _markdown_table(["rung", *tier_ids], rows)

    lines += ["", "### Canary exposure (bits) by repetition count", ""]
    counts = sorted(
        {m.repetitions for r in rungs for m in canary_exposures(report.results[r])} - {None}
    )
    rows = []
    for rung in rungs:
        cells = {m.repetitions: m for m in canary_exposures(report.results[rung])}
        rows.append([f"`{rung}`"] + [cells[c].formatted(2) if c in cells else "—" for c in counts])
    lines += _markdown_table(["rung", *[f"{c}x" for c in counts]], rows)

    if report.training:
        lines += ["", "### Training", ""]
        rows = [
            [f"`{rung}`", _training_summary(record)] for rung, record in report.training.items()
        ]
        lines += _markdown_table(["rung", "training"], rows)

    lines += ["", "## Checks", ""]
    for check in report.checks:
        lines.append(f"### {check.status}: {check.name}")
        lines += ["", check.explanation, ""]
        lines += [f"- {line}" for line in check.evidence]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    report: LadderReport,
    path: Path,
    tiers: Sequence[TierSpec],
    controls: Sequence[str],
    command_line: str | None = None,
) -> None:
    """Write ``render_report``'s Markdown to ``path``, replacing it atomically."""
    _write_atomically(path, render_report(report, tiers, controls, command_line))


def render_chart(report: LadderReport) -> str:
    """Render the risk index with its interval per rung, in ladder order, as SVG."""
    from benchmark.leaderboard.charts.palette import GRID, MUTED_TEXT, SERIES
    from benchmark.leaderboard.charts.scales import LinearScale, nice_domain, tick_label, ticks
    from benchmark.leaderboard.charts.svg import SvgCanvas

    rungs = [rung for rung in LADDER_ORDER if rung in report.results]
    estimates = [report.results[rung].summary.risk_index for rung in rungs]
    highest = max(
        [e.ci_high if e.ci_high is not None else (e.value or 0.0) for e in estimates] + [1.0]
    )
    low, high, step = nice_domain(0.0, highest)

    left, right, top, bottom, column = 56.0, 16.0, 16.0, 64.0, 96.0
    width = left + right + column * max(len(rungs), 1)
    height = 320.0
    y = LinearScale((low, high), (height - bottom, top))
    canvas = SvgCanvas(
        chart_id="ladder-risk-index",
        width=width,
        height=height,
        title=f"Risk index per ladder rung, suite {report.suite_id} v{report.suite_version}",
        description="; ".join(
            f"{rung}: {estimate.formatted(2)}"
            for rung, estimate in zip(rungs, estimates, strict=True)
        )
        or "no rung was run",
    )

    for tick in ticks(low, high, step):
        canvas.add("line", x1=left, x2=width - right, y1=y(tick), y2=y(tick), stroke=GRID)
        canvas.text(tick_label(tick, step), left - 6, y(tick) + 4, anchor="end")
    canvas.text(
        "risk index (0-100)", 14, (top + height - bottom) / 2, anchor="middle",
        transform=f"rotate(-90 14 {(top + height - bottom) / 2:.1f})", colour=MUTED_TEXT,
    )  # fmt: skip

    colour = SERIES[0]
    for index, (rung, estimate) in enumerate(zip(rungs, estimates, strict=True)):
        x = left + column * (index + 0.5)
        canvas.text(rung, x, height - bottom + 18, anchor="middle")
        canvas.text(RUNG_MEMORIZATION[rung].split(",")[0], x, height - bottom + 34,
                    anchor="middle", colour=MUTED_TEXT)  # fmt: skip
        if estimate.value is None:
            canvas.text("n/a", x, height - bottom - 6, anchor="middle", colour=MUTED_TEXT)
            continue
        if estimate.ci_low is not None and estimate.ci_high is not None:
            canvas.add("line", x1=x, x2=x, y1=y(estimate.ci_low), y2=y(estimate.ci_high),
                       stroke=colour, stroke_width=2)  # fmt: skip
            for bound in (estimate.ci_low, estimate.ci_high):
                canvas.add("line", x1=x - 8, x2=x + 8, y1=y(bound), y2=y(bound),
                           stroke=colour, stroke_width=2)  # fmt: skip
        canvas.add("circle", cx=x, cy=y(estimate.value), r=5, fill=colour)
    return str(canvas.render()) + "\n"


def write_chart(report: LadderReport, path: Path) -> None:
    """Write ``render_chart``'s SVG to ``path``, replacing it atomically."""
    _write_atomically(path, render_chart(report))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
