"""Building the static leaderboard site from a folder of result files.

The site is plain HTML with a local style sheet and one small local script
(column sorting); charts are inline SVG drawn at build time. It opens from
``file://`` and from any static host, fetches nothing at view time, and its
Content-Security-Policy allows only its own files. Jinja2 autoescaping is on
for every template, so every string from a result is shown as text.

Layout of the output folder::

    index.html                    one ranked table and scatter plot per suite version
    results/<slug>.html           one page per result, with <slug>.json beside it
    downloads/results.json        every result shown, as a JSON list
    downloads/results.csv         one row per result
    downloads/result.schema.json  the result JSON Schema
    assets/site.css, assets/sort.js
    .clinmem-site                 marks the folder as a site this builder may overwrite
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import benchmark
from benchmark.leaderboard.citation import build_time
from benchmark.leaderboard.collection import collect_results
from benchmark.leaderboard.downloads import results_csv, results_json
from benchmark.leaderboard.links import link_text
from benchmark.leaderboard.validation import FileReport, SuiteCatalog
from benchmark.leaderboard.views import (
    COLUMNS,
    GroupView,
    RowView,
    format_number,
    group_view,
    result_page,
)
from benchmark.results.schema import render_schema

logger = logging.getLogger(__name__)

ASSETS = ("site.css", "sort.js")
SITE_MARKER = ".clinmem-site"
#: Entries a site folder may hold; earlier builders wrote only index.html.
SITE_ENTRIES = frozenset({"index.html", "results", "downloads", "assets", SITE_MARKER})


class SiteFolderError(Exception):
    """Raised when the output folder contains files that are not a clinmem site."""


@dataclass(frozen=True)
class BuildReport:
    """Summary of a build: the index written, the results shown and the files left out."""

    index: Path
    #: Results shown on the site.
    results: int
    #: Files left out, each with the problems validation found.
    rejected: list[FileReport]
    #: Files named ``*.private.*``, never read.
    private_files: list[Path]


def build_site(
    results_dir: Path, out_dir: Path, *, extra_spec_dirs: list[Path] | None = None
) -> BuildReport:
    """Validate the results of ``results_dir`` and write the site into ``out_dir``.

    Rejected files are left out and listed in the report. Suites are those
    of the default spec folder and of ``extra_spec_dirs``. ``out_dir`` must
    be missing, empty, or a site this function built before; pages of
    results no longer in ``results_dir`` are removed from it.
    """
    _claim_output_folder(out_dir)
    catalog = SuiteCatalog.load(extra_spec_dirs or [])
    collection = collect_results(results_dir, catalog)
    for report in collection.rejected:
        reasons = "; ".join(str(problem) for problem in report.problems[:3])
        logger.warning("left out %s: %s", report.path, reasons)

    environment = _environment()
    groups = [group_view(group, catalog) for group in collection.groups()]
    context = {
        "clinmem_version": benchmark.__version__,
        "built_on": build_time().date().isoformat(),
        "columns": COLUMNS,
    }

    index = out_dir / "index.html"
    page = environment.get_template("index.html.j2").render(root="", groups=groups, **context)
    index.write_text(page, encoding="utf-8")

    pages_dir = out_dir / "results"
    pages_dir.mkdir(exist_ok=True)
    written = set()
    for group in groups:
        for row in group.rows:
            written |= _write_result_page(environment, pages_dir, row, group, context)
    _remove_stale_pages(pages_dir, written)

    published = [row.loaded for group in groups for row in group.rows]
    _write_downloads(out_dir / "downloads", published)
    _copy_assets(out_dir / "assets")
    logger.info("wrote %s with %d results", index, len(published))
    return BuildReport(index, len(published), collection.rejected, collection.private_files)


def _claim_output_folder(out_dir: Path) -> None:
    marker = out_dir / SITE_MARKER
    if out_dir.exists() and not out_dir.is_dir():
        raise SiteFolderError(f"{out_dir} is a file; give a folder for the site")
    entries = {path.name for path in out_dir.iterdir()} if out_dir.is_dir() else set()
    if not marker.exists() and not entries <= SITE_ENTRIES:
        raise SiteFolderError(
            f"{out_dir} already contains files that are not a clinmem site; give a new or empty "
            f"folder (a folder the builder wrote carries a {SITE_MARKER} file)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("A clinmem leaderboard site; 'clinmem leaderboard build' rewrites it.\n")


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("benchmark.leaderboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = format_number
    environment.filters["link_text"] = link_text
    return environment


def _write_result_page(
    environment: Environment, folder: Path, row: RowView, group: GroupView, context: dict
) -> set[str]:
    page = result_page(row, group)
    html = environment.get_template("result.html.j2").render(root="../", page=page, **context)
    (folder / f"{row.slug}.html").write_text(html, encoding="utf-8")
    document = json.dumps(row.result.model_dump(mode="json"), indent=1, allow_nan=False)
    (folder / f"{row.slug}.json").write_text(document + "\n", encoding="utf-8")
    return {f"{row.slug}.html", f"{row.slug}.json"}


def _remove_stale_pages(folder: Path, written: set[str]) -> None:
    for path in folder.iterdir():
        if path.suffix in (".html", ".json") and path.name not in written:
            logger.info("removing %s: its result is no longer in the results folder", path)
            path.unlink()


def _write_downloads(folder: Path, results) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "results.json").write_text(results_json(results), encoding="utf-8")
    (folder / "results.csv").write_text(results_csv(results), encoding="utf-8")
    (folder / "result.schema.json").write_text(render_schema(), encoding="utf-8")


def _copy_assets(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    templates = resources.files("benchmark.leaderboard") / "templates"
    for name in ASSETS:
        (folder / name).write_bytes((templates / name).read_bytes())
