"""The static site built from real result files: pages, escaping, links, downloads."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from leaderboard_results import reference_results, write_document  # noqa: F401

from benchmark.cli.leaderboard_commands import leaderboard_group
from benchmark.leaderboard.build import SITE_MARKER, SiteFolderError, build_site
from benchmark.leaderboard.collection import LoadedResult, group_by_suite
from benchmark.leaderboard.downloads import csv_columns
from benchmark.leaderboard.links import link_url
from benchmark.results.models import Result

SCRIPT_NAME = "<script>window.pwned = 1</script>Model"
IMAGE_NAME = '<img src=x onerror="window.pwned = 2">'
SVG_DESCRIPTION = '"><svg onload="window.pwned = 3">'


def _build(results: Path, site: Path, reference) -> None:
    build_site(results, site, extra_spec_dirs=[reference.specs_dir])


def _hostile(reference) -> dict:
    document = reference.document("lookup")
    document["submission"] = {
        "name": SCRIPT_NAME + IMAGE_NAME,
        "url": "https://example.org/model?a=1&b=<2>",
        "description": SVG_DESCRIPTION,
        "model_card": "# Card\n<script>window.pwned = 4</script>",
    }
    return document


def test_site_ranks_by_risk_index(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert index.index('href="results/population.html"') < index.index('href="results/lookup.html"')
    for name in ("population", "lookup"):
        assert (tmp_path / "site" / "results" / f"{name}.html").is_file()
        assert (tmp_path / "site" / "results" / f"{name}.json").is_file()
    assert (tmp_path / "site" / "assets" / "sort.js").is_file()
    assert (tmp_path / "site" / "assets" / "site.css").is_file()
    assert 'aria-sort="ascending"' in index


def test_pages_fetch_nothing_from_elsewhere(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    for page in [tmp_path / "site" / "index.html", *(tmp_path / "site" / "results").glob("*.html")]:
        html = page.read_text(encoding="utf-8")
        assert "default-src 'none'" in html
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in html
        assert "<script>" not in html
        assert " style=" not in html


def test_result_page_has_charts_and_citation(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results", "lookup")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    page = (tmp_path / "site" / "results" / "lookup.html").read_text(encoding="utf-8")
    for chart in (
        "chart-risk-by-tier",
        "chart-attribute-advantage",
        "chart-subgroups",
        "chart-roc",
    ):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart}"' in page
    assert "suppressed" in page
    assert "@misc{clinmem_site_check_v1_lookup," in page
    assert "Text alternative." in page
    document = reference_results.document("lookup")
    assert document["model"]["digest"] in page
    assert document["provenance"]["finished_at"] in page


def test_submitted_strings_escaped(reference_results, tmp_path):  # noqa: F811
    write_document(_hostile(reference_results), tmp_path / "results" / "hostile.json")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    for page in (tmp_path / "site" / "index.html", tmp_path / "site" / "results" / "hostile.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>window" not in html
        assert "<img src=x" not in html
        assert "<svg onload" not in html
        assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;Model" in html
    result_page = (tmp_path / "site" / "results" / "hostile.html").read_text(encoding="utf-8")
    assert "&#34;&gt;&lt;svg onload=&#34;window.pwned = 3&#34;&gt;" in result_page
    assert "&lt;script&gt;window.pwned = 4&lt;/script&gt;" in result_page


def test_only_http_urls_become_links(reference_results, tmp_path):  # noqa: F811
    write_document(_hostile(reference_results), tmp_path / "results" / "hostile.json")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    expected = (
        '<a href="https://example.org/model?a=1&amp;b=&lt;2&gt;" rel="nofollow noopener '
        'noreferrer" class="external">'
    )
    assert expected in html
    assert link_url("javascript:alert(1)") is None
    assert link_url("ftp://example.org/model") is None
    assert link_url("https://example.org/model") == "https://example.org/model"


def test_rejected_file_left_out(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results", "population")
    document = reference_results.document("lookup")
    document["submission"] = {"name": "Sneaky", "url": "javascript:alert(1)"}
    write_document(document, tmp_path / "results" / "sneaky.json")

    report = build_site(
        tmp_path / "results", tmp_path / "site", extra_spec_dirs=[reference_results.specs_dir]
    )

    assert report.results == 1
    assert [file.path.name for file in report.rejected] == ["sneaky.json"]
    assert "Sneaky" not in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert not (tmp_path / "site" / "results" / "sneaky.html").exists()


def test_private_files_not_built(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results", "population")
    write_document(reference_results.document("lookup"), tmp_path / "results" / "x.private.json")

    report = build_site(
        tmp_path / "results", tmp_path / "site", extra_spec_dirs=[reference_results.specs_dir]
    )

    assert report.results == 1
    assert report.private_files == [tmp_path / "results" / "x.private.json"]
    assert not (tmp_path / "site" / "results" / "x-private.html").exists()


def test_empty_results_folder(tmp_path):
    (tmp_path / "results").mkdir()

    report = build_site(tmp_path / "results", tmp_path / "site")

    assert report.results == 0
    assert "No results yet." in report.index.read_text(encoding="utf-8")
    downloads = tmp_path / "site" / "downloads"
    assert json.loads((downloads / "results.json").read_text()) == []
    assert (downloads / "results.csv").read_text().splitlines() == [",".join(csv_columns())]


def test_downloads_hold_every_result(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results")
    formula = reference_results.document("population")
    formula["submission"] = {"name": '=HYPERLINK("https://evil.example")', "url": "https://a.org"}
    write_document(formula, tmp_path / "results" / "population.json")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    downloads = tmp_path / "site" / "downloads"
    documents = json.loads((downloads / "results.json").read_text(encoding="utf-8"))
    assert [d["model"]["id"] for d in documents] == ["population", "lookup"]
    assert documents[1] == Result.model_validate(reference_results.document("lookup")).model_dump(
        mode="json"
    )
    rows = list(csv.DictReader(io.StringIO((downloads / "results.csv").read_text())))
    assert [row["model_id"] for row in rows] == ["population", "lookup"]
    lookup = reference_results.document("lookup")["summary"]["risk_index"]
    assert float(rows[1]["risk_index"]) == lookup["value"]
    assert float(rows[1]["risk_index_ci_low"]) == lookup["ci_low"]
    assert float(rows[1]["risk_index_ci_high"]) == lookup["ci_high"]
    assert rows[1]["utility_loss"] == ""
    assert rows[0]["name"] == '\'=HYPERLINK("https://evil.example")'
    assert rows[1]["page"] == "results/lookup.html"
    schema = json.loads((downloads / "result.schema.json").read_text())
    assert schema["title"] == "Result"


def test_split_shift_and_unavailable_probe_shown(reference_results, tmp_path):  # noqa: F811
    document = reference_results.document("population")
    document["flags"] = ["split_shift_suspected", "probe_not_applicable:reconstruction"]
    for probe in document["probes"]:
        if probe["probe"] == "reconstruction":
            probe.update(status="not_applicable", reason="the model cannot generate", metrics=[])
    write_document(document, tmp_path / "results" / "shifted.json")

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'Split shift suspected<span class="detail">membership numbers invalid</span>' in index
    # TPR at 1% FPR is not computed from 80 non-members, so only the AUROC cell has a mark.
    assert index.count("invalid: split shift") == 1
    assert "reconstruction: not applicable" in index
    page = (tmp_path / "site" / "results" / "shifted.html").read_text(encoding="utf-8")
    assert "Split shift suspected: membership numbers are invalid." in page
    assert "Probe reconstruction: not applicable." in page
    assert "the model cannot generate" in page


def test_suites_ranked_apart(reference_results, tmp_path):  # noqa: F811
    loaded = []
    for index, (name, digest) in enumerate(
        [("a", "sha256:1"), ("b", "sha256:2"), ("a", "sha256:3")]
    ):
        document = reference_results.document("population")
        document["suite"].update(name=name, digest=digest)
        loaded.append(
            LoadedResult(Path(f"{index}.json"), Result.model_validate(document), str(index))
        )

    groups = group_by_suite(loaded)

    assert [(g.name, g.digest, len(g.rows)) for g in groups] == [
        ("a", "sha256:1", 1),
        ("a", "sha256:3", 1),
        ("b", "sha256:2", 1),
    ]


def test_rebuild_removes_stale_pages(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results")
    _build(tmp_path / "results", tmp_path / "site", reference_results)
    (tmp_path / "results" / "lookup.json").unlink()

    _build(tmp_path / "results", tmp_path / "site", reference_results)

    assert sorted(p.name for p in (tmp_path / "site" / "results").iterdir()) == [
        "population.html",
        "population.json",
    ]
    assert (tmp_path / "site" / SITE_MARKER).is_file()


def test_refuses_foreign_output_folder(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("\\documentclass{article}")

    with pytest.raises(SiteFolderError, match="already contains files that are not a clinmem site"):
        build_site(tmp_path / "results", tmp_path / "home")

    assert (tmp_path / "home" / "thesis.tex").exists()


def test_reproducible_with_source_date_epoch(reference_results, tmp_path, monkeypatch):  # noqa: F811
    reference_results.copy_to(tmp_path / "results")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")

    _build(tmp_path / "results", tmp_path / "one", reference_results)
    _build(tmp_path / "results", tmp_path / "two", reference_results)

    for name in ("index.html", "results/lookup.html", "downloads/results.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert "on 2023-11-14." in (tmp_path / "one" / "index.html").read_text(encoding="utf-8")


def test_cli_build_lists_left_out_files(reference_results, tmp_path):  # noqa: F811
    reference_results.copy_to(tmp_path / "results", "population")
    (tmp_path / "results" / "broken.json").write_text("{", encoding="utf-8")
    arguments = [
        "build",
        str(tmp_path / "results"),
        "--out",
        str(tmp_path / "site"),
        "--specs",
        str(reference_results.specs_dir),
    ]

    relaxed = CliRunner().invoke(leaderboard_group, arguments)
    strict = CliRunner().invoke(leaderboard_group, [*arguments, "--strict"])

    assert relaxed.exit_code == 0, relaxed.output
    assert f"left out {tmp_path / 'results' / 'broken.json'}: (document): not valid JSON" in (
        relaxed.output
    )
    assert "(1 results)" in relaxed.output
    assert strict.exit_code == 1


def test_cli_build_foreign_folder_message(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")

    outcome = CliRunner().invoke(
        leaderboard_group, ["build", str(tmp_path / "results"), "--out", str(tmp_path / "out")]
    )

    assert outcome.exit_code == 1
    assert "already contains files that are not a clinmem site" in outcome.output
    assert "Traceback" not in outcome.output
