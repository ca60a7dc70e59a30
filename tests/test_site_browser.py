"""The built site in a real headless Chromium: sorting, charts, escaping, screenshots.

Pages load from ``file://`` URLs, as a reader who downloads the site would
open them. The tests skip only when no Chromium binary is installed; CI
installs Debian's ``chromium`` package, so there they run. Screenshots of
the index and one result page go to ``test-artifacts/`` for review.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser.chromium import HeadlessChromium, find_chromium
from leaderboard_results import reference_results, write_document  # noqa: F401

from benchmark.leaderboard.build import build_site

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium binary found (install Debian's 'chromium' package or set CHROMIUM)",
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

HOSTILE_NAME = (
    "<script>window.pwned = 1; document.title = 'pwned'</script>"
    "<img src=x onerror=\"window.pwned = 2; document.title = 'pwned'\">"
)
HOSTILE_DESCRIPTION = '"><svg onload="window.pwned = 3; document.title = \'pwned\'">'
TABLE = "#suite-site-check-v1-table"
ROW_NAMES = (
    f"Array.from(document.querySelectorAll('{TABLE} tbody .model-name'), e => e.textContent)"
)


def _sort_state(page) -> dict:
    return page.evaluate(
        f"Object.fromEntries(Array.from(document.querySelectorAll('{TABLE} th[aria-sort]'),"
        " th => [th.dataset.label, th.getAttribute('aria-sort')]))"
    )


@pytest.fixture(scope="module")
def site(reference_results, tmp_path_factory) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("browser-site")
    reference_results.copy_to(folder / "results")
    build_site(folder / "results", folder / "site", extra_spec_dirs=[reference_results.specs_dir])
    return folder / "site"


@pytest.fixture(scope="module")
def hostile_site(reference_results, tmp_path_factory) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("hostile-site")
    document = reference_results.document("lookup")
    document["submission"] = {
        "name": HOSTILE_NAME,
        "url": "https://example.org/model",
        "description": HOSTILE_DESCRIPTION,
    }
    write_document(document, folder / "results" / "hostile.json")
    build_site(folder / "results", folder / "site", extra_spec_dirs=[reference_results.specs_dir])
    return folder / "site"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with HeadlessChromium.start(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


def test_sort_by_clicking_headers(site, browser):
    page = browser.new_page()
    page.open((site / "index.html").as_uri())

    initial = page.evaluate(ROW_NAMES)
    page.click(f"{TABLE} th[data-label='Risk index'] button")
    by_risk_descending = page.evaluate(ROW_NAMES)
    risk_state = _sort_state(page)
    page.click(f"{TABLE} th[data-label='Model'] button")
    by_name = page.evaluate(ROW_NAMES)
    name_state = _sort_state(page)

    assert initial == ["population", "lookup"]
    assert by_risk_descending == ["lookup", "population"]
    assert risk_state == {"Risk index": "descending"}
    assert by_name == ["lookup", "population"]
    assert name_state == {"Model": "ascending"}
    assert page.console_errors() == []


def test_sort_by_keyboard(site, browser):
    page = browser.new_page()
    page.open((site / "index.html").as_uri())

    page.evaluate(
        f"document.querySelector(\"{TABLE} th[data-label='Membership AUROC'] button\").focus()"
    )
    page.press_key("Enter", "Enter", 13)
    ascending = page.evaluate(ROW_NAMES)
    page.press_key(" ", "Space", 32)
    descending = page.evaluate(ROW_NAMES)

    assert ascending == ["population", "lookup"]
    assert descending == ["lookup", "population"]
    assert _sort_state(page) == {"Membership AUROC": "descending"}
    status = page.evaluate(
        f"document.querySelector('{TABLE}').parentElement.querySelector('.sort-status').textContent"
    )
    assert status == "Sorted by Membership AUROC, descending."


def test_result_page_charts_render(site, browser):
    page = browser.new_page()
    page.open((site / "results" / "lookup.html").as_uri())

    charts = page.evaluate(
        "Array.from(document.querySelectorAll('svg.chart'), svg => {"
        " const box = svg.getBoundingClientRect();"
        " return {id: svg.id, width: box.width, height: box.height,"
        " marks: svg.querySelectorAll('rect, polyline, polygon, circle, line').length,"
        " labels: svg.querySelectorAll('text').length}; })"
    )

    assert [chart["id"] for chart in charts] == [
        "chart-risk-by-tier",
        "chart-attribute-advantage",
        "chart-subgroups",
        "chart-roc",
    ]
    for chart in charts:
        assert chart["width"] > 300, chart
        assert chart["height"] > 150, chart
        assert chart["marks"] > 5, chart
        assert chart["labels"] > 5, chart
    assert page.console_errors() == []


def test_hostile_submission_stays_text(hostile_site, browser):
    titles = {
        "index.html": "clinmem leaderboard",
        "results/hostile.html": f"{HOSTILE_NAME} · clinmem leaderboard",
    }
    for name, title in titles.items():
        page = browser.new_page()
        page.open((hostile_site / name).as_uri())

        state = page.evaluate(
            "({pwned: typeof window.pwned, title: document.title,"
            " images: document.querySelectorAll('img').length,"
            " scripts: Array.from(document.scripts, s => s.getAttribute('src')),"
            " svgs: Array.from(document.querySelectorAll('svg'), s => s.id),"
            " text: document.body.innerText})"
        )

        assert state["pwned"] == "undefined", name
        assert state["title"] == title, name
        assert state["images"] == 0, name
        assert all(src and src.endswith("assets/sort.js") for src in state["scripts"]), name
        assert all(svg_id for svg_id in state["svgs"]), name
        assert HOSTILE_NAME in state["text"], name
    assert page.evaluate("document.querySelector('h1').textContent") == HOSTILE_NAME
    description = page.evaluate("document.querySelector('p.description').textContent")
    assert description == HOSTILE_DESCRIPTION


def test_screenshots_for_review(site, browser):
    shots = {"index.png": "index.html", "result-lookup.png": "results/lookup.html"}

    for file_name, page_name in shots.items():
        page = browser.new_page(width=1280, height=900)
        page.open((site / page_name).as_uri())
        page.screenshot(ARTIFACTS / file_name)

    for file_name in shots:
        data = (ARTIFACTS / file_name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 20_000
    manifest = {name: str((site / page).resolve()) for name, page in shots.items()}
    (ARTIFACTS / "screenshots.json").write_text(json.dumps(manifest, indent=1))
