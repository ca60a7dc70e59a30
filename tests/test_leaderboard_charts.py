"""The SVG charts: well-formed, escaped, and drawing what their data contains."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from leaderboard_results import reference_results  # noqa: F401

from benchmark.leaderboard.charts.heatmap import HeatmapCell, advantage_heatmap
from benchmark.leaderboard.charts.palette import VIRIDIS, text_colour_on, viridis
from benchmark.leaderboard.charts.roc import RocSeries, roc_chart, tpr_at
from benchmark.leaderboard.charts.scales import LogScale, nice_domain, tick_label, ticks
from benchmark.leaderboard.charts.scatter import ScatterPoint, privacy_utility_scatter
from benchmark.leaderboard.charts.subgroups import SubgroupBar, subgroup_chart
from benchmark.leaderboard.charts.tiers import TierPoint, tier_risk_chart
from benchmark.leaderboard.figures import result_figures
from benchmark.results.models import Interval, Result

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>&'


def _parse(chart) -> ElementTree.Element:
    return ElementTree.fromstring(str(chart.svg))


def _texts(root: ElementTree.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_real_result_figures_well_formed(reference_results):  # noqa: F811
    result = Result.model_validate(reference_results.document("lookup"))

    figures = result_figures(result)

    assert [figure.key for figure in figures] == [
        "risk-by-tier",
        "attribute-advantage",
        "subgroups",
        "roc",
    ]
    for figure in figures:
        root = _parse(figure.chart)
        assert root.get("role") == "img"
        assert root.find(f"{SVG}title").text
        assert root.find(f"{SVG}desc").text == figure.chart.summary
        assert figure.table_rows


def test_labels_are_escaped():
    bars = [SubgroupBar(HOSTILE, "value", 0.7, 0.6, 0.8)]

    chart = subgroup_chart(bars, "c", title="t", axis_label="a")

    assert "<script>" not in str(chart.svg)
    assert HOSTILE in _texts(_parse(chart))


def test_tier_chart_in_given_order():
    points = [
        TierPoint("none", "trivial", 0.0, 0.0, 0.0),
        TierPoint("demographics_first_10", "moderate", None, None, None),
        TierPoint("all_but_target", "serious", 38.9, 27.5, 50.0),
    ]

    chart = tier_risk_chart(points, "tiers")

    texts = _texts(_parse(chart))
    assert (
        texts.index("none") < texts.index("demographics_first_10") < texts.index("all_but_target")
    )
    assert "not computed" in texts
    assert "serious" in texts
    assert chart.summary == (
        "Risk index by attack tier, least known first: none (trivial): 0.0 [0.0, 0.0]; "
        "demographics_first_10 (moderate): not computed; all_but_target (serious): "
        "38.9 [27.5, 50.0]."
    )


def test_tier_label_split_when_too_wide():
    points = [TierPoint(f"demographics_first_{n}", "low", 1.0, 0.0, 2.0) for n in range(8)]

    texts = _texts(_parse(tier_risk_chart(points, "tiers")))

    assert texts.count("demographics_") == 8
    assert "first_7" in texts


def test_heatmap_marks_suppressed_and_missing_cells():
    cells = {
        ("hiv", "none"): HeatmapCell("value", 0.25, 0.1, 0.4),
        ("hiv", "half_history"): HeatmapCell("suppressed"),
        ("depression", "none"): HeatmapCell("not_estimable"),
    }

    chart = advantage_heatmap(["hiv", "depression"], ["none", "half_history"], cells, "h")

    root = _parse(chart)
    fills = [rect.get("fill") for rect in root.iter(f"{SVG}rect")]
    assert "url(#h-hatch)" in fills
    assert viridis(1.0) in fills
    texts = _texts(root)
    assert "suppressed" in texts
    assert "not estimable" in texts
    assert "not run" in texts
    assert "+0.250" in texts
    assert "the largest member advantage is +0.250 for hiv at tier none" in chart.summary


def test_roc_draws_zero_fpr_at_axis_edge():
    series = [RocSeries("loss", "AUROC 0.9", [(0.0, 0.4), (0.01, 0.6), (1.0, 1.0)])]

    chart = roc_chart(series, "roc")

    root = _parse(chart)
    lines = [p.get("points") for p in root.iter(f"{SVG}polyline")]
    curve = lines[-1].split()
    scale = LogScale((0.001, 1.0), (62, 460))
    assert curve[0].startswith(f"{scale(0.001):.1f},")
    assert {"0.001", "0.01", "0.1", "1"} <= set(_texts(root))
    assert "TPR 0.600 at FPR 0.01" in chart.summary


def test_tpr_at_unreached_fpr():
    assert tpr_at([(0.05, 0.3), (1.0, 1.0)], 0.01) is None
    assert tpr_at([(0.0, 0.1), (0.005, 0.2), (0.02, 0.5)], 0.01) == 0.2


def test_scatter_plots_only_complete_points():
    points = [
        ScatterPoint(1, "safe", Interval(value=1.0, ci_low=0.5, ci_high=2.0), Interval(value=2.1)),
        ScatterPoint(
            2, HOSTILE, Interval(value=30.0), Interval(value=1.8, ci_low=1.7, ci_high=1.9)
        ),
        ScatterPoint(3, "no utility", Interval(value=3.0), Interval(value=None)),
    ]

    chart = privacy_utility_scatter(points, "s")

    root = _parse(chart)
    assert len(list(root.iter(f"{SVG}circle"))) == 2
    titles = ["".join(t.itertext()) for g in root.iter(f"{SVG}g") for t in g.iter(f"{SVG}title")]
    assert titles == ["#1 safe", f"#2 {HOSTILE}"]
    assert (
        "Not plotted, for want of a risk index or a utility loss: #3 no utility." in chart.summary
    )


def test_scatter_without_points_says_so():
    chart = privacy_utility_scatter([], "s")

    assert chart.summary == "No results."
    assert "No result of this suite reports both" in "".join(_texts(_parse(chart)))


def test_viridis_endpoints_and_contrast():
    assert viridis(0.0) == VIRIDIS[0]
    assert viridis(1.0) == VIRIDIS[-1]
    assert viridis(-3) == VIRIDIS[0]
    assert text_colour_on(VIRIDIS[0]) == "#ffffff"
    assert text_colour_on(VIRIDIS[-1]) == "#000000"


def test_scale_ticks():
    assert nice_domain(0, 7.3) == (0.0, 8.0, 2.0)
    assert ticks(0.0, 1.0, 0.25) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [tick_label(v, 0.25) for v in (0.0, 0.25)] == ["0.00", "0.25"]
    assert tick_label(-0.5, 0.5) == "−0.5"
